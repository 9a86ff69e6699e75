"""`huddle fork ID --at SEQ`: a new session linked to its parent, the same up to SEQ and live
from there, with an edited plan, reply or task; the parent is never changed, and a fork that
cannot be made is one line, with nothing changed."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sessions.migrations import SCHEMA_VERSION
from tests.tui.test_resume_cli import events, one_line, rows
from tui import cli

RUN = ["run", "--headless", "--seed", "3", "--speed", "0", "--approve", "approve", "Design a rate limiter"]
SHORTER = {
    "steps": [
        {"id": "s1", "title": "Research", "instructions": "Survey rate limiting.", "assigned_to": "researcher", "depends_on": []},
        {"id": "s2", "title": "Build", "instructions": "Implement it.", "assigned_to": "coder", "depends_on": ["s1"]},
    ],
    "confidence": 0.9,
}


def recorded_id(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    match = re.search(r"^recorded as (\w+) in ", err, re.MULTILINE)
    assert match, err
    return match.group(1)


def parent(capsys: pytest.CaptureFixture[str]) -> str:
    """The id of a completed orchestrator session whose plan a policy approved."""
    assert cli.main(RUN) == 0
    return recorded_id(capsys)


def seq_of(database: Path, session_id: str, kind: str, agent: str | None = None) -> int:
    with closing(sqlite3.connect(database)) as raw:
        found = raw.execute(
            "SELECT seq FROM events WHERE session_id = ? AND kind = ? AND (? IS NULL OR agent = ?) ORDER BY seq LIMIT 1",
            (session_id, kind, agent, agent),
        ).fetchone()
    assert found, (kind, agent)
    return found[0]


def stored(database: Path, session_id: str) -> list[dict]:
    with closing(sqlite3.connect(database)) as raw:
        return [json.loads(data) for (data,) in raw.execute("SELECT data FROM events WHERE session_id = ? ORDER BY seq", (session_id,))]


def lineage(database: Path, session_id: str) -> tuple[object, ...]:
    with closing(sqlite3.connect(database)) as raw:
        return raw.execute("SELECT parent_id, forked_at, resumes FROM sessions WHERE id = ?", (session_id,)).fetchone()


def test_a_fork_at_the_plan_with_an_edited_plan_is_a_new_linked_session_and_the_parent_is_unchanged(
    capsys: pytest.CaptureFixture[str], session_database: Path, tmp_path: Path
) -> None:
    parent_id = parent(capsys)
    at = seq_of(session_database, parent_id, "escalation.resolved")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(SHORTER))
    before = rows(session_database), events(session_database)

    code = cli.main(["fork", parent_id[:8], "--at", str(at), "--decide", "edit", "--answer-file", str(plan),
                     "--headless", "--speed", "0", "--approve", "approve"])

    out, _ = capsys.readouterr()
    assert code == 0
    fork_id = re.search(r"huddle · session (\w+) ·", out).group(1)
    assert fork_id != parent_id
    assert f"forked from {parent_id} at #{at}: decision at #{at} changed to edit" in out
    assert "plan revision 1: 2 steps" in out
    assert lineage(session_database, fork_id) == (parent_id, at, 0)
    assert [r for r in rows(session_database) if r[0] == parent_id] == [r for r in before[0] if r[0] == parent_id]
    assert [e for e in events(session_database) if e[0] == parent_id] == [e for e in before[1] if e[0] == parent_id]
    forked = stored(session_database, fork_id)
    replies = [e for e in forked if e["kind"] == "call.finished"]
    assert [e["recorded"] for e in replies] == [True, False, False, False]  # the plan from the record; the rest live
    assert forked[-1]["kind"] == "session.finished" and forked[-1]["status"] == "completed"

    assert cli.main(["sessions", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"(forked from {parent_id[:8]} at #{at})" in listed
    assert cli.main(["sessions", "export", fork_id, "--format", "md"]) == 0
    assert f"| Lineage | forked from {parent_id} at \\#{at}: decision at \\#{at} changed to edit |" in capsys.readouterr().out


def test_a_fork_with_an_edited_reply_and_another_task(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    parent_id = parent(capsys)
    at = seq_of(session_database, parent_id, "call.finished", "researcher")

    code = cli.main(["fork", parent_id, "--at", str(at), "--reply", "Token bucket per key. MARKER-7",
                     "--headless", "--speed", "0", "--approve", "approve"])
    assert code == 0
    fork_id = recorded_id(capsys)
    replies = [e for e in stored(session_database, fork_id) if e["kind"] == "call.finished"]
    research = next(e for e in replies if e["agent"] == "researcher")
    assert research["recorded"] and research["text"] == "Token bucket per key. MARKER-7"

    code = cli.main(["fork", parent_id, "--at", str(at), "--task", "Design a job queue", "--headless", "--speed", "0",
                     "--approve", "approve"])
    assert code == 0
    other = recorded_id(capsys)
    assert not any(e["recorded"] for e in stored(session_database, other) if e["kind"] == "call.finished")
    assert lineage(session_database, other) == (parent_id, at, 0)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--at", "100000"], ["events 1 to", "there is no seq 100000 to fork at"]),
        (["--at", "1", "--reply", "x"], ["only a reply can be edited: seq 1 is session.started"]),
        (["--at", "1", "--decide", "approve"], ["only a decision can be changed: seq 1 is session.started"]),
        (["--at", "ESCALATION", "--decide", "veto"], ["'veto' is not a choice at seq", "approve, edit, reject, or ask"]),
        (["--at", "ESCALATION", "--decide", "edit", "--answer", "{not json"], ["not valid JSON"]),
        (["--at", "PLAN", "--reply", "not json"], ["must be a JSON object"]),
        (["--at", "1", "--team", "nosuchteam"], ["cannot fork session", "nosuchteam"]),
        (["--at", "1", "--answer", "x"], ["--answer goes with --decide"]),
    ],
)
def test_a_fork_that_cannot_be_made_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], session_database: Path, args: list[str], fragments: list[str]
) -> None:
    parent_id = parent(capsys)
    at = {"ESCALATION": seq_of(session_database, parent_id, "escalation.requested"),
          "PLAN": seq_of(session_database, parent_id, "call.finished", "lead")}
    before = rows(session_database), events(session_database)

    code = cli.main(["fork", parent_id, *[str(at.get(arg, arg)) for arg in args], "--headless"])

    assert code == 1
    one_line(capsys, *fragments)
    assert (rows(session_database), events(session_database)) == before


def test_an_unknown_id_or_a_newer_database_is_one_line(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    parent_id = parent(capsys)
    assert cli.main(["fork", "nosuchid", "--at", "3", "--headless"]) == 1
    one_line(capsys, "nosuchid")
    with closing(sqlite3.connect(session_database)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = session_database.read_bytes()

    assert cli.main(["fork", parent_id, "--at", "3", "--headless"]) == 1

    one_line(capsys, "newer huddle", str(session_database))
    assert session_database.read_bytes() == before

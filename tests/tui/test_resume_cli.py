"""`huddle resume ID`: a session stopped by its budget completes with a bigger one, headless,
in its own record; a session that cannot be resumed is one line, and nothing changes."""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sessions.migrations import SCHEMA_VERSION
from tui import cli

RUN = ["run", "--headless", "--pattern", "pipeline", "--seed", "3", "--speed", "0", "--approve", "reject"]
"""A pipeline has no plan to approve; a used-up budget, rejected, stops it."""


def stopped(capsys: pytest.CaptureFixture[str]) -> str:
    """The id of a session its token budget stopped."""
    assert cli.main([*RUN, "--max-tokens", "1500", "Design a rate limiter"]) == 1
    err = capsys.readouterr().err
    match = re.search(r"^recorded as (\w+) in ", err, re.MULTILINE)
    assert match, err
    return match.group(1)


def rows(database: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as raw:
        return raw.execute("SELECT id, status, pid, last_seq, tokens_in, tokens_out FROM sessions ORDER BY id").fetchall()


def events(database: Path) -> list[tuple[str, int, str]]:
    with closing(sqlite3.connect(database)) as raw:
        return raw.execute("SELECT session_id, seq, data FROM events ORDER BY session_id, seq").fetchall()


def one_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("huddle: ")
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def test_a_session_stopped_by_its_budget_completes_when_resumed_with_a_bigger_one(
    capsys: pytest.CaptureFixture[str], session_database: Path
) -> None:
    session_id = stopped(capsys)
    before = events(session_database)

    code = cli.main(["resume", session_id[:6], "--headless", "--speed", "0", "--max-tokens", "100000", "--approve", "reject"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"huddle · session {session_id} · pipeline" in out  # the heading, once
    assert out.count("task: Design a rate limiter") == 1
    assert "away; it was stopped (tokens budget used up)" in out
    assert "result (completed)" in out and "session completed" in out
    assert f"recorded as {session_id} in {session_database}" in err
    after = events(session_database)
    assert after[: len(before)] == before  # the record is kept as it was, and goes on
    assert [seq for _, seq, _ in after] == list(range(1, len(after) + 1))
    [(row_id, status, pid, last_seq, _, _)] = rows(session_database)
    assert (row_id, status, pid, last_seq) == (session_id, "completed", os.getpid(), len(after))

    assert cli.main(["resume", session_id, "--headless"]) == 1  # and now there is nothing left to resume
    one_line(capsys, f"session {session_id} completed: there is nothing to resume")


def test_an_unknown_id_is_one_line(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    stopped(capsys)
    before = rows(session_database), events(session_database)

    assert cli.main(["resume", "nosuchsession", "--headless"]) == 1

    one_line(capsys, "no session 'nosuchsession'")
    assert (rows(session_database), events(session_database)) == before


def test_a_session_still_running_is_one_line(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    session_id = stopped(capsys)
    with closing(sqlite3.connect(session_database)) as raw:  # this process, alive, records it
        raw.execute("UPDATE sessions SET status = 'running', pid = ? WHERE id = ?", (os.getpid(), session_id))
        raw.commit()
    before = rows(session_database), events(session_database)

    assert cli.main(["resume", session_id, "--headless", "--max-tokens", "100000"]) == 1

    one_line(capsys, f"session {session_id} is still running (pid {os.getpid()} on ", "once it has ended")
    assert (rows(session_database), events(session_database)) == before


def test_a_record_that_cannot_be_read_is_one_line(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    session_id = stopped(capsys)
    with closing(sqlite3.connect(session_database)) as raw:
        raw.execute("UPDATE events SET data = 'not json' WHERE session_id = ? AND seq = 3", (session_id,))
        raw.commit()
    before = rows(session_database), events(session_database)

    assert cli.main(["resume", session_id, "--headless", "--max-tokens", "100000"]) == 1

    one_line(capsys, f"event 3 of session {session_id}", "cannot be read")
    assert (rows(session_database), events(session_database)) == before


def test_a_record_without_its_start_is_one_line(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    session_id = stopped(capsys)
    with closing(sqlite3.connect(session_database)) as raw:
        raw.execute("DELETE FROM events WHERE session_id = ? AND seq = 1", (session_id,))
        raw.commit()
    before = rows(session_database), events(session_database)

    assert cli.main(["resume", session_id, "--headless", "--max-tokens", "100000"]) == 1

    one_line(capsys, f"session {session_id} cannot be resumed: its record does not start with session.started")
    assert (rows(session_database), events(session_database)) == before


def test_a_database_of_a_newer_schema_is_one_line_and_untouched(
    capsys: pytest.CaptureFixture[str], session_database: Path
) -> None:
    session_id = stopped(capsys)
    with closing(sqlite3.connect(session_database)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = session_database.read_bytes()

    assert cli.main(["resume", session_id, "--headless", "--max-tokens", "100000"]) == 1

    one_line(capsys, "newer huddle", str(session_database))
    assert session_database.read_bytes() == before


def test_a_provider_that_cannot_be_made_is_one_line(capsys: pytest.CaptureFixture[str], session_database: Path) -> None:
    session_id = stopped(capsys)
    before = rows(session_database), events(session_database)

    assert cli.main(["resume", session_id, "--headless", "--provider", "nosuch"]) == 1

    one_line(capsys, f"session {session_id} cannot be resumed: ", "nosuch")
    assert (rows(session_database), events(session_database)) == before

"""The installed `huddle run --headless --json` (and `resume`, `fork`), end to end: every
event a JSON line on standard output, nothing else there, the person's lines on standard
error; and `huddle sessions show ID --json`, the export's document."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine.events import EVENT_KINDS, EVENT_VERSION
from tests.e2e.terminal import huddle_command
from tests.e2e.test_sessions_cli import TASK, huddle, recorded
from tests.fakes.messages_api import MessagesAPI, Reply, text_events, tool_events
from tests.helpers import plan_of
from tests.hostile import HOSTILE, VISIBLE, unsafe

QUICK = ("--speed", "0", "--seed", "1")
README = Path(__file__).resolve().parents[2] / "README.md"


def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The events a `--json` run printed: standard output is nothing but JSON lines of
    plain ASCII, each an event of the current version, all of one session."""
    out = done.stdout
    assert out.isascii() and out.endswith("\n"), out[-300:]
    assert not any(c < " " and c != "\n" or c == "\x7f" for c in out)
    events = [json.loads(line) for line in out.splitlines()]
    assert all(e["kind"] in EVENT_KINDS and e["v"] == EVENT_VERSION for e in events)
    assert len({e["session_id"] for e in events}) == 1
    return events


def gap_free(events: list[dict[str, Any]], first: int = 1) -> bool:
    return [e["seq"] for e in events] == list(range(first, first + len(events)))


def exported(session_id: str) -> subprocess.CompletedProcess[str]:
    done = huddle("sessions", "export", session_id, "--format", "json")
    assert done.returncode == 0, done.stderr
    return done


def test_a_run_prints_each_event_as_a_line_and_the_transcript_on_stderr() -> None:
    done = huddle("run", "--headless", "--json", *QUICK, "--approve", "approve", TASK)
    assert done.returncode == 0, done.stderr
    events = lines(done)
    assert gap_free(events)
    assert events[0]["kind"] == "session.started" and events[0]["task"] == TASK
    finished = events[-1]
    assert finished["kind"] == "session.finished" and [e["kind"] for e in events].count("session.finished") == 1
    assert finished["status"] == "completed" and finished["result"].strip()
    assert {"plan.made", "call.delta", "call.finished", "escalation.resolved"} <= {e["kind"] for e in events}
    session_id, _ = recorded(done)  # "recorded as ID in ..." is on standard error
    assert finished["session_id"] == session_id
    assert "▤ lead plan: 4 steps" in done.stderr and "result (completed)" in done.stderr  # the transcript

    # What was printed is what was recorded: the export's events, one for one.
    document = exported(session_id).stdout
    assert json.loads(document)["events"] == events
    shown = huddle("sessions", "show", session_id[:8], "--json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == document and shown.stderr == ""
    assert json.loads(shown.stdout)["session"]["id"] == session_id


def test_exit_statuses_are_those_of_a_run_without_json() -> None:
    rejected = huddle("run", "--headless", "--json", *QUICK, "--approve", "reject", TASK)
    assert rejected.returncode == 1
    finished = lines(rejected)[-1]
    assert (finished["kind"], finished["status"]) == ("session.finished", "stopped")
    assert "stopped: plan rejected" in rejected.stderr

    failing = huddle("run", "--headless", "--json", *QUICK, "--approve", "approve", "--faults", "overload", TASK)
    assert failing.returncode == 1
    assert lines(failing)[-1]["status"] == "failed"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--team", "missing.toml"), 2, "no such team file"),
    (("--team", "{bad}"), 2, "agents: Input should be a valid list"),
    (("--pattern", "nope"), 2, "unknown pattern 'nope'"),
    (("--db", "{folder}"), 1, "is a directory"),
])
def test_a_run_that_cannot_start_prints_nothing_on_stdout_and_one_line_on_stderr(
    args: tuple[str, ...], code: int, message: str, tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nagents = 3\n', encoding="utf-8")
    filled = [arg.format(bad=bad, folder=tmp_path) for arg in args]
    done = huddle("run", "--headless", "--json", *QUICK, *filled, TASK)
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    assert message in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr


def test_a_resumed_and_a_forked_session_print_the_events_they_add() -> None:
    stopping = ("--pattern", "pipeline", "--seed", "3", "--speed", "0", "--approve", "reject", "--max-tokens", "1500")
    first = huddle("run", "--json", *stopping, TASK)  # --json alone: headless, not the app
    assert first.returncode == 1, first.stderr
    before = lines(first)
    session_id = before[-1]["session_id"]
    assert before[-1]["status"] == "stopped"

    resumed = huddle("resume", session_id[:8], "--headless", "--json", "--speed", "0", "--max-tokens", "100000", "--approve", "reject")
    assert resumed.returncode == 0, resumed.stderr
    added = lines(resumed)
    assert added[0]["kind"] == "session.resumed" and added[0]["session_id"] == session_id
    assert gap_free(added, first=len(before) + 1)  # the record's seqs, carried on
    assert (added[-1]["kind"], added[-1]["status"]) == ("session.finished", "completed")
    assert "session completed" in resumed.stderr
    assert json.loads(exported(session_id).stdout)["events"] == before + added

    forked = huddle("fork", session_id, "--at", "1", "--json", "--speed", "0", "--approve", "approve")
    assert forked.returncode == 0, forked.stderr
    fork = lines(forked)
    assert fork[0]["session_id"] != session_id and fork[0]["forked_from"]["session_id"] == session_id
    assert gap_free(fork) and (fork[-1]["kind"], fork[-1]["status"]) == ("session.finished", "completed")
    assert "recorded as" in forked.stderr


def test_show_json_of_a_session_that_is_not_there_is_one_line() -> None:
    huddle("run", "--headless", *QUICK, "--approve", "approve", TASK)
    done = huddle("sessions", "show", "nope", "--json")
    assert done.returncode == 1 and done.stdout == ""
    assert "no session 'nope'" in done.stderr and len(done.stderr.splitlines()) == 1


def test_hostile_model_text_is_kept_whole_and_printed_escaped(tmp_path: Path) -> None:
    def script(seen: Any) -> Reply:
        if "tools" in seen.body:
            return Reply(events=tool_events(plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))))
        return Reply(events=text_events(HOSTILE))

    with MessagesAPI(script) as api:
        done = subprocess.run(
            [huddle_command(), "--db", str(tmp_path / "h.db"), "run", "--headless", "--json", "--provider", "anthropic",
             "--approve", "approve", TASK],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            env={**os.environ, "ANTHROPIC_API_KEY": "sk-ant-e2e-key", "ANTHROPIC_BASE_URL": api.base_url},
        )
    assert done.returncode == 0, done.stderr
    events = lines(done)  # plain ASCII: no escape, control or bidi character reaches the terminal raw
    replies = [e["text"] for e in events if e["kind"] == "call.finished" and e["agent"] != "lead"]
    assert replies and all(text == HOSTILE.replace("\ud800", "\ufffd") for text in replies)  # lossless, as recorded
    assert "\\u001b]0;pwned-title\\u0007" in done.stdout and "\\u202etxt.exe" in done.stdout
    assert unsafe(done.stderr) == [] and all(words in done.stderr for words in VISIBLE)  # the transcript, cleaned


def scripting_examples() -> list[tuple[str, str]]:
    """The command lines of the README's section "Scripting", each with what the
    comment line under it says it prints."""
    section = README.read_text(encoding="utf-8").split("\n## Scripting\n", 1)[1].split("\n## ", 1)[0]
    found = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        rows = block.splitlines()
        for line, after in zip(rows, [*rows[1:], ""]):
            if line.startswith("huddle "):
                found.append((line, after.removeprefix("# ")))
    return found


def test_the_scripting_example_in_the_readme_prints_what_it_says() -> None:
    """Run as printed, but instant and with a fixed seed (`--speed 0 --seed 3` added); its
    jq program is done in Python, and by jq itself where jq is installed."""
    [(command, says)] = scripting_examples()
    run, program = (part.strip() for part in command.split("|", 1))
    assert program == """jq -r 'select(.kind=="session.finished") | .status'"""
    done = huddle(*shlex.split(run)[1:], "--speed", "0", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert [e["status"] for e in lines(done) if e["kind"] == "session.finished"] == [says]
    if shutil.which("jq"):
        quick = command.replace(" --json ", " --json --speed 0 --seed 3 ", 1)
        path = f"{Path(huddle_command()).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        piped = subprocess.run(quick, shell=True, capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL, env={**os.environ, "PATH": path})
        assert (piped.returncode, piped.stdout) == (0, says + "\n"), piped.stderr

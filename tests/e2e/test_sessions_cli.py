"""`huddle run --headless` records; `huddle sessions list|show|export|delete` read it back,
end to end through the installed command."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from engine.events import EVENT_ADAPTER
from sessions.migrations import SCHEMA_VERSION
from sessions.store import SessionStore
from tests.e2e.terminal import huddle_command
from tests.sessions.helpers import record

TASK = "Design a rate limiter for our public REST API"


def huddle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [huddle_command(), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def recorded(done: subprocess.CompletedProcess[str]) -> tuple[str, Path]:
    """The session id and database a headless run says it recorded into."""
    match = re.search(r"^recorded as (\w+) in (.+)$", done.stderr, re.MULTILINE)
    assert match, done.stderr
    return match.group(1), Path(match.group(2))


def recording_started(database: Path) -> bool:
    """True once the session's first events are committed."""
    if not database.exists():
        return False
    with closing(sqlite3.connect(database)) as raw:
        try:
            return raw.execute("SELECT count(*) FROM events").fetchone()[0] > 0
        except sqlite3.OperationalError:  # no schema yet
            return False


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("huddle: ")
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)


def test_a_headless_run_is_recorded_listed_shown_exported_and_deleted(session_database: Path, tmp_path: Path) -> None:
    run = huddle("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "approve", TASK)
    assert run.returncode == 0, run.stderr
    session_id, database = recorded(run)
    assert database == session_database
    assert f"session {session_id}" in run.stdout.splitlines()[0]

    listing = huddle("sessions", "list")
    assert listing.returncode == 0
    header, line = listing.stdout.splitlines()
    assert header.split() == ["ID", "STARTED", "STATUS", "PATTERN", "TOKENS", "COST", "TIME", "TITLE"]
    assert line.startswith(session_id[:8]) and " completed " in line and line.endswith(TASK)
    [row] = json.loads(huddle("sessions", "list", "--json").stdout)
    assert row["id"] == session_id and row["status"] == "completed" and row["last_seq"] > 30

    shown = huddle("sessions", "show", session_id[:5])
    assert shown.returncode == 0
    assert shown.stdout == run.stdout  # exactly what the run printed

    markdown = huddle("sessions", "export", session_id[:6])
    assert markdown.returncode == 0 and markdown.stdout.startswith(f"# {TASK}\n")
    target = tmp_path / "out" / "session.json"
    target.parent.mkdir()
    exported = huddle("sessions", "export", session_id, "--format", "json", "-o", str(target))
    assert exported.returncode == 0 and exported.stdout.strip() == str(target)
    document = json.loads(target.read_text())
    assert document["session"] == row
    events = [EVENT_ADAPTER.validate_python(e) for e in document["events"]]
    assert [e.seq for e in events] == list(range(1, row["last_seq"] + 1))
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert os.listdir(target.parent) == ["session.json"]  # no temporary file left behind

    deleted = huddle("sessions", "delete", session_id[:7])
    assert deleted.returncode == 0 and deleted.stdout.startswith(f"deleted {session_id} · completed")
    assert "no sessions recorded yet" in huddle("sessions").stdout
    assert_one_line_error(huddle("sessions", "show", session_id), "no session", session_id)


def test_filters_search_and_prefixes_on_the_command_line() -> None:
    for task, policy in (("Migrate billing to PostgreSQL", "approve"), (TASK, "reject")):
        assert huddle("run", "--headless", "--speed", "0", "--approve", policy, task).returncode in (0, 1)

    found = huddle("sessions", "list", "--search", "postgres")
    assert found.returncode == 0 and "Migrate billing to PostgreSQL" in found.stdout and TASK not in found.stdout
    stopped = json.loads(huddle("sessions", "list", "--status", "stopped", "--json").stdout)
    assert [row["task"] for row in stopped] == [TASK]
    assert "no sessions match" in huddle("sessions", "list", "--pattern", "debate").stdout
    limited = huddle("sessions", "list", "--limit", "1")
    assert "(1 of 2 sessions; --limit N shows more)" in limited.stdout
    assert_one_line_error(huddle("sessions", "show", ""), "no session")
    bad_limit = huddle("sessions", "list", "--limit", "0")
    assert bad_limit.returncode == 2 and "must be more than zero" in bad_limit.stderr


def test_the_database_option_goes_before_or_after_the_command(tmp_path: Path, session_database: Path) -> None:
    chosen = tmp_path / "chosen.db"
    run = huddle("run", "--db", str(chosen), "--headless", "--speed", "0", "--approve", "approve", TASK)
    assert run.returncode == 0 and recorded(run)[1] == chosen
    assert not session_database.exists()
    session_id = recorded(run)[0]
    for args in (
        ("--db", str(chosen), "sessions", "list"),
        ("sessions", "list", "--db", str(chosen)),
        ("sessions", "--db", str(chosen)),
    ):
        assert session_id[:8] in huddle(*args).stdout, args
    assert "no sessions recorded yet" in huddle("sessions", "list").stdout  # $HUDDLE_DB: still empty
    assert not session_database.exists()  # and listing did not create it


@pytest.mark.parametrize("command", [("sessions", "list"), ("run", "--headless", "--speed", "0", TASK)])
def test_a_file_that_is_not_a_database_is_one_line_and_untouched(tmp_path: Path, command: tuple[str, ...]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")

    done = huddle("--db", str(notes), *command)

    assert_one_line_error(done, str(notes), "not a huddle database", "--db")
    assert done.stdout == ""  # nothing ran
    assert notes.read_text() == "my notes\n"


def test_a_newer_database_is_one_line_and_untouched(session_database: Path) -> None:
    assert huddle("run", "--headless", "--speed", "0", "--approve", "approve", TASK).returncode == 0
    with closing(sqlite3.connect(session_database)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = session_database.read_bytes()

    for command in (("sessions", "list"), ("run", "--headless", "--speed", "0", TASK)):
        done = huddle(*command)
        assert_one_line_error(done, "newer huddle", str(session_database))
        assert done.stdout == ""
    assert session_database.read_bytes() == before


def test_reading_commands_without_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.db"
    listing = huddle("--db", str(missing), "sessions", "list")
    assert listing.returncode == 0 and "no sessions recorded yet" in listing.stdout
    assert huddle("--db", str(missing), "sessions", "list", "--json").stdout.strip() == "[]"
    assert_one_line_error(huddle("--db", str(missing), "sessions", "show", "abc"), "no session database", str(missing))
    assert not missing.exists()


async def test_an_ambiguous_prefix_lists_candidates(session_database: Path) -> None:
    store = await SessionStore.open(session_database)
    try:
        for session_id in ("abc111111111", "abc222222222", "abd333333333"):
            await record(store, session_id=session_id)
    finally:
        await store.close()

    done = huddle("sessions", "export", "ab")

    assert_one_line_error(done, "ambiguous", "give more of it", "abc111111111", "abc222222222", "abd333333333")
    listing = huddle("sessions", "list").stdout
    assert "abc11111 " in listing and "abd33333 " in listing  # listed by prefixes that do resolve
    assert huddle("sessions", "export", "abd").returncode == 0


def test_ctrl_c_records_the_session_as_cancelled(session_database: Path) -> None:
    process = subprocess.Popen(
        [huddle_command(), "run", "--headless", "--speed", "1", "--approve", "approve", TASK],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not recording_started(session_database):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, err
    assert "session cancelled" in err and "recorded as" in err
    [row] = json.loads(huddle("sessions", "list", "--json").stdout)
    assert row["status"] == "cancelled" and row["partial"] is True

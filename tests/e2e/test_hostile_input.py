"""The installed `huddle` given what users and their files really hold: bytes that are not
UTF-8, numbers that are not numbers, a reader that goes away, damaged rows, an export
target that is not a plain file. Each is one line on standard error, never a traceback,
and loses nothing."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.e2e.terminal import huddle_command

RUN = ("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "approve")


def huddle(*args: str | bytes, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [huddle_command(), *args], capture_output=True, timeout=60,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def one_line(done: subprocess.CompletedProcess[bytes], code: int, *fragments: str) -> str:
    err = done.stderr.decode()
    assert done.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def sessions(db: Path) -> list[dict]:
    done = huddle("--db", str(db), "sessions", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- text that is not UTF-8 ------------------------------------------------------------


def test_a_task_that_is_not_utf8_runs_with_replacement_characters(session_database):
    done = huddle(*RUN, b"caf\xe9 au lait")
    assert done.returncode == 0, done.stderr
    assert "task: caf\ufffd au lait" in done.stdout.decode()
    piped = huddle(*RUN, "-", stdin=b"th\xe9 vert\n")
    assert piped.returncode == 0, piped.stderr
    assert [row["task"] for row in sessions(session_database)] == ["th\ufffd vert", "caf\ufffd au lait"]


def test_team_and_config_files_that_are_not_utf8_are_one_line_naming_the_file(tmp_path, user_config):
    team = tmp_path / "team.toml"
    team.write_bytes(b'name = "caf\xe9"\n')
    one_line(huddle(*RUN, "--team", str(team), "x"), 2, str(team), "not UTF-8")
    user_config.mkdir(parents=True, exist_ok=True)
    (user_config / "config.toml").write_bytes(b'base_url = "\xff"\n')
    one_line(huddle(*RUN, "x"), 2, "config.toml", "not UTF-8")


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--seed", "12345678901234567890", "too large"),
        ("--call-timeout", "nan", "not a finite number"),
        ("--max-cost", "nan", "not a finite number"),
        ("--max-cost", "inf", "not a finite number"),
        ("--timeout", "1e400", "not a finite number"),
        ("--speed", "-1", "zero or more"),
        ("--max-tokens", "0", "more than zero"),
        ("--max-tokens", "99999999999999999999", "too large"),
        ("--max-turns", "2.5", "not a whole number"),
    ],
)
def test_numeric_options_out_of_range_are_one_line(option, value, words, session_database):
    one_line(huddle(*RUN, option, value, "x"), 2, f"argument {option}", words)
    assert not session_database.exists()  # nothing ran


# -- a reader that goes away -----------------------------------------------------------


def test_piped_into_head_the_session_runs_on_and_is_recorded_whole(session_database):
    shell = f"'{huddle_command()}' {' '.join(RUN)} 'Design a rate limiter' | head -3"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, timeout=60)
    assert len(done.stdout.decode().splitlines()) == 3
    assert "Traceback" not in done.stderr.decode()
    (row,) = sessions(session_database)
    assert row["status"] == "completed" and row["result"]


def test_a_reader_gone_before_the_first_line_is_no_traceback_either(session_database):
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)  # it can hold little of what is printed
    with subprocess.Popen([huddle_command(), *RUN, "Design a rate limiter"], stdout=write, stderr=subprocess.PIPE) as process:
        os.close(write)
        with os.fdopen(read, "rb") as reader:
            reader.readline()  # the first line, then the reader goes away mid-session
        err = process.stderr.read().decode()  # type: ignore[union-attr]
    assert process.returncode == 0 and "Traceback" not in err, err
    assert err.strip().splitlines() == [f"recorded as {sessions(session_database)[0]['id']} in {session_database}"]
    assert sessions(session_database)[0]["status"] == "completed"


# -- damaged rows ----------------------------------------------------------------------


def test_damaged_rows_are_one_line_and_the_rest_still_reads(session_database):
    for task in ("first", "second"):
        assert huddle(*RUN, task).returncode == 0
    second, first = (row["id"] for row in sessions(session_database))
    with sqlite3.connect(session_database) as raw:
        raw.execute("UPDATE sessions SET agents = '[oops', cost = 'lots', title = x'ff00' WHERE id = ?", (first,))
        raw.execute("UPDATE events SET data = '{not json' WHERE session_id = ? AND seq = 3", (second,))
    listed = huddle("--db", str(session_database), "sessions", "list")
    one_line(listed, 0, f"session {first}", "agents", "cost", "title")
    assert "second" in listed.stdout.decode()
    one_line(huddle("sessions", "show", first[:8]), 0, "damaged row")
    for command in (("show", second), ("export", second), ("export", "--format", "json", second)):
        one_line(huddle("sessions", *command), 1, f"event 3 of session {second}", "cannot be read")


# -- export targets --------------------------------------------------------------------


@pytest.fixture
def recorded(session_database) -> str:
    assert huddle(*RUN, "Design a rate limiter").returncode == 0
    return sessions(session_database)[0]["id"]


def test_an_export_replaces_a_regular_file(recorded, tmp_path):
    target = tmp_path / "out.md"
    target.write_text("old")
    done = huddle("sessions", "export", recorded, "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_text().startswith("# ") and oct(target.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "folder"])
def test_an_export_never_replaces_what_is_not_a_regular_file(recorded, tmp_path, kind):
    aimed = tmp_path / "precious.md"
    aimed.write_text("keep me")
    target = {"device": Path("/dev/null")}.get(kind, tmp_path / "target")
    if kind == "symlink":
        target.symlink_to(aimed)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    before = os.lstat(target)
    one_line(huddle("sessions", "export", recorded, "-o", str(target)), 1, str(target), "not a regular file")
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert aimed.read_text() == "keep me"
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]  # no temporary left

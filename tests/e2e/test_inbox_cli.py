"""`huddle inbox` for scripts: the list, the JSON, and `approve` / `reject` of one escalation
of a real `huddle run --headless --approve inbox` process, each an exit status and one line."""

from __future__ import annotations

import getpass
import json
import socket
import sqlite3
import subprocess
from pathlib import Path

from tests.e2e.terminal import huddle_command
from tests.e2e.inbox_runs import headless, waiting

TASK = "Design a rate limiter for our public REST API"


def huddle(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([huddle_command(), "--db", str(db), *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_a_script_lists_and_decides_what_waits(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    empty = huddle(db, "inbox")  # not a terminal: the list, of nothing yet
    assert (empty.returncode, empty.stdout) == (0, f"nothing waits for a decision (no sessions recorded yet in {db})\n")

    run = headless(db, 3, TASK)
    try:
        [session_id] = waiting(db, 1, run)
        listed = huddle(db, "inbox", "--list")
        assert listed.returncode == 0 and listed.stderr == ""
        header, line = listed.stdout.splitlines()
        assert header.split() == ["SESSION", "ESCALATION", "AGENT", "TRIGGER", "AGE", "REASON"]
        assert line.split()[:4] == [session_id, "e1", "lead", "plan"] and line.endswith("lead proposes a 4-step plan")

        [item] = json.loads(huddle(db, "inbox", "--json").stdout)
        assert (item["session_id"], item["escalation_id"], item["trigger"], item["options"]) == (session_id, "e1", "plan", ["approve", "edit", "reject"])
        assert [step["id"] for step in item["payload"]["steps"]] == ["s1", "s2", "s3", "s4"]  # the whole plan

        unknown = huddle(db, "inbox", "reject", session_id[:6], "e9", "--reason", "no")
        assert unknown.returncode == 1 and unknown.stdout == ""
        assert unknown.stderr == f"huddle: session {session_id}, e9: no such escalation waits for a decision (see 'huddle inbox --list')\n"

        approved = huddle(db, "inbox", "approve", session_id[:6], "e1")
        assert (approved.returncode, approved.stdout) == (0, f"approved: session {session_id}, e1: taken by the session\n")
        assert run.wait(timeout=30) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    who = f"{getpass.getuser()}@{socket.gethostname()} from the command line"
    again = huddle(db, "inbox", "reject", session_id, "e1", "--reason", "too late")
    assert again.returncode == 1 and again.stdout == "" and len(again.stderr.splitlines()) == 1
    assert again.stderr.startswith(f"huddle: session {session_id}, e1: already decided by {who} at ")
    with sqlite3.connect(db) as connection:
        [(action, rule)] = connection.execute(
            "SELECT json_extract(data, '$.action'), json_extract(data, '$.rule') FROM events WHERE kind = 'escalation.resolved'"
        ).fetchall()
    assert (action, rule) == ("approve", who)
    assert huddle(db, "inbox", "--list").stdout == f"nothing waits for a decision (in {db})\n"

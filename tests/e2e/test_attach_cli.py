"""`huddle attach` on a session a real headless process runs: the installed `huddle` in a
pseudo-terminal catches up, shows the escalation the run waits on, and Enter approves it
there; the headless run takes the decision through the store and finishes."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.e2e.terminal import Terminal, huddle_command

TASK = "Design a rate limiter for our public REST API"


def row_status(db: Path) -> str | None:
    """The session's status as the store has it (None before its row is there)."""
    if not db.exists():
        return None
    with sqlite3.connect(db, timeout=5) as connection:
        found = connection.execute("SELECT status FROM sessions").fetchone()
    connection.close()
    return found[0] if found else None


def until(what: str, check, timeout: float = 30.0):  # noqa: ANN001
    """A bounded look at something another process does (there is nothing to wait on but the file)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return found


def test_attach_answers_the_escalation_a_headless_run_waits_on(tmp_path):
    db = tmp_path / "e2e.db"
    printed = tmp_path / "headless.out"
    with printed.open("w") as out:
        headless = subprocess.Popen(
            [huddle_command(), "--db", str(db), "run", "--headless", "--approve", "inbox", "--speed", "1", "--seed", "3", TASK],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
    term: Terminal | None = None
    try:
        session_id = until("the session id", lambda: re.search(r"huddle · session ([0-9a-f]{12})", printed.read_text()))[1]
        until("the plan to wait for a decision", lambda: row_status(db) == "waiting")
        term = Terminal([huddle_command(), "--db", str(db), "attach", session_id[:8]], cols=200, rows=50)
        term.expect(r"attached", timeout=30)
        term.expect(r"lead proposes a 4-step plan", timeout=30)  # caught up from the record
        term.expect(r"Escalation: plan from lead", timeout=30)
        term.send("\r")  # Enter approves, from here
        assert headless.wait(timeout=45) == 0
        term.expect(r"completed", timeout=15)  # the end, followed
        term.send("q")
        assert term.wait(timeout=20) == 0
        assert f"session {session_id} is no longer running: completed" in term.text
    finally:
        if term is not None:
            term.close()
        if headless.poll() is None:
            headless.kill()
            headless.wait()
    with sqlite3.connect(db) as connection:
        resolved = connection.execute(
            "SELECT json_extract(data, '$.action'), json_extract(data, '$.by'), json_extract(data, '$.rule') "
            "FROM events WHERE kind = 'escalation.resolved'"
        ).fetchall()
        status, = connection.execute("SELECT status FROM sessions").fetchone()
    connection.close()
    [(action, by, rule)] = resolved
    assert (action, by, status) == ("approve", "human", "completed")
    assert re.fullmatch(r"\S+@\S+ attached", rule), rule
    assert "approved by human" in printed.read_text()  # the headless run printed the decision it took

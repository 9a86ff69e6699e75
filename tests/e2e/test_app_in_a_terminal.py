"""The installed `huddle` app in a real pseudo-terminal, driven by keys."""

from __future__ import annotations

import sqlite3

from tests.e2e.terminal import Terminal, huddle_command

TASK = "Design a rate limiter for our public REST API"


def decisions(db) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT json_extract(data, '$.action'), json_extract(data, '$.by'), json_extract(data, '$.trigger') "
            "FROM events WHERE kind = 'escalation.resolved' ORDER BY seq"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_approving_an_escalation_by_key_is_recorded(tmp_path):
    db = tmp_path / "e2e.db"
    term = Terminal([huddle_command(), "--db", str(db), "run", "--speed", "0", "--seed", "3", TASK], cols=200, rows=50)
    try:
        term.expect(r"Escalation: plan from lead", timeout=30)
        term.send("\r")  # enter approves
        term.expect(r"completed", timeout=30)
        term.send("q")  # a finished session stays on screen until you leave
        assert term.wait(timeout=20) == 0
    finally:
        term.close()
    assert decisions(db) == [("approve", "human", "plan")]
    with sqlite3.connect(db) as connection:
        status, = connection.execute("SELECT status FROM sessions").fetchone()
    assert status == "completed"


def test_quitting_a_running_session_asks_and_records_it_as_cancelled(tmp_path):
    db = tmp_path / "e2e.db"
    term = Terminal([huddle_command(), "--db", str(db), "run", "--speed", "1", "--seed", "3", "--approve", "approve", TASK], cols=200, rows=50)
    try:
        term.expect(r"streaming", timeout=30)
        term.send("q")
        term.expect(r"Stop the session and leave\?", timeout=10)
        term.send("y")
        assert term.wait(timeout=20) == 130
    finally:
        term.close()
    with sqlite3.connect(db) as connection:
        status, partial = connection.execute("SELECT status, partial FROM sessions").fetchone()
    assert (status, partial) == ("cancelled", 1)


def test_the_launch_screen_starts_a_session_and_the_browser_replays_it(tmp_path):
    db = tmp_path / "e2e.db"
    term = Terminal([huddle_command(), "--db", str(db)], cols=200, rows=50)
    try:
        term.expect(r"start a session", timeout=30)
        term.send("Write the on-call runbook")
        term.send("\x13")  # ctrl+s starts
        term.expect(r"Escalation: plan from lead", timeout=30)
        term.send("\r")
        term.expect(r"completed", timeout=60)
        back = term.mark()
        term.send("q")  # back to the launch screen
        term.expect(r"start a session", timeout=10, since=back)
        term.send("\x0f")  # ctrl+o: the browser
        term.expect(r"sessions · 1", timeout=10)
        term.send("\r")  # replay it
        term.expect(r"recorded session: nothing is called", timeout=10)
        term.send("\x11")  # ctrl+q
        assert term.wait(timeout=20) == 0
    finally:
        term.close()
    with sqlite3.connect(db) as connection:  # the whole task, typed at once, ctrl+s right after
        assert connection.execute("SELECT task FROM sessions").fetchall() == [("Write the on-call runbook",)]

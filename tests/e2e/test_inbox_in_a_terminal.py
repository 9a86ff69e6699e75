"""`huddle inbox` in a real pseudo-terminal deciding for two real `huddle run --headless
--approve inbox` processes: each waits for a decision posted through the store, takes the
one given by keys in the inbox, and records it with who took it and where."""

from __future__ import annotations

import getpass
import socket
import sqlite3
from pathlib import Path

from tests.e2e.inbox_runs import headless, waiting
from tests.e2e.terminal import Terminal, huddle_command

RATE = "Design a rate limiter for our public REST API"
BOOK = "Write the on-call runbook"
REASON = "Too broad: split the runbook first"


def test_the_inbox_approves_one_session_and_rejects_another_by_keys(tmp_path: Path) -> None:
    db = tmp_path / "inbox.db"
    rate = headless(db, 3, RATE)
    book = None
    term = None
    try:
        [rate_id] = waiting(db, 1, rate)
        book = headless(db, 4, BOOK, "--option", "max_plan_revisions=0")  # a rejected plan stops it
        _, book_id = waiting(db, 2, book)

        term = Terminal([huddle_command(), "--db", str(db), "inbox"], cols=200, rows=50)
        term.expect(r"2 escalations waiting in 2 sessions", timeout=30)
        term.send("\r")  # the oldest: the rate limiter's plan
        term.expect(r"Escalation: plan from lead", timeout=10)
        term.send("\r")  # approve
        term.expect(rf"session {rate_id[:8]}, e1: taken by the session", timeout=10)
        term.expect(r"1 escalation waiting in 1 session", timeout=10)
        mark = term.mark()
        term.send("\r")
        term.expect(r"Escalation: plan from lead", timeout=10, since=mark)
        term.send("r")
        term.expect(r"Enter rejects", timeout=10, since=mark)
        term.send(REASON)
        term.send("\r")
        term.expect(rf"session {book_id[:8]}, e1: taken by the session", timeout=10)
        term.expect(r"Nothing waits for you", timeout=10)
        term.send("q")
        assert term.wait(timeout=20) == 0
        assert rate.wait(timeout=30) == 0  # completed
        assert book.wait(timeout=30) == 1  # stopped: its plan was rejected
    finally:
        for process in (rate, book):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        if term is not None:
            term.close()

    who = f"{getpass.getuser()}@{socket.gethostname()} in the inbox"
    with sqlite3.connect(db) as connection:
        decided = dict(connection.execute(
            "SELECT session_id, json_array(json_extract(data, '$.action'), json_extract(data, '$.by'), "
            "json_extract(data, '$.rule'), json_extract(data, '$.reason')) FROM events WHERE kind = 'escalation.resolved'"
        ).fetchall())
        statuses = dict(connection.execute("SELECT id, status FROM sessions").fetchall())
        outcomes = connection.execute("SELECT session_id, decided_by, outcome FROM decisions ORDER BY decided_at").fetchall()
    assert decided == {
        rate_id: f'["approve","human","{who}",null]',
        book_id: f'["reject","human","{who}","{REASON}"]',
    }
    assert statuses == {rate_id: "completed", book_id: "stopped"}
    assert outcomes == [(rate_id, who, "taken"), (book_id, who, "taken")]

"""Real `huddle run --headless --approve inbox` processes for the inbox's tests: started,
and watched in the database until their escalations wait."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

from tests.e2e.terminal import huddle_command


def waiting(db: Path, count: int, process: subprocess.Popen[bytes], deadline: float = 30.0) -> list[str]:
    """The ids of the sessions whose escalations wait, once `count` do (oldest first)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"huddle run exited ({process.returncode}) before it waited")
        if db.exists():
            try:
                with sqlite3.connect(db) as connection:
                    rows = connection.execute(
                        "SELECT s.id FROM sessions AS s JOIN events AS e ON e.session_id = s.id "
                        "WHERE s.status = 'waiting' AND e.kind = 'escalation.requested' ORDER BY e.ts"
                    ).fetchall()
            except sqlite3.OperationalError:  # the schema is being made
                rows = []
            if len(rows) >= count:
                return [row[0] for row in rows]
        time.sleep(0.05)
    raise AssertionError(f"{count} sessions did not come to wait")


def headless(db: Path, seed: int, task: str, *options: str) -> subprocess.Popen[bytes]:
    """A headless run on `db` whose escalations wait for the inbox (instant simulated pace);
    what it prints is not read (its log is beside the database)."""
    return subprocess.Popen(
        [huddle_command(), "--db", str(db), "run", "--headless", "--speed", "0", "--approve", "inbox",
         "--seed", str(seed), *options, task],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

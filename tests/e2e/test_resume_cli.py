"""The installed `huddle`: a headless run stopped by a tiny budget, carried on with
`huddle resume ID --headless --max-tokens N` to completion, in the same record."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_sessions_cli import assert_one_line_error, huddle, recorded

STOPPING = ("--pattern", "pipeline", "--seed", "3", "--speed", "0", "--approve", "reject", "--max-tokens", "1500")
"""A pipeline (no plan to approve) whose used-up budget, rejected, stops it."""


def test_a_stopped_run_is_resumed_to_completion_in_the_same_record(session_database: Path) -> None:
    first = huddle("run", "--headless", *STOPPING, "Design a rate limiter")
    assert first.returncode == 1, first.stderr
    assert "session stopped: tokens budget used up" in first.stdout
    session_id, database = recorded(first)
    assert database == session_database

    resumed = huddle("resume", session_id[:8], "--headless", "--speed", "0", "--max-tokens", "100000", "--approve", "reject")

    assert resumed.returncode == 0, resumed.stderr
    assert "away; it was stopped (tokens budget used up)" in resumed.stdout
    assert "session completed" in resumed.stdout
    assert recorded(resumed) == (session_id, session_database)

    listed = huddle("sessions", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["status"]) == (session_id, "completed")
    shown = huddle("sessions", "show", session_id)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count(f"huddle · session {session_id}") == 1
    assert shown.stdout.count("away; it was stopped (tokens budget used up)") == 1
    assert "session stopped: tokens budget used up" in shown.stdout and shown.stdout.rstrip().endswith("session completed")

    again = huddle("resume", session_id, "--headless")
    assert_one_line_error(again, f"session {session_id} completed: there is nothing to resume")

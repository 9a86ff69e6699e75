"""The installed `huddle` on a PostgreSQL database (`HUDDLE_DB=postgresql://…`): a run is
recorded there, listed, searched, shown, exported, forked and decided from the inbox,
as on SQLite; a server that is down is one line without the password."""

from __future__ import annotations

import json

from tests.e2e.test_sessions_cli import huddle
from tests.sessions.pg_server import SECRET_PASSWORD

RUN = ("run", "--headless", "--speed", "0", "--seed", "3", "--approve", "approve", "Design a rate limiter")


def test_a_session_recorded_in_postgresql_is_listed_shown_exported_and_forked(pg_dsn: str) -> None:
    env = {"HUDDLE_DB": pg_dsn}
    done = huddle(*RUN, env=env)
    assert done.returncode == 0, done.stderr
    listed = json.loads(huddle("sessions", "list", "--json", env=env).stdout)
    [row] = listed
    assert (row["status"], row["pattern"]) == ("completed", "orchestrator")
    assert f"recorded as {row['id']} in postgresql://" in done.stderr

    found = huddle("sessions", "list", "--search", "survey", env=env)
    assert row["id"][:8] in found.stdout
    exported = json.loads(huddle("sessions", "export", row["id"], "--format", "json", env=env).stdout)
    assert exported["events"][-1]["kind"] == "session.finished"
    approved = next(e["seq"] for e in exported["events"] if e["kind"] == "escalation.resolved")
    shown = huddle("sessions", "show", row["id"], "--seq", env=env)
    assert shown.returncode == 0 and f"huddle · session {row['id']}" in shown.stdout
    assert f"#{approved} ✓ lead approved" in shown.stdout

    forked = huddle("fork", row["id"], "--at", str(approved), "--decide", "reject", "--answer", "smaller", "--headless",
                    "--speed", "0", "--approve", "approve", env=env)
    assert forked.returncode == 0, forked.stderr
    rows = json.loads(huddle("sessions", "list", "--json", env=env).stdout)
    fork = next(r for r in rows if r["id"] != row["id"])
    assert (fork["parent_id"], fork["forked_at"]) == (row["id"], approved)


def test_a_server_that_cannot_be_reached_is_one_line_without_the_password(pg_server) -> None:
    dsn = pg_server.dsn("huddle_nowhere", user="secret", password=SECRET_PASSWORD)
    done = huddle("sessions", "list", env={"HUDDLE_DB": dsn})
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("huddle: ")
    assert SECRET_PASSWORD not in done.stderr and "hunter2" not in done.stderr

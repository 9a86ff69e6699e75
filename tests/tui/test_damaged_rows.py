"""A database whose rows were damaged (by another program, a disk, a hand edit): the
browser lists what it can read and says, in one line, what it cannot."""

from __future__ import annotations

import sqlite3

import pytest
from textual.widgets import DataTable

from sessions.rows import COLUMNS, SessionRow
from sessions.store import SessionStore
from tests.sessions.helpers import record
from tests.tui.helpers import until
from tui.app import make_app
from tui.screens.browser import BrowserScreen
from tui.screens.replay import ReplayScreen

SIZE = (200, 50)


@pytest.fixture
async def damaged(tmp_path):
    """Two sessions: the older with garbage in its row, the newer with an event that is not JSON."""
    path = tmp_path / "damaged.db"
    store = await SessionStore.open(path)
    older = (await record(store, task="Migrate billing to PostgreSQL")).finished.session_id
    newer = (await record(store, task="Write the on-call runbook")).finished.session_id
    await store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE sessions SET agents = 'not json', cost = 'lots', title = x'ff', status = 'odd' "
                    "WHERE id = ?", (older,))
        raw.execute("UPDATE events SET data = '{broken' WHERE session_id = ? AND seq = 2", (newer,))
    store = await SessionStore.open(path)
    yield store, older, newer
    await store.close()


def test_a_row_with_garbage_in_its_columns_reads_with_them_empty():
    values = dict(zip(COLUMNS, [0] * len(COLUMNS)))
    values |= {"id": "abc", "task": "t", "title": b"\xff", "pattern": "p", "team": "t", "agents": "[1, 2]",
               "provider": "simulated", "models": "[]", "status": "nonsense", "cost": "lots", "created_at": 1.0,
               "updated_at": 1.0, "duration_s": None, "result": None, "reason": None, "seed": "x", "host": None,
               "parent_id": None, "forked_at": None}
    row = SessionRow.from_db(tuple(values[column] for column in COLUMNS))
    assert (row.title, row.agents, row.status, row.cost, row.seed, row.duration_s) == ("", (), "interrupted", 0.0, None, 0.0)
    assert set(row.damaged) == {"title", "agents", "status", "cost", "seed", "duration_s"}
    assert row.to_json()["damaged"] == list(row.damaged)


async def test_the_browser_lists_a_damaged_row_and_a_damaged_event_is_one_notice(damaged):
    store, older, newer = damaged
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(app.screen.rows) == 2, what="rows")
        assert app.screen.rows[older].damaged
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=0)  # the newer session, whose event 2 is damaged
        await pilot.press("enter")
        await until(pilot, lambda: any("cannot be read" in str(n.message) for n in app._notifications), what="notice")
        (notice,) = [n for n in app._notifications if "cannot be read" in str(n.message)]
        assert f"event 2 of session {newer}" in str(notice.message) and "\n" not in str(notice.message)
        assert app.is_running and isinstance(app.screen, ReplayScreen | BrowserScreen)

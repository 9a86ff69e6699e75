"""`r` in the browser: a session that ended early carries on in the app's live screen, in
its own record; one that cannot be resumed says why in a notice."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import DataTable

from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from sessions.store import SessionStore
from tests.sessions.helpers import record
from tests.tui.helpers import until
from tui import resuming
from tui.app import make_app
from tui.screens.browser import BrowserScreen
from tui.screens.session import SessionScreen
from tui.widgets.key_hints import KeyHints

SIZE = (200, 50)


@pytest.fixture
async def store(tmp_path, monkeypatch):
    """A completed session, then (newest, listed first) one that failed: every call overloaded."""
    original = resuming.load_resumable

    async def instant(store, wanted, choices, user=None):  # the simulated provider at full speed
        return await original(store, wanted, replace(choices, speed=0), user)

    monkeypatch.setattr(resuming, "load_resumable", instant)
    async with await SessionStore.open(tmp_path / "browse.db") as store:
        await record(store, task="Write the on-call runbook", pattern="review")
        await record(store, task="Plan the data retention policy", pattern="discussion",
                     provider=SimulatedProvider(seed=1, speed=0, faults=parse_faults("overload")))
        yield store


async def test_r_resumes_a_failed_session_in_the_live_screen(store: SessionStore) -> None:
    failed = (await store.list_sessions())[0]
    assert failed.status == "failed"
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="rows")
        assert "Resume" in str(app.screen.query_one(KeyHints).render())

        await pilot.press("r")

        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="live screen")
        live = app.screen.live
        assert live is not None and live.session_id == failed.id
        await until(pilot, lambda: live.finished is not None and not live.running, what="the session's end")
        assert live.finished.status == "completed"
        assert app.screen.view.task == "Plan the data retention policy"  # its record shown, then its run
    row = await store.get_session(failed.id)
    assert row.status == "completed" and row.last_seq > failed.last_seq
    assert await store.count_sessions() == 2


async def test_r_on_a_completed_session_says_why_not(store: SessionStore) -> None:
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="rows")
        screen = app.screen
        screen.query_one(DataTable).move_cursor(row=1)
        completed = screen.current()
        assert completed is not None and completed.status == "completed"

        await pilot.press("r")

        await until(pilot, lambda: any("nothing to resume" in n.message for n in app._notifications), what="notice")
        assert isinstance(app.screen, BrowserScreen)
        [notice] = [n for n in app._notifications if "nothing to resume" in n.message]
        assert notice.message == f"session {completed.id} completed: there is nothing to resume"
    assert (await store.get_session(completed.id)).last_seq == completed.last_seq

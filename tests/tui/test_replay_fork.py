"""`f` in replay: fork the session at the moment shown, with an edited reply, into a live
screen; a form that cannot fork says why and starts nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input, Static, TextArea

from engine.events import CallFinished
from sessions.store import SessionStore
from tests.sessions.helpers import record
from tests.tui.helpers import until
from tui.screens import fork as fork_screen
from tui.app import make_app
from tui.screens.fork import ForkScreen
from tui.screens.replay import ReplayScreen
from tui.screens.session import SessionScreen
from tui.widgets.key_hints import KeyHints

SIZE = (200, 50)


@pytest.fixture
async def store(tmp_path, monkeypatch):
    """One completed orchestrator session; forks run the simulated provider at full speed."""
    original = fork_screen.load_forkable

    async def instant(store, wanted, choices, user=None):
        return await original(store, wanted, replace(choices, speed=0), user)

    monkeypatch.setattr(fork_screen, "load_forkable", instant)
    async with await SessionStore.open(tmp_path / "fork.db") as store:
        await record(store, task="Write the on-call runbook")
        yield store


async def replay_at_research(app, pilot, store: SessionStore) -> tuple[ReplayScreen, CallFinished]:
    """The app replaying the session, stopped at the researcher's reply."""
    [row] = await store.list_sessions()
    app.open_replay(row)
    await until(pilot, lambda: isinstance(app.screen, ReplayScreen) and app.screen.replay.complete, what="replay loaded")
    screen = app.screen
    research = next(e for e in screen.replay.events if isinstance(e, CallFinished) and e.agent == "researcher")
    screen.playing = False
    await screen._move_to(screen.replay.index_of_seq(research.seq))
    await pilot.pause()
    return screen, research


async def test_f_forks_at_a_reply_with_the_reply_edited_into_a_live_session(store: SessionStore) -> None:
    app = make_app(store=store, start=None)
    async with app.run_test(size=SIZE) as pilot:
        replay, research = await replay_at_research(app, pilot, store)
        assert "Fork here" in str(replay.query_one(KeyHints).render())

        await pilot.press("f")

        await until(pilot, lambda: isinstance(app.screen, ForkScreen), what="the fork form")
        reply = app.screen.query_one("#reply", TextArea)
        assert reply.has_focus and reply.text == research.text  # what it edits, whole
        reply.text = "Use a token bucket per key."
        await pilot.press("ctrl+s")

        await until(pilot, lambda: isinstance(app.screen, SessionScreen) and app.screen.live is not None, what="live")
        live = app.screen.live
        await until(pilot, lambda: live.finished is not None and not live.running, what="the fork's end")
        assert live.finished.status == "completed"
    parent, = [row for row in await store.list_sessions() if row.parent_id is None]
    forked = await store.get_session(live.session_id)
    assert (forked.parent_id, forked.forked_at) == (parent.id, research.seq)
    events = await store.load_events(forked.id)
    again = next(e for e in events if isinstance(e, CallFinished) and e.call_key == research.call_key)
    assert again.recorded and again.text == "Use a token bucket per key."
    assert events[0].forked_from.changes == [f"researcher's reply at #{research.seq} edited"]


async def test_a_form_that_cannot_fork_says_why_and_starts_nothing(store: SessionStore) -> None:
    app = make_app(store=store, start=None)
    async with app.run_test(size=SIZE) as pilot:
        await replay_at_research(app, pilot, store)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ForkScreen), what="the fork form")
        form = app.screen
        form.query_one("#tokens", Input).value = "0"

        await pilot.press("ctrl+s")

        error = str(form.query_one("#error", Static).render())
        assert "tokens must be more than zero" in error
        assert app.screen is form
        await pilot.press("escape")
        assert isinstance(app.screen, ReplayScreen)
    assert await store.count_sessions() == 1

"""`huddle attach`: the live screen of a session another process runs, followed through the
store. A LiveSession records into a store in the test's loop, as another process would; an
attached screen on the same store shows what a local live screen would at the same event,
and a decision taken in its dialog reaches the session through the store."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

from engine.events import EscalationResolved, EventBase, SessionFinished
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderEvent, ProviderRequest, TextDelta
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.decisions import decider
from sessions.liveness import HOST
from sessions.opening import open_store
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY
from tests.sessions.helpers import record
from tests.tui.helpers import until
from tests.tui.test_help import check_help
from tui.app import HuddleApp
from tui.following import Follower
from tui.recording import LiveSession
from tui.screens.approval import ApprovalScreen
from tui.screens.attached import AttachedScreen
from tui.view import SessionView
from tui.widgets.details import DetailsPane
from tui.widgets.session_header import SessionHeader

SIZE = (160, 45)
HELD_AFTER = 6
"""Text pieces the researcher's reply streams before it is held."""


class HeldProvider(SimulatedProvider):
    """The simulated provider, instant, holding the researcher's reply after a few pieces
    until `go` is set: the session is then mid-way, an agent mid-reply."""

    def __init__(self) -> None:
        super().__init__(seed=3, speed=0)
        self.go = asyncio.Event()

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        pieces = 0
        async for event in super().stream(request):
            yield event
            if request.agent == "researcher" and isinstance(event, TextDelta):
                pieces += 1
                if pieces == HELD_AFTER:
                    await self.go.wait()


def running_session(store: SessionStore, provider: Any, policy: str = "ask") -> tuple[LiveSession, list[EventBase]]:
    """A session recorded into `store` as another huddle would run it, and every event it
    emits, as a local live screen gets them."""
    live = LiveSession(
        SessionSpec(task="Design a rate limiter", policy=ApprovalPolicy(default=policy), seed=3), provider,
        EngineConfig(retry=FAST_RETRY, call_timeout=5), store=store,
    )
    events: list[EventBase] = []
    live.bus.listen(events.append)
    return live, events


def seen(view: SessionView) -> dict[str, Any]:
    """What a session's screen shows, field by field: panels (status, totals, text), steps,
    timeline, budgets, what waits and what was decided."""
    return {
        "seq": view.seq,
        "status": (view.status, view.finished, view.result, view.partial),
        "agents": {
            name: (agent.status, agent.calls, agent.totals, list(agent.lines), agent.partial, agent.last_reply)
            for name, agent in view.agents.items()
        },
        "steps": {step_id: (step.status, step.assigned_to) for step_id, step in view.steps.items()},
        "plan": (view.plan, view.plan_revision),
        "timeline": [(e.seq, e.offset, e.agent, e.icon, e.text, e.style, e.ref) for e in view.timeline],
        "budgets": (view.budget, view.spent, view.totals),
        "pending": list(view.pending),
        "decisions": dict(view.decisions),
    }


def local_view(events: list[EventBase], seq: int) -> SessionView:
    """The view a local live screen folds from the same events, up to `seq`."""
    view = SessionView()
    view.apply_all([event for event in events if event.seq <= seq])
    return view


async def wait_recorded(store: SessionStore, live: LiveSession) -> None:
    """Until the session's row is in the store (its start is committed within 0.1 s)."""
    for _ in range(500):
        if await store.count_sessions() and await store.event_count(live.session_id):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the session was not recorded")


async def test_the_attached_screen_shows_what_a_local_live_screen_shows_and_decides_through_the_store(tmp_path):
    async with await SessionStore.open(tmp_path / "attach.db") as store:
        provider = HeldProvider()
        live, events = running_session(store, provider)
        running = asyncio.create_task(live.run())
        try:
            await wait_recorded(store, live)
            row = await store.get_session(live.session_id)
            app = HuddleApp(store=store, start=None, attach=row)
            async with app.run_test(size=SIZE) as pilot:
                screen = app.screen_stack[1]
                assert isinstance(screen, AttachedScreen)
                assert screen.mode == "attached"

                # Caught up: the plan waits for a person, and the dialog opens as on a live screen.
                await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current is not None,
                            what="the approval dialog")
                assert screen.view.seq == events[-1].seq  # everything the session emitted, read back
                assert seen(screen.view) == seen(local_view(events, screen.view.seq))
                assert list(screen.view.pending) == list(live.gate.pending)
                assert screen.query_one(SessionHeader).query_one("#badge").render().plain.startswith(" attached ")

                await pilot.press("enter")  # approve, from here
                await until(pilot, lambda: any(isinstance(e, EscalationResolved) for e in events), what="the decision taken")
                resolved = next(e for e in events if isinstance(e, EscalationResolved))
                assert (resolved.action, resolved.by, resolved.rule) == ("approve", "human", decider("attached"))
                assert resolved.rule.endswith(" attached") and "@" in resolved.rule

                # Mid-way: the coder's step is done, the researcher holds its reply after a few pieces
                # (nothing more comes meanwhile); the attached panels show what it streamed so far.
                def mid_way() -> bool:
                    coded = any(e.kind == "step.finished" and getattr(e, "step_id", "") == "s2" for e in events)
                    researcher = screen.view.agents.get("researcher")
                    return coded and researcher is not None and researcher.status == "streaming" and screen.view.seq == events[-1].seq

                await until(pilot, mid_way, what="the session mid-way, all of it shown")
                assert screen.view.agents["researcher"].partial or screen.view.agents["researcher"].lines
                assert seen(screen.view) == seen(local_view(events, screen.view.seq))
                assert screen.answering and screen.follower.following

                provider.go.set()
                await asyncio.wait_for(running, 30)
                details = screen.query_one(DetailsPane)
                await until(pilot, lambda: not screen.follower.following and details.entry is not None,
                            what="the end, shown in the details as a live screen shows it")
                assert seen(screen.view) == seen(local_view(events, events[-1].seq))
                assert screen.follower.ended is not None and screen.follower.ended.status == "completed"
                assert not screen.answering

                await pilot.press("q")  # leaving asks nothing
                await until(pilot, lambda: not app.is_running, what="the app to end")
        finally:
            provider.go.set()
            live.cancel()
            await asyncio.wait({running})
    assert live.finished is not None and live.finished.status == "completed"


async def test_detaching_leaves_the_session_running(tmp_path):
    async with await SessionStore.open(tmp_path / "attach.db") as store:
        live, events = running_session(store, SimulatedProvider(seed=3, speed=0))
        running = asyncio.create_task(live.run())
        try:
            await wait_recorded(store, live)
            app = HuddleApp(store=store, start="browser")
            async with app.run_test(size=SIZE) as pilot:
                browser = app.screen
                await until(pilot, lambda: bool(getattr(browser, "rows", None)), what="the browser's rows")
                await pilot.press("enter")  # a running session: attached, not replayed
                await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the dialog")
                attached = app.screen_stack[-2]
                assert isinstance(attached, AttachedScreen)
                await pilot.press("escape", "q")  # the dialog hidden, then detached: no question
                await until(pilot, lambda: app.screen is browser, what="back in the browser")
                assert live.running and not running.done() and list(live.gate.pending)
        finally:
            live.cancel()
            await asyncio.wait({running})
    assert live.finished is not None and live.finished.status == "cancelled"  # cancelled here, by the test


async def test_a_session_that_is_not_running_shows_its_record_and_says_so(tmp_path):
    async with await SessionStore.open(tmp_path / "attach.db") as store:
        recorded = await record(store)
        row = await store.get_session(recorded.finished.session_id)
        app = HuddleApp(store=store, start=None, attach=row)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            screen = app.screen_stack[1]
            assert isinstance(screen, AttachedScreen)
            await until(pilot, lambda: not screen.follower.following, what="the record read")
            await pilot.pause()
            assert seen(screen.view) == seen(local_view(recorded.events, recorded.events[-1].seq))
            assert not screen.follower.was_live and not screen.answering
            notices = [str(n.message) for n in app._notifications]
            assert any(f"Session {row.id} is not running (completed): this is its record." in m for m in notices)
            await check_help(pilot)  # `?` lists its keys: the session screen's, q and escape detaching


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


async def test_following_stops_when_the_sessions_process_died(tmp_path):
    path = tmp_path / "attach.db"
    async with await SessionStore.open(path) as store:
        recorded = await record(store, policy=ApprovalPolicy(default="approve"))
        session_id = recorded.finished.session_id
        last = max(e.seq for e in recorded.events if not isinstance(e, SessionFinished))
        connection = sqlite3.connect(path)
        with connection:  # as if its process had died before it finished, while this store is open
            connection.execute("DELETE FROM events WHERE session_id = ? AND seq > ?", (session_id, last))
            connection.execute("UPDATE sessions SET status = 'running', pid = ?, host = ?, last_seq = ? WHERE id = ?",
                               (dead_pid(), HOST, last, session_id))
        connection.close()
        follower = Follower(store, session_id, poll_s=0.01, check_s=0.05)
        read = [event async for page in follower.pages() for event in page]
    assert [e.seq for e in read] == list(range(1, last + 1))
    assert follower.ended is not None and follower.ended.status == "interrupted"
    assert "ended before the session did" in (follower.ended.reason or "")
    assert not follower.was_live  # it had ended before it was followed


async def test_the_follower_reads_new_events_as_they_are_committed(database):
    async with await open_store(database) as store:
        provider = HeldProvider()
        live, events = running_session(store, provider, policy="approve")
        running = asyncio.create_task(live.run())
        try:
            await wait_recorded(store, live)
            follower = Follower(store, live.session_id)
            pages: list[list[EventBase]] = []
            wait_for_change = store.wait_for_change

            async def waiting(session_id: str, timeout: float) -> bool:
                if follower.was_live:  # it caught up, and found the session held mid-way, live
                    provider.go.set()  # the rest comes while it follows
                return await wait_for_change(session_id, timeout)

            async def follow() -> None:
                async for page in follower.pages():
                    pages.append(page)

            store.wait_for_change = waiting  # type: ignore[method-assign]
            await asyncio.wait_for(asyncio.gather(follow(), running), 30)
        finally:
            provider.go.set()
            live.cancel()
            await asyncio.wait({running})
    read = [event for page in pages for event in page]
    assert [e.seq for e in read] == [e.seq for e in events]  # every event, once, in order
    assert len(pages) > 1 and follower.was_live
    assert follower.ended is not None and follower.ended.status == "completed"

"""The inbox: every escalation waiting in every running session of the store, answered from
one screen. Sessions here run as LiveSessions in the test's loop (approve policy "ask"),
recorded into the store the inbox reads, as `huddle run --approve inbox` runs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from engine.approvals import Decision
from engine.events import EscalationResolved, SessionFinished
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.decisions import Posted, decider
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY
from tests.tui.helpers import kept_notices, until
from tests.tui.scenes import recorded_session
from tui.app import HuddleApp, make_app
from tui.recording import LiveSession
from tui.screens.approval import ApprovalScreen
from tui.screens.browser import BrowserScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.inbox import InboxScreen, summary
from tui.screens.launch import LaunchScreen
from tui.posting import Outcome
from tui.widgets.session_header import SessionHeader

SIZE = (200, 50)
ASK = ApprovalPolicy(default="ask")
IN_THE_INBOX = decider("in the inbox")
MARKUP = "[@click=app.quit]boom[/] [b]bold[/b]"


def session(store: SessionStore, task: str, *, seed: int, session_id: str | None = None,
            clock: Any = None, **options: Any) -> LiveSession:
    """A session on the simulated provider that asks a person for every decision (its plan first)."""
    return LiveSession(
        SessionSpec(task=task, policy=ASK, seed=seed, options=options), SimulatedProvider(seed=seed, speed=0),
        EngineConfig(retry=FAST_RETRY, call_timeout=5, **({"clock": clock} if clock else {})),
        store=store, session_id=session_id,
    )


async def waiting_in(store: SessionStore, count: int) -> None:
    """Until `count` escalations wait in the store (a bounded look, as another process would)."""
    deadline = time.monotonic() + 10
    while len(await store.waiting_escalations()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} escalations did not come to wait")
        await asyncio.sleep(0.02)


class Running:
    """Sessions running in the test's loop, recorded into one store."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.sessions: list[LiveSession] = []
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self, live: LiveSession) -> LiveSession:
        """Run `live` until its first escalation waits in the store (so the order is known)."""
        self.sessions.append(live)
        self.tasks.append(asyncio.create_task(live.run()))
        await waiting_in(self.store, len(self.sessions))
        return live

    async def finish(self, timeout: float = 30) -> None:
        """Wait for every session to end."""
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout)

    async def stop(self) -> None:
        for live in self.sessions:
            live.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with await SessionStore.open(tmp_path / "inbox.db") as store:
        sessions = Running(store)
        try:
            yield sessions
        finally:
            await sessions.stop()


def inbox_of(app: HuddleApp) -> InboxScreen:
    screen = next((s for s in app.screen_stack if isinstance(s, InboxScreen)), None)
    assert screen is not None, app.screen_stack
    return screen


async def listing(pilot: Any, count: int) -> InboxScreen:
    """The inbox, once it lists `count` escalations."""
    await until(pilot, lambda: any(isinstance(s, InboxScreen) and s.loaded and len(s.items) == count
                                   for s in pilot.app.screen_stack), what=f"{count} escalations listed")
    return inbox_of(pilot.app)


async def resolved(store: SessionStore, session_id: str) -> list[EscalationResolved]:
    return [e for e in await store.load_events(session_id, limit=100_000) if isinstance(e, EscalationResolved)]


async def test_the_inbox_lists_every_session_and_decides_by_keys(running: Running) -> None:
    store = running.store
    rate = await running.start(session(store, "Design a rate limiter", seed=3))
    book = await running.start(session(store, "Write the on-call runbook", seed=4, max_plan_revisions=0))
    app = make_app(store=store, start="inbox")
    notices = kept_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        inbox = await listing(pilot, 2)
        assert [item.session_id for item in inbox.items] == [rate.session_id, book.session_id]  # oldest first
        table = inbox.query_one(DataTable)
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[1].startswith(f"{rate.session_id[:8]} Design a rate limiter")
        assert first[2:] == ["lead", "plan", "lead proposes a 4-step plan", "no timeout"]
        await until(pilot, lambda: app.waiting == 2, what="the app's count")
        stake = str(inbox.query_one("#stake", Static).render())
        assert "Proposed plan" in stake and "Review rate limiter" in stake  # the whole plan: its last step too

        await pilot.press("enter")  # the dialog, on the highlighted escalation
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current is not None, what="dialog")
        assert app.screen.current.escalation_id == "e1" and app.screen.host.session_id == rate.session_id
        await pilot.press("enter")  # approve
        await listing(pilot, 1)
        assert isinstance(app.screen, InboxScreen)

        await pilot.press("enter", "r")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.mode == "line", what="the reason")
        await pilot.press(*"Too broad: split it first")
        assert app.screen.query_one("#reason", Input).value == "Too broad: split it first"
        await pilot.press("enter")
        await listing(pilot, 0)
        await running.finish()
        await until(pilot, lambda: app.waiting == 0, what="the app's count")
        assert str(inbox.query_one("#empty", Static).render()) == "Nothing waits for you."
        assert inbox.query_one("#empty").display and not inbox.query_one(DataTable).display
        await until(pilot, lambda: len(notices) >= 2, what="the outcomes")
        assert f"session {rate.session_id[:8]}, e1: taken by the session." in notices
        assert f"session {book.session_id[:8]}, e1: taken by the session." in notices

    [approved] = await resolved(store, rate.session_id)
    [rejected] = await resolved(store, book.session_id)
    assert (approved.action, approved.by, approved.rule) == ("approve", "human", IN_THE_INBOX)
    assert (rejected.action, rejected.by, rejected.rule, rejected.reason) == ("reject", "human", IN_THE_INBOX, "Too broad: split it first")
    assert rate.finished is not None and rate.finished.status == "completed"
    assert book.finished is not None and book.finished.status == "stopped"  # a rejected plan is not revised (max 0)
    assert (await store.get_session(book.session_id)).status == "stopped"


async def test_marked_escalations_are_approved_at_once_after_a_look(running: Running) -> None:
    store = running.store
    rate = await running.start(session(store, "Design a rate limiter", seed=3))
    book = await running.start(session(store, "Write the on-call runbook", seed=4))
    app = make_app(store=store, start="inbox")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        inbox = await listing(pilot, 2)
        await pilot.press("A")  # nothing marked: nothing approved
        assert isinstance(app.screen, InboxScreen) and "Mark escalations with space first" in str(list(app._notifications)[-1].message)

        await pilot.press("space")  # marks the first, moves to the next
        assert inbox.marked == {inbox.items[0].key} and inbox.current() is inbox.items[1]
        await pilot.press("space")
        assert inbox.marked == {item.key for item in inbox.items}
        assert [str(inbox.query_one(DataTable).get_cell_at((row, 0))) for row in (0, 1)] == ["●", "●"]
        assert "2 marked" in str(inbox.query_one("#title", Static).render())

        await pilot.press("A")
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one("#question", Static).render())
        detail = str(app.screen.query_one("#detail", Static).render())
        assert question == "Approve 2 escalations?"
        assert f"{rate.session_id[:8]} · lead · plan: lead proposes a 4-step plan" in detail
        assert f"{book.session_id[:8]} · lead · plan" in detail
        await pilot.press("y")
        await until(pilot, lambda: any(n.title == "Approved 2 escalations" for n in app._notifications), what="the summary")
        notice = next(n for n in app._notifications if n.title == "Approved 2 escalations")
        assert str(notice.message) == "2 taken by their sessions"
        await running.finish()
        await listing(pilot, 0)
        assert not inbox.marked

    for live in (rate, book):
        [approved] = await resolved(store, live.session_id)
        assert (approved.action, approved.rule) == ("approve", IN_THE_INBOX)
        assert live.finished is not None and live.finished.status == "completed"


async def test_two_deciders_on_one_escalation_make_one_decision(running: Running) -> None:
    store = running.store
    rate = await running.start(session(store, "Design a rate limiter", seed=3))
    app = make_app(store=store, start=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app.push_screen(InboxScreen(refresh_s=3600))  # read once: it still shows the escalation below
        inbox = await listing(pilot, 1)
        item = inbox.items[0]
        elsewhere = Posted(rate.session_id, item.escalation_id, "approve", "approve", None, None, "once",
                           "bob@far in the inbox", time.time())
        first = await store.post_decision(elsewhere)
        again = await store.post_decision(Posted(rate.session_id, item.escalation_id, "reject", "reject", "no", None, "once",
                                                 "eve@near in the inbox", time.time()))
        assert first.first and not again.first and again.decided_by == "bob@far in the inbox"

        await pilot.press("enter")  # the inbox has not looked again: the dialog offers it
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current is not None, what="dialog")
        await pilot.press("r", *"not this", "enter")
        await until(pilot, lambda: any(n.title == "Not taken" for n in app._notifications), what="the refusal")
        refusal = str(next(n for n in app._notifications if n.title == "Not taken").message)
        assert refusal.startswith(f"session {rate.session_id[:8]}, e1: already decided by bob@far in the inbox at ")
        await running.finish()

    [decided] = await resolved(store, rate.session_id)  # bob's, once
    assert (decided.action, decided.rule) == ("approve", "bob@far in the inbox")
    taken = await store.posted(rate.session_id, item.escalation_id)
    assert taken is not None and taken.decided_by == "bob@far in the inbox" and taken.outcome == "taken"


async def test_the_cursor_stays_on_its_escalation_as_others_go(running: Running) -> None:
    store = running.store
    rate = await running.start(session(store, "Design a rate limiter", seed=3))
    book = await running.start(session(store, "Write the on-call runbook", seed=4))
    app = make_app(store=store, start="inbox")
    async with app.run_test(size=SIZE) as pilot:
        inbox = await listing(pilot, 2)
        await pilot.press("down")
        assert inbox.current().session_id == book.session_id
        await store.post_decision(Posted(rate.session_id, "e1", "approve", "approve", None, None, "once", "bob@far in the inbox", time.time()))
        await listing(pilot, 1)  # decided elsewhere: gone, and the cursor is where it was
        assert inbox.current().session_id == book.session_id
        assert inbox.query_one(DataTable).cursor_row == 0


async def test_stored_text_shows_literally_in_the_inbox(running: Running) -> None:
    store = running.store
    await running.start(session(store, f"{MARKUP} design \x1b[2J", seed=3))
    app = make_app(store=store, start="inbox")
    async with app.run_test(size=SIZE) as pilot:
        inbox = await listing(pilot, 1)
        session_cell = inbox.query_one(DataTable).get_row_at(0)[1]
        assert "[@click=app.quit]boom[/]" in session_cell.plain and "\x1b" not in session_cell.plain
        stake = str(inbox.query_one("#stake", Static).render())
        assert MARKUP in stake and "\x1b" not in stake  # the title and the plan's steps, as text
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current is not None, what="dialog")
        assert app.is_running


@pytest.fixture
def past() -> list[Any]:
    """A recorded session's events (made outside the test's loop: it runs a session of its own)."""
    return list(recorded_session())


async def test_every_screen_counts_what_waits_and_ctrl_b_opens_the_inbox(running: Running, past: list[Any]) -> None:
    store = running.store
    await running.start(session(store, "Design a rate limiter", seed=3))
    app = make_app(store=store, events=past)  # a past session's screen
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.waiting == 1, what="the count")
        badge = app.screen.query_one(SessionHeader).query_one("#inbox", Static)
        await until(pilot, lambda: badge.display, what="the header's count")
        assert "⚑ 1 waiting · ctrl+b" in str(badge.render())

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="browser")
        assert "⚑ 1 waiting · ctrl+b" in str(app.screen.query_one("#title", Static).render())

        await pilot.press("ctrl+n")  # the launch screen, the task being written
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="launch screen")
        assert "⚑ 1 waiting · ctrl+b" in str(app.screen.query_one("#title", Static).render())
        await pilot.press("ctrl+b")  # not typed into the task
        await listing(pilot, 1)
        assert isinstance(app.screen, InboxScreen)
        await pilot.press("ctrl+b")  # already there: not a second one
        assert sum(isinstance(s, InboxScreen) for s in app.screen_stack) == 1
        await pilot.press("q")
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen)
        await running.stop()
        await until(pilot, lambda: app.waiting == 0, what="the count to clear")
        assert "waiting" not in str(app.screen.query_one("#title", Static).render())


async def test_an_empty_inbox_says_so_and_names_its_keys(tmp_path: Path) -> None:
    async with await SessionStore.open(tmp_path / "keys.db") as store:
        app = make_app(store=store, start="inbox")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen.loaded, what="inbox")
            assert "Nothing waits for you." in str(app.screen.query_one("#empty", Static).render())
            hints = str(app.screen.query_one("KeyHints").render())
            assert all(key in hints for key in ("enter Decide", "space Mark", "A Approve marked", "q Back"))


def test_a_summary_says_what_became_of_each_decision() -> None:
    assert summary([Outcome(True, "taken by the session")] * 2) == "2 taken by their sessions"
    assert summary([
        Outcome(True, "taken by the session"),
        Outcome(False, "already decided by bob@far in the inbox at 10:40:05"),
        Outcome(True, "sent; the session has not taken it yet"),
        Outcome(False, "escalation e3: Edit asks for the payload: decide it in the inbox"),
    ]) == (
        "1 taken by its session · 1 sent, not taken yet (each session takes it as soon as it looks) · "
        "1 already decided by bob@far in the inbox at 10:40:05 · "
        "1 not taken: escalation e3: Edit asks for the payload: decide it in the inbox"
    )
    assert summary([Outcome(False, "already decided by a at 1"), Outcome(False, "already decided by b at 2")]) == (
        "2 already decided (by a at 1, …)"
    )


async def test_a_finished_session_is_not_in_the_inbox(running: Running) -> None:
    store = running.store
    live = await running.start(session(store, "Design a rate limiter", seed=3))
    live.gate.policy = ApprovalPolicy(default="approve")
    for pending in list(live.gate.pending):
        live.gate.resolve(pending, Decision("approve"))
    await running.finish()
    assert isinstance(live.finished, SessionFinished)
    app = make_app(store=store, start="inbox")
    async with app.run_test(size=SIZE) as pilot:
        inbox = await listing(pilot, 0)
        assert inbox.query_one("#empty").display


# -- what it looks like ------------------------------------------------------------------

SNAPSHOT_DB = Path("/tmp/huddle-snapshots/inbox.db")
"""A fixed path: the inbox's title shows it."""
T0 = 1_800_000_000.0


class InboxApp(HuddleApp):
    """Runs two sessions asking for their plans on a store of its own loop; stops them and
    closes the store when it ends."""

    CSS_PATH = str(Path(__file__).parents[2] / "tui" / "app.tcss")

    running: Running | None = None

    async def on_unmount(self) -> None:
        if self.running is not None:
            await self.running.stop()
            await self.running.store.close()


@pytest.fixture
def stable(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Times in UTC, a fixed config path, a fresh database at a fixed path."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("HUDDLE_CONFIG_DIR", "/nonexistent/huddle-config")
    time.tzset()
    SNAPSHOT_DB.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SNAPSHOT_DB}{suffix}").unlink(missing_ok=True)
    yield
    time.tzset()


def test_the_inbox(snap_compare: Any, stable: Any) -> None:
    """You should see "huddle · inbox · 2 escalations waiting in 2 sessions · 1 marked";
    two rows, oldest first: a mark (●) on the first, "5e55a1e0 Design a rate limiter…" and
    "5e55b00c Write the on-call runbook", each "lead", "plan", "lead proposes a 4-step plan"
    and "no timeout", the cursor on the second; under a rule, the second one whole: its
    session, "lead asks: plan · asked at 08:00:05, 55s ago · no timeout", why, the rule and
    options, and the proposed plan step by step with each step's instructions; the keys."""

    async def open_inbox(pilot: Any) -> None:
        app = pilot.app
        store = await SessionStore.open(SNAPSHOT_DB)
        app.running = Running(store)
        for seed, task, session_id, at in ((3, "Design a rate limiter for our public REST API", "5e55a1e0c0de", T0),
                                           (4, "Write the on-call runbook", "5e55b00cc0de", T0 + 5)):
            await app.running.start(session(store, task, seed=seed, session_id=session_id, clock=lambda at=at: at))
        app.store = store
        await app.push_screen(InboxScreen(refresh_s=3600, clock=lambda: T0 + 60))
        await listing(pilot, 2)
        await pilot.press("space")  # marks the first, moves to the second
        await pilot.pause(0.2)

    assert snap_compare(InboxApp(start=None), terminal_size=(160, 40), run_before=open_inbox)

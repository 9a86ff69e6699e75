"""HuddleApp: the terminal app. `make_app` builds it for the command line and for tests.

It holds the session database (one store, shared by recording, the browser
and replay) and moves between the launch screen, live sessions, the browser
and replays.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.worker import Worker

from engine.events import EventBase
from engine.formats import plural
from sessions.errors import StoreError
from sessions.rows import SessionRow
from sessions.store import SessionStore
from tui import logs
from tui.commands import HuddleCommands
from tui.recording import LiveSession
from tui.screens.confirm import ConfirmScreen, Question
from tui.safe import clean
from tui.screens.session import SessionScreen
from tui.setup import Setup

if TYPE_CHECKING:
    from tui.forking import Forkable
    from tui.resuming import Resumable

log = logging.getLogger(__name__)

WAITING_EVERY_S = 1.0
"""How often the app counts the escalations waiting in the store (`HuddleApp.waiting`)."""
STOP_WAIT_S = 10.0
"""How long an app that has exited waits for the sessions it ran to record their ends (`wind_down`)."""

Start = Literal["launch", "browser", "inbox", "session"] | None
"""The first screen; None for none (a caller pushes its own)."""


class HuddleApp(App[None]):
    """Launch, watch and steer teams of agents; browse and replay past sessions."""

    CSS_PATH = "app.tcss"
    TITLE = "huddle"
    COMMANDS = App.COMMANDS | {HuddleCommands}
    BINDINGS = [
        Binding("ctrl+q", "leave", "Quit", id="app.quit", tooltip="Leave huddle (asks first while a session runs)", priority=True),
        Binding("ctrl+n", "launch", "New session", id="app.launch", show=False),
        Binding("ctrl+o", "browse", "Sessions", id="app.browse", show=False),
        Binding("ctrl+b", "inbox", "Inbox", id="app.inbox", show=False,
                tooltip="Every escalation waiting for you, in every running session"),
        Binding("question_mark,f1", "help", "Keys", id="app.help", priority=True,
                tooltip="The keys of this screen, a line each (again to close)"),
    ]

    waiting: reactive[int] = reactive(0, init=False)
    """How many escalations wait for a person in the store's running sessions (`count_waiting`,
    every `WAITING_EVERY_S`): the count the screens' headers show."""

    def __init__(
        self,
        *,
        store: SessionStore | None = None,
        live: LiveSession | None = None,
        events: list[EventBase] | None = None,
        start: Start = "launch",
        attach: SessionRow | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self._live = live
        self._events = events
        self._start = start
        self._attach = attach
        self.sessions: list[LiveSession] = [live] if live is not None else []
        """Every live session started in this app, so quitting can stop the running ones."""
        self.crash = ""
        """The line that tells the person why the app ended, if a bug ended it."""
        self._counting: Worker[None] | None = None

    def on_mount(self) -> None:
        # Everything loaded so far (Textual, pydantic's schemas, the engine) lives as
        # long as the app: moving it out of the collector's reach cuts the pauses of
        # full collections while agents stream from ~60 ms to ~15 ms.
        gc.collect()
        gc.freeze()
        self.set_interval(WAITING_EVERY_S, self.count_waiting)
        self.count_waiting()
        if self._live is not None or self._events is not None:
            self.push_screen(SessionScreen(self._live, events=self._events))
        elif self._attach is not None:
            self.attach(self._attach)
        elif self._start == "browser":
            self.action_browse()
        elif self._start == "inbox":
            self.action_inbox()
        elif self._start is not None:
            self.action_launch()

    # -- text from outside ----------------------------------------------------------------

    def notify(
        self, message: str, *, title: str = "", severity: SeverityLevel = "information",
        timeout: float | None = None, markup: bool = True,
    ) -> None:
        """Every notification (widgets and screens send theirs here) as plain text through
        the gate: they quote errors, paths and names huddle did not write."""
        super().notify(clean(message), title=clean(title), severity=severity, timeout=timeout, markup=False)

    def _handle_exception(self, error: Exception) -> None:
        """A bug that ends the app: its traceback (secrets redacted) goes to the log, and
        the app leaves one line naming it (`_fatal_error`), not a traceback whose locals
        could hold a key or a model's text."""
        self.crash = logs.internal_error(error, "the app")
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        self.bell()
        self.panic(Text(clean(f"huddle: {self.crash}")))

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Paste):  # pasted text is drawn as it is: no escapes in it
            event.text = clean(event.text)
        await super().on_event(event)

    # -- moving between screens ------------------------------------------------------

    def action_launch(self, pattern: str | None = None, team: str | None = None) -> None:
        from tui.screens.launch import LaunchScreen

        self.push_screen(LaunchScreen(pattern=pattern, team=team))

    def action_browse(self) -> None:
        from tui.screens.browser import BrowserScreen

        if self.store is None:
            self.notify("No session database is open.", severity="warning")
            return
        self.push_screen(BrowserScreen())

    def action_inbox(self) -> None:
        from tui.screens.inbox import InboxScreen

        if self.store is None:
            self.notify("No session database is open.", severity="warning")
            return
        if not isinstance(self.screen, InboxScreen):
            self.push_screen(InboxScreen())

    def count_waiting(self) -> None:
        """Count what waits for a person in the store, in the background, into `waiting`
        (not again while the last count is still reading)."""
        if self.store is not None and (self._counting is None or self._counting.is_finished):
            self._counting = self.run_worker(self._count_waiting(self.store), name="inbox count", group="inbox-count")

    async def _count_waiting(self, store: SessionStore) -> None:
        try:
            self.waiting = len(await store.waiting_escalations())
        except StoreError as error:  # locked for a moment, say: the count stays as it was
            log.warning("escalations waiting could not be counted: %s", error)

    def start_session(self, setup: Setup) -> None:
        """Run a session set up on the launch screen, recorded, in a live screen."""
        self._watch(LiveSession(setup.spec, setup.provider, setup.config, store=self.store))

    def resume_session(self, found: Resumable) -> None:
        """Carry a recorded session on in its own record, in a live screen that shows
        what it recorded first (`tui.resuming`)."""
        setup = found.setup
        live = LiveSession(setup.spec, setup.provider, setup.config, store=self.store, resume=found.events)
        self._watch(live, found.events)

    def fork_session(self, found: Forkable) -> None:
        """Run a fork of a recorded session (`tui.forking`), recorded, in a live screen: its
        replayed part shows as it is emitted again, then the live part."""
        setup = found.setup
        self._watch(LiveSession(setup.spec, setup.provider, setup.config, store=self.store, record=found.record))

    def _watch(self, live: LiveSession, before: list[EventBase] | None = None) -> None:
        """A live screen on `live` (after `before`, what its record held), which runs it."""
        self.sessions.append(live)
        self.push_screen(SessionScreen(live, events=before))

    def open_replay(self, row: SessionRow) -> None:
        from tui.screens.replay import ReplayScreen

        store = self.store
        assert store is not None

        async def load(after: int, limit: int) -> list[EventBase]:
            return await store.load_events(row.id, after_seq=after, limit=limit)  # type: ignore[return-value]

        self.push_screen(ReplayScreen(load, row.last_seq, session_id=row.id))

    def attach(self, row: SessionRow) -> None:
        """The live screen of a session another process runs, followed through the store,
        its escalations answered from here (`tui.screens.attached`)."""
        from tui.screens.attached import AttachedScreen

        assert self.store is not None
        self.push_screen(AttachedScreen(self.store, row))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(self.screen))

    # -- leaving -------------------------------------------------------------------------

    def back(self, *, exit: bool = True) -> None:
        """Back to the screen below the current one; from the first screen, out of
        huddle (or, with `exit=False`, nowhere)."""
        if len(self.screen_stack) > 2:  # the first is Textual's own default screen
            self.pop_screen()
        elif exit:
            self.exit()

    def stop_sessions(
        self, sessions: list[LiveSession], question: Callable[[list[LiveSession]], Question], then: Callable[[], object]
    ) -> None:
        """Ask whether to stop `sessions`, in the words `question` gives for those of them
        still running; once confirmed, cancel them, wait until each has stopped and its
        recording is committed, then call `then`. The question follows the sessions: one
        that ends while it is open is no longer in it (with none left, it only asks `then`)."""
        dialog = ConfirmScreen.asking(question(sessions))

        async def follow() -> None:
            for live in sessions:
                await live.stopped()
                dialog.ask(question([live for live in sessions if live.running]))

        async def stop() -> None:
            await stop_all(sessions)
            then()

        def answered(confirmed: bool | None) -> None:
            following.cancel()
            if confirmed:
                self.run_worker(stop(), name="stopping", group="stopping", exclusive=True)

        following = self.run_worker(follow(), name="quit question", group="quit-question", exclusive=True)
        self.push_screen(dialog, callback=answered)

    async def wind_down(self) -> None:
        """Once the app has exited: stop the sessions it still runs (Textual cancelled the
        workers running them) and wait until each has recorded its end, `STOP_WAIT_S` at
        most; the store is closed next."""
        with suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await stop_all(self.sessions)

    def action_leave(self) -> None:
        running = [live for live in self.sessions if live.running]
        if not running:
            self.exit()
            return
        self.stop_sessions(running, quit_question, then=self.exit)


def quit_question(running: list[LiveSession]) -> Question:
    if not running:
        return Question("Every session has finished. Quit?", "Their records are complete.", "Quit", danger=False)
    return Question(
        f"Stop {plural(len(running), 'running session')} and quit?",
        "Stopped sessions are recorded as cancelled; finished work is kept.",
        "Stop and quit",
    )


async def stop_all(sessions: list[LiveSession]) -> None:
    """Cancel the sessions, then wait until each has stopped and its recording is committed."""
    for live in sessions:
        live.cancel()
    for live in sessions:
        await live.stopped()


async def run_app(app: HuddleApp) -> None:
    """Run the app until it exits, then let the sessions it ran record their ends (`wind_down`)."""
    try:
        await app.run_async()
    finally:
        await app.wind_down()


def make_app(
    live: LiveSession | None = None,
    *,
    store: SessionStore | None = None,
    events: list[EventBase] | None = None,
    start: Start = "launch",
    attach: SessionRow | None = None,
) -> HuddleApp:
    """The app on a live session, on a session's recorded `events`, attached to a session
    another process runs (`attach`), or at `start`."""
    return HuddleApp(store=store, live=live, events=events, start=start, attach=attach)

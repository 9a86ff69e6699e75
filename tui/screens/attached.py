"""AttachedScreen: the live screen of a session another process runs (`huddle attach`).

It catches up from the record, then follows new events as they are committed
(`tui.following`), into the same panels, timeline, gauges and clock as a live screen.
Escalations are answered from here: the approval dialog opens when one waits, and a
decision travels to the session through the store (`tui.remote_approvals`), recorded as
"user@host attached". Leaving detaches: the session keeps running, nothing is asked. A
session that ends while followed shows its end as a live one does; one that was no
longer running when attached shows its record, and says so.
"""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message

from engine.approvals import Decision
from engine.events import EscalationRequested
from sessions.decisions import decider
from sessions.errors import StoreError
from sessions.rows import LIVE_STATES, SessionRow
from sessions.store import SessionStore
from tui.bridge import EventsArrived
from tui.following import Follower, ended_line
from tui.remote_approvals import RemoteApprovals
from tui.screens.session import SessionScreen
from tui.screens.workers import CancelWorkersFirst
from tui.widgets.budget_bar import BudgetBar
from tui.widgets.key_hints import KeyHints

WHERE = "attached"
"""Where its decisions are taken, as the session records who took them ("ana@build-3 attached")."""


class AttachedScreen(CancelWorkersFirst, SessionScreen):
    """Follow session `row` through `store` and answer its escalations, as `by`."""

    BINDINGS = [
        Binding("q", "leave", "Detach", id="attached.detach", tooltip="Leave this screen; the session keeps running"),
        Binding("escape", "leave", "Detach", show=False, id="attached.escape", tooltip="Leave this screen; the session keeps running"),
    ]

    class CaughtUp(Message):
        """Everything recorded before it was attached is shown: what waits can be answered."""

    class Ended(Message):
        """The session is no longer running; `row` says how it ended."""

        def __init__(self, row: SessionRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, store: SessionStore, row: SessionRow, *, by: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.row = row
        """The session's row as it was when attached."""
        self.session_id = row.id
        self.follower = Follower(store, row.id)
        self.by = by or decider(WHERE)
        """Who decides from here, and from where (`sessions.decisions.decider`)."""
        self.remote: RemoteApprovals | None = None
        """How decisions go to the session: made once mounted (it notifies through the app)."""

    def compose_bottom(self) -> ComposeResult:
        yield BudgetBar(id="budget")
        shared = [b for b in SessionScreen.BINDINGS if b.action != "leave"]
        yield KeyHints([*shared, *self.BINDINGS])

    def on_mount(self) -> None:
        # SessionScreen's own on_mount follows this one: Textual calls each class's handler.
        self.remote = RemoteApprovals(
            self.app, self.store, self.session_id, lambda: list(self.view.pending.values()), by=self.by,
        )
        self.set_interval(1.0, self._tick)  # its clock runs between events, as a live one's
        self._follow()
        if self.row.status in LIVE_STATES:
            where = f", run by pid {self.row.pid} on {self.row.host}" if self.row.pid is not None else ""
            said = f"Attached to session {self.session_id[:8]}{where}. q detaches: the session keeps running."
            self.notify(said, timeout=6, markup=False)  # the host is another machine's name: plain text

    @property
    def mode(self) -> str:
        return WHERE

    @work(group="following", exclusive=True)
    async def _follow(self) -> None:
        """Post each page of events as it is read; once caught up, say so; at the end, how it ended."""
        follower = self.follower
        told = False
        try:
            async for page in follower.pages():
                self.post_message(EventsArrived(page))
                if follower.caught_up and not told:
                    told = True
                    self.post_message(self.CaughtUp())
        except StoreError as error:  # unreadable now (damaged, deleted): what was read stays shown
            self.notify(str(error), title="No longer following the session", severity="error", timeout=30, markup=False)
            return
        assert follower.ended is not None
        self.post_message(self.Ended(follower.ended))

    @on(CaughtUp)
    def _caught_up(self) -> None:
        if self._approvals is None and self.answering:
            self._pending_changed()  # escalations that waited before it was attached

    @on(Ended)
    def _ended(self, message: Ended) -> None:
        row = message.row
        if not self.view.finished:  # its process died, or its recording failed: the row tells
            self.view.status, self.view.reason = row.status, row.reason
            self.view.pending.clear()  # nobody answers them now
            self._pending_changed()
        if self.view.finished:
            self._show_result()  # as a live screen shows its end
        if not self.follower.was_live:
            self.notify(f"Session {row.id} is not running ({row.status}): this is its record.", timeout=6, markup=False)
        elif not self.view.finished:
            line = ended_line(row)
            self.notify(f"{line[:1].upper()}{line[1:]}.", title="The session ended", severity="warning", timeout=30, markup=False)
        self._tick()

    def elapsed(self) -> float:
        view = self.view
        if self.follower.ended is not None and not view.finished and view.last_ts is not None:
            return max(0.0, view.offset(view.last_ts))  # it ended without a word: its clock stops at its last event
        return super().elapsed()

    # -- approvals: through the store --------------------------------------------------

    @property
    def answering(self) -> bool:
        return self.remote is not None and self.follower.caught_up and self.follower.following

    def pending_escalations(self) -> list[EscalationRequested]:
        return self.remote.pending_escalations() if self.remote is not None else []

    def decide(self, escalation_id: str, decision: Decision) -> None:
        assert self.remote is not None
        self.remote.decide(escalation_id, decision)

    def allow_always(self, trigger: str) -> None:
        assert self.remote is not None
        self.remote.allow_always(trigger)

    def allow_tool(self, escalation_id: str, *, exact: bool) -> str:
        assert self.remote is not None
        return self.remote.allow_tool(escalation_id, exact=exact)

    def now(self) -> float:
        return time.time()  # the session's clock is its process's: the wall clock

    def action_approvals(self) -> None:
        if self.view.pending and self.answering and not self.pending_escalations():
            self.notify("Your decision was sent: the session takes it as soon as it looks.", timeout=3)
            return
        super().action_approvals()

    # -- leaving -----------------------------------------------------------------------

    def action_leave(self) -> None:
        if self.follower.following:
            self.notify(f"Detached from session {self.session_id[:8]}: it keeps running.", timeout=4, markup=False)
        self.app.back()  # type: ignore[attr-defined]

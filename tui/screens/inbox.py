"""InboxScreen: every escalation waiting for a person, in every running session in the
store, oldest first: decide one in the approval dialog, or mark several and approve them
at once after a look.

The list is read again every half second (the cursor stays on the escalation it was on);
the pane under it shows the highlighted escalation's whole payload (the plan, the tool's
input), so what is approved is seen whole. Decisions travel through the store
(`tui.posting`) to the process running each session, recorded as taken by
"user@host in the inbox".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Static

from engine.approvals import Decision, DecisionError
from engine.events import EscalationRequested
from engine.formats import plural, preview
from sessions.errors import StoreError
from sessions.store import SessionStore
from tui.code_view import input_content, sandbox_content
from tui.posting import Outcome, post_decision
from tui.remote_approvals import RemoteApprovals
from tui.render import pretty, proposed_plan
from tui.screens.approval import ApprovalScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.workers import CancelWorkersFirst
from tui.waiting import Waiting, age, asked_at, countdown, inbox_decider, plain_decision, waiting
from tui.widgets.key_hints import KeyHints
from tui.widgets.scroll_box import ScrollBox

REFRESH_S = 0.5
"""How often the list is read again while it shows."""
MARK = "●"
COLUMNS = (("mark", "", 1), ("session", "Session", 34), ("agent", "Agent", 12), ("trigger", "Trigger", 14),
           ("stake", "At stake", 0), ("timeout", "Timeout", 16))
"""Every column (key, label, width), from 120 cells wide; what is at stake takes what is left."""
COMPACT = (("mark", "", 1), ("session", "Session", 20), ("agent", "Agent · trigger", 16),
           ("stake", "At stake", 0), ("timeout", "Timeout", 10))
"""The columns under 120 cells wide: agent and trigger share one."""
COMPACT_BELOW = 120
ASK_AT_MOST = 8
"""The confirmation of `A` names at most this many escalations, then says how many more."""

Clock = Callable[[], float]


def stake(item: Waiting, now: float) -> Content:
    """All of what a decision on `item` decides: where it waits, why, under which rule, its
    timeout, and its whole payload (of an escalation through the gate, shown as Content)."""
    e, row = item.escalation, item.row
    parts: list[Content | str | tuple[str, str]] = [
        ("session ", "dim"), (row.id, "bold"), " · ", row.title.strip(), (f" · {row.pattern}", "dim"), "\n",
        (e.agent or "the session", "bold $text-accent"), " asks: ", (e.trigger, "bold"),
        (f" · asked at {asked_at(e)}, {age(e, now)} ago · {countdown(e, now)}", "dim"), "\n",
        ("Why: ", "bold"), e.reason, "\n",
        ("Rule: ", "bold"), e.rule, ("  ·  options: " + ", ".join(e.options), "dim"), "\n",
    ]
    if e.tool is not None:
        server = e.tool.server
        parts += [("Tool: ", "bold"), e.tool.short_name, (f"  ·  server: {server}" if server else "  ·  built in", "dim"), "\n"]
        parts += [(e.tool.description or "(no description)", "dim"), "\n"]
        if e.tool.sandbox is not None:
            parts += [sandbox_content(e.tool.sandbox), "\n"]
        parts.append(input_content(e.tool, e.payload))
    elif isinstance(e.payload, dict) and "steps" in e.payload:
        parts.append(proposed_plan(e.payload))
    elif e.payload is None:
        parts.append(("(nothing to show)", "dim"))
    else:
        parts.append(pretty(e.payload))
    return Content.assemble(*parts)


class InboxScreen(CancelWorkersFirst, Screen[None]):
    """What waits for a decision, in every running session on the database."""

    CSS_PATH = "inbox.tcss"

    BINDINGS = [
        Binding("enter", "open", "Decide", id="inbox.open", tooltip="Open the escalation in the approval dialog: approve, reject with a reason, edit, always allow"),
        Binding("space", "mark", "Mark", id="inbox.mark", tooltip="Mark or unmark the escalation, for A"),
        Binding("A", "approve_marked", "Approve marked", key_display="A", id="inbox.approve_marked", tooltip="Approve every marked escalation (asks first, saying which)"),
        Binding("q,escape", "back", "Back", id="inbox.back"),
    ]

    def __init__(self, *, refresh_s: float = REFRESH_S, clock: Clock = time.time) -> None:
        """`refresh_s`: how often the list is read again; `clock`: the time countdowns count from."""
        super().__init__()
        self.items: list[Waiting] = []
        """What is listed, oldest first."""
        self.marked: set[str] = set()
        """The keys (`Waiting.key`) of the marked escalations."""
        self.loaded = False
        """True once the list was read at least once."""
        self.refresh_s = refresh_s
        self.clock = clock
        self._compact: bool | None = None
        self._laid_out_for = 0
        self._stake_width = 12
        """How wide the "At stake" column is: the reason is cut to fit it, with an ellipsis."""
        self._dialog: ApprovalScreen | None = None
        self._failing = False
        """True while the store cannot be read (it said so once)."""

    def compose(self) -> ComposeResult:
        yield Static(id="title", markup=False)
        table: DataTable[Content | str] = DataTable(id="waiting", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(Content("Nothing waits for you."), id="empty")
        with ScrollBox(id="stake-box"):
            yield Static(id="stake", markup=False)
        yield KeyHints(self.BINDINGS)

    def on_mount(self) -> None:
        self._columns()
        self.query_one(DataTable).focus()
        self._show_title()
        self.reload()
        self.set_interval(self.refresh_s, self.reload)

    def on_resize(self) -> None:
        if self.size.width != self._laid_out_for:
            self._columns()
            self._fill()

    def on_screen_resume(self) -> None:
        self.reload()

    # -- the list -------------------------------------------------------------------

    def _columns(self) -> None:
        table = self.query_one(DataTable)
        self._compact = self.size.width < COMPACT_BELOW
        self._laid_out_for = self.size.width
        table.clear(columns=True)
        columns = COMPACT if self._compact else COLUMNS
        spare = self.size.width - sum(width for *_, width in columns) - 2 * len(columns) - 2
        self._stake_width = max(12, spare)
        for key, label, width in columns:
            table.add_column(label, key=key, width=width or self._stake_width)

    def _cells(self, item: Waiting, now: float) -> tuple[Content | str, ...]:
        """A row's cells: text from the store goes in as Content (a str is read as markup)."""
        e, row = item.escalation, item.row
        mark = Content.styled(MARK, "bold $text-accent") if item.key in self.marked else ""
        session = Content(f"{row.id[:8]} {preview(row.title, 11 if self._compact else 25)}")
        reason = Content(preview(e.reason, self._stake_width))
        if self._compact:
            return (mark, session, Content(f"{e.agent or '-'} · {e.trigger}"), reason, countdown(e, now, short=True))
        return (mark, session, Content(e.agent or "-"), Content(e.trigger), reason, countdown(e, now))

    @work(group="inbox-load", exclusive=True)
    async def reload(self) -> None:
        """Read what waits again; the cursor stays on the escalation it was on (or, gone,
        on the one that took its place), the marks on theirs."""
        try:
            found = await waiting(self.app.store)  # type: ignore[attr-defined]
        except StoreError as error:
            if not self._failing:  # said once, not at every look while it lasts
                self.notify(str(error), title="The inbox could not be read", severity="error", timeout=10, markup=False)
            self._failing = True
            return
        self._failing = False
        if [item.key for item in found] == [item.key for item in self.items] and self.loaded:
            self.items = found
            self._tick()
        else:
            self.items = found
            self.marked &= {item.key for item in found}
            self._fill()
        self.loaded = True
        self._show_title()
        if self._dialog is not None and self.app.screen is self._dialog:
            self._dialog.sync()  # decided elsewhere meanwhile: the dialog moves on (or closes)

    def _fill(self) -> None:
        """Lay every row out again, keeping the cursor on the escalation it was on."""
        table = self.query_one(DataTable)
        was, index = self.current(), table.cursor_row
        now = self.clock()
        table.clear()
        for item in self.items:
            table.add_row(*self._cells(item, now), key=item.key)
        keys = [item.key for item in self.items]
        if was is not None and was.key in keys:
            index = keys.index(was.key)
        if keys:
            table.move_cursor(row=min(max(index, 0), len(keys) - 1), animate=False)
        table.display = bool(keys)
        self.query_one("#empty").display = not keys
        self._show_stake()

    def _tick(self) -> None:
        """What moves with the clock: each row's countdown, the pane's ages."""
        table = self.query_one(DataTable)
        now = self.clock()
        for item in self.items:
            shown = countdown(item.escalation, now, short=bool(self._compact))
            if table.get_cell(item.key, "timeout") != shown:
                table.update_cell(item.key, "timeout", shown)
        self._show_stake(scroll=False)

    def _show_title(self) -> None:
        sessions = len({item.session_id for item in self.items})
        shown = f"{plural(len(self.items), 'escalation')} waiting in {plural(sessions, 'session')}" if self.items else "nothing waiting"
        marked = f" · {len(self.marked)} marked" if self.marked else ""
        path = self.app.store.path  # type: ignore[attr-defined]
        self.query_one("#title", Static).update(Content.assemble(
            ("huddle", "bold $text-accent"), " · inbox · ", (shown, "bold"), (marked, "bold $text-accent"), (f"  ({path})", "dim"),
        ))

    def current(self) -> Waiting | None:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row < 0 or table.cursor_row >= table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return next((item for item in self.items if item.key == key), None)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_stake()

    def _show_stake(self, *, scroll: bool = True) -> None:
        item = self.current()
        pane = self.query_one("#stake", Static)
        if item is None:
            pane.update(Content.styled("Escalations of running sessions show here as they are asked." if not self.items else "", "dim"))
            return
        if scroll:
            self.query_one("#stake-box", ScrollBox).scroll_home(animate=False)
        pane.update(stake(item, self.clock()))

    # -- one at a time: the approval dialog ----------------------------------------------

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        """The highlighted escalation in the approval dialog, then the rest of its session's."""
        item = self.current()
        if item is None or self._dialog is not None:
            return
        session_id, first = item.session_id, item.escalation_id

        def pending() -> list[EscalationRequested]:
            mine = [i.escalation for i in self.items if i.session_id == session_id]
            return sorted(mine, key=lambda e: e.escalation_id != first)  # the one chosen first, then oldest first

        host = RemoteApprovals(self.app, self.app.store, session_id, pending, by=inbox_decider())  # type: ignore[attr-defined]
        self._dialog = ApprovalScreen(host)
        self.app.push_screen(self._dialog, callback=self._dialog_closed)

    def _dialog_closed(self, _hidden: bool | None) -> None:
        self._dialog = None

    # -- several at once: mark, then A ---------------------------------------------------

    def action_mark(self) -> None:
        item = self.current()
        if item is None:
            return
        self.marked ^= {item.key}
        table = self.query_one(DataTable)
        table.update_cell(item.key, "mark", Content.styled(MARK, "bold $text-accent") if item.key in self.marked else "")
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)
        self._show_title()

    def action_approve_marked(self) -> None:
        chosen = [item for item in self.items if item.key in self.marked]
        if not chosen:
            self.notify("Mark escalations with space first: A approves the marked ones.", timeout=4, markup=False)
            return
        lines = [
            f"{item.session_id[:8]} · {item.escalation.agent or '-'} · {item.escalation.trigger}: {preview(item.escalation.reason, 60)}"
            for item in chosen[:ASK_AT_MOST]
        ]
        if len(chosen) > ASK_AT_MOST:
            lines.append(f"… and {len(chosen) - ASK_AT_MOST} more")
        question = ConfirmScreen(
            f"Approve {plural(len(chosen), 'escalation')}?", "\n".join(lines), confirm="Approve", danger=False,
        )

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.marked -= {item.key for item in chosen}
                self.app.run_worker(approve_all(self.app, self.app.store, chosen), name="approving", group="posting")  # type: ignore[attr-defined]
                self._show_title()

        self.app.push_screen(question, callback=answered)

    def action_back(self) -> None:
        self.app.back()  # type: ignore[attr-defined]


async def approve_all(app: App[object], store: SessionStore, chosen: list[Waiting]) -> list[Outcome]:
    """Approve each of `chosen` through the store, all at once (each waits a moment for its
    session to take it), then say in one notice how many were taken and how many were not,
    and why. Runs on the app: leaving the inbox does not stop it."""
    by = inbox_decider()

    async def one(item: Waiting) -> Outcome:
        try:
            decision: Decision = plain_decision(item.escalation, "approve")
            return await post_decision(store, item.session_id, item.escalation_id, decision, by=by)
        except (DecisionError, StoreError) as error:
            return Outcome(False, str(error))

    outcomes = list(await asyncio.gather(*(one(item) for item in chosen)))
    app.notify(summary(outcomes), title=f"Approved {plural(len(chosen), 'escalation')}",
               severity="information" if all(o.ok for o in outcomes) else "warning", timeout=10)
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """What became of several decisions, in one line: "2 taken by their sessions · 1 already
    decided by bob@far in the inbox at 10:40:05"."""
    taken = sum(o.ok and o.message == "taken by the session" for o in outcomes)
    sent = sum(o.ok for o in outcomes) - taken
    decided = [o.message for o in outcomes if not o.ok and o.message.startswith("already decided")]
    others = [o.message for o in outcomes if not o.ok and not o.message.startswith("already decided")]
    parts = [f"{taken} taken by {'its session' if taken == 1 else 'their sessions'}"] if taken or not outcomes else []
    if sent:
        parts.append(f"{sent} sent, not taken yet (each session takes it as soon as it looks)")
    if decided:
        parts.append(f"{len(decided)} {decided[0]}" if len(decided) == 1 else f"{len(decided)} already decided ({decided[0].removeprefix('already decided ')}, …)")
    if others:
        parts.append(f"{len(others)} not taken: {others[0]}")
    return " · ".join(parts)

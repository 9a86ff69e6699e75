"""BrowserScreen: past sessions, newest first, searched, filtered, opened for replay.

Rows load a page at a time as the cursor nears the end, so 10,000 sessions
open as fast as 100. Search covers the task and everything the agents wrote. The
preview says how many files the session's code left in its scratch folder, and
where (`f` lists them); deleting a session deletes that folder too.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Select, Static

from engine.patterns import PATTERNS, short_name
from sessions.errors import StoreError
from sessions.rows import LIVE_STATES, SESSION_STATES, SessionRow
from sessions.scratch import remove_scratch
from engine.formats import clock, cost_text, count, plural, preview, when
from tui.clipboard import copy
from tui.render import session_status
from tui.safe import safe
from tui.scratch_shown import Scratch, read_scratch
from tui.screens.confirm import ConfirmScreen
from tui.screens.workers import CancelWorkersFirst
from tui.widgets.inbox_count import inbox_badge
from tui.widgets.key_hints import KeyHints
from tui.widgets.scroll_box import ScrollBox

PAGE = 100
SEARCH_DELAY = 0.15
FILES_DELAY = 0.1
"""Seconds the cursor rests on a row before its scratch folder is read."""

COLUMNS = (("Started", 16), ("Title", 0), ("Pattern", 12), ("Status", 24), ("Agents", 6), ("Tokens", 9), ("Cost", 9), ("Duration", 8))
"""Every column, from 130 cells wide; the title takes what is left."""
COMPACT = (("Started", 11), ("Title", 0), ("Pattern", 7), ("Status", 21), ("Cost", 8))
"""The columns under 130 cells wide: the title takes what is left, the pattern shows its
short name (so rows of different patterns look different), tokens are in the preview."""
COMPACT_BELOW = 130
TITLE_WIDTH = 60
"""At most this much of a title shows in its column (the preview shows the whole task)."""
SORTS = {
    "started": "created_at", "title": "title", "pattern": "pattern", "status": "status",
    "agents": "agent_count", "tokens": "tokens", "cost": "cost", "duration": "duration_s",
}
"""Each column (by key) and what the store sorts it by (`sessions.store.SORT_KEYS`)."""
ASCENDING_FIRST = {"title", "pattern", "status"}
"""Columns of words, sorted A to Z first; the others (times, numbers) largest first."""


def row_cells(row: SessionRow, compact: bool = False) -> tuple[Content | str, ...]:
    """The row's cells (of a row through the gate, `tui.safe.safe`). Strings in a
    DataTable are read as markup: only ones we made go in as strings; anything
    stored goes in as Content."""
    title = Content(("↳ " if row.parent_id else "") + preview(row.title, TITLE_WIDTH))
    tokens = count(row.tokens)
    cost = cost_text(row.cost, row.unpriced, short=True)
    steps = {"failed_steps": row.failed_steps, "skipped_steps": row.skipped_steps, "brief_steps": True}
    if compact:
        return (
            when(row.created_at)[5:], title, Content(short_name(row.pattern)),
            session_status(row.status, short=True, **steps), cost,
        )
    return (
        when(row.created_at), title, Content(preview(row.pattern)), session_status(row.status, **steps),
        str(row.agent_count), tokens, cost, clock(row.duration_s),
    )


def export_name(row: SessionRow, fmt: str) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", row.title.lower()))[:40] or "session"
    return f"huddle-{row.id[:8]}-{slug}.{fmt}"


class BrowserScreen(CancelWorkersFirst, Screen[None]):
    """Past sessions: open one to replay it."""

    CSS_PATH = "browser.tcss"

    BINDINGS = [
        Binding("enter", "open", "Replay", id="browser.open", tooltip="Replay the session; a running one: attach to it, live"),
        Binding("slash", "search", "Search", key_display="/", id="browser.search", tooltip="Search tasks and agent output"),
        Binding("R", "result", "Result", id="browser.result", tooltip="Read the session's result, saying whether it is partial"),
        Binding("r", "resume", "Resume", id="browser.resume", tooltip="Carry a stopped, failed, cancelled or interrupted session on where it ended"),
        Binding("y", "copy", "Copy id", id="browser.copy", tooltip="Copy the session's id"),
        Binding("f", "files", "Files", id="browser.files", tooltip="List the files the session's code left in its scratch folder"),
        Binding("d", "delete", "Delete", id="browser.delete", tooltip="Delete the session (asks first)"),
        Binding("e", "export('md')", "Export md", id="browser.export_md", tooltip="Write a Markdown export to the current folder"),
        Binding("E", "export('json')", "Export json", key_display="E", id="browser.export_json", tooltip="Write a JSON export (every event)"),
        Binding("s", "sort", "Sort", id="browser.sort", tooltip="Sort by the next column (or click a column's header)"),
        Binding("S", "flip_sort", "Flip order", key_display="S", id="browser.sort_order", tooltip="Reverse the order of the sort"),
        Binding("ctrl+n", "app.launch", "New session", id="browser.new", tooltip="Start a new session"),
        Binding("q,escape", "back", "Back", id="browser.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, SessionRow] = {}
        self.total = 0
        self._loading = False
        self._query_version = 0
        self._compact: bool | None = None
        self._laid_out_for = 0
        """The width the columns were laid out for."""
        self._sort = "started"
        """The column the rows are sorted by (a key of `SORTS`)."""
        self._descending = True
        self._search_timer: Timer | None = None
        """The search waiting for typing to pause."""
        self.search_delay = SEARCH_DELAY
        """Seconds after the last key before the search runs."""
        self.scratch: tuple[str, Scratch] | None = None
        """The highlighted session's id and its scratch folder, once read."""

    def compose(self) -> ComposeResult:
        yield Static(id="title", markup=False)
        with Horizontal(id="filters"):
            yield Input(placeholder="search tasks and agent output  (/)", id="search")
            yield Select([(p, p) for p in PATTERNS], prompt="any pattern", id="pattern")
            yield Select([(s, s) for s in SESSION_STATES], prompt="any status", id="status")
        table: DataTable[Content | str] = DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield table
        with ScrollBox(id="preview-box"):
            yield Static(id="preview", markup=False)
        yield KeyHints(self.BINDINGS)

    def on_mount(self) -> None:
        self._columns()
        self.query_one(DataTable).focus()
        self.reload()
        self.watch(self.app, "waiting", self._title, init=False)  # the inbox's count, in the title

    def on_resize(self) -> None:
        if self.size.width != self._laid_out_for:  # the title column takes what is left
            self._columns()
            rows = list(self.rows.values())
            self.rows.clear()
            self._add(rows)

    def _columns(self) -> None:
        """Lay the columns out for the width: all of them, or the compact few; the one
        the rows are sorted by says so with an arrow."""
        table = self.query_one(DataTable)
        self._compact = self.size.width < COMPACT_BELOW
        self._laid_out_for = self.size.width
        table.clear(columns=True)
        columns = COMPACT if self._compact else COLUMNS
        spare = self.size.width - sum(width for _, width in columns) - 2 * len(columns) - 2
        for label, width in columns:
            key, width = label.lower(), width or min(TITLE_WIDTH, max(12, spare))
            shown = label
            if key == self._sort:  # the arrow always shows: the label gives way to it
                shown = f"{label[:width - 2]} {'▼' if self._descending else '▲'}"
            table.add_column(shown, key=key, width=width)

    # -- loading ------------------------------------------------------------------

    def _filters(self) -> dict[str, str | None]:
        pattern = self.query_one("#pattern", Select).value
        status = self.query_one("#status", Select).value
        search = self.query_one("#search", Input).value.strip()
        return {
            "search": search or None,
            "pattern": pattern if isinstance(pattern, str) else None,
            "status": status if isinstance(status, str) else None,
        }

    def _order(self) -> dict[str, str | bool]:
        """How the store is to sort the rows: by a fixed key, never by text from the screen."""
        return {"order_by": SORTS[self._sort], "descending": self._descending}

    def on_screen_resume(self) -> None:
        """Back from a replay or a session: what it changed shows (a resumed session's
        status, a fork's new row, the files its code wrote), the cursor on the row it was on."""
        self.scratch = None
        if self.rows:
            self.reload()

    @work(group="browser-load", exclusive=True)
    async def reload(self) -> None:
        """Start again from the first session in the current order, with the current
        search and filters; the cursor stays on the session it was on, if listed."""
        was = self.current()
        self._query_version += 1
        filters = self._filters()
        store = self.app.store  # type: ignore[attr-defined]
        try:
            self.total = await store.count_sessions(**filters)
            rows = safe(await store.list_sessions(**filters, **self._order(), limit=PAGE, offset=0))
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._columns()  # clears the rows too; the headers show the order these came in
        self.rows.clear()
        self._add(rows)
        if was is not None and was.id in self.rows:
            table = self.query_one(DataTable)
            table.move_cursor(row=table.get_row_index(was.id), animate=False)
        self._title()

    def _add(self, rows: list[SessionRow]) -> None:
        table = self.query_one(DataTable)
        for row in rows:
            if row.id not in self.rows:
                self.rows[row.id] = row
                table.add_row(*row_cells(row, self._compact), key=row.id)
        self._preview()

    @work(group="browser-page")
    async def _next_page(self) -> None:
        if self._loading or len(self.rows) >= self.total:
            return
        self._loading = True
        version = self._query_version
        try:
            rows = safe(await self.app.store.list_sessions(**self._filters(), **self._order(), limit=PAGE, offset=len(self.rows)))  # type: ignore[attr-defined]
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        finally:
            self._loading = False
        if version == self._query_version:
            self._add(rows)
            self._title()

    def _title(self) -> None:
        shown = f"{count(len(self.rows))} of {count(self.total)}" if len(self.rows) < self.total else count(self.total)
        path = self.app.store.path  # type: ignore[attr-defined]
        waiting = self.app.waiting  # type: ignore[attr-defined]
        self.query_one("#title", Static).update(Content.assemble(
            ("huddle", "bold $text-accent"), " · sessions · ", (shown, "bold"),
            Content(" ") + inbox_badge(waiting) if waiting else "", (f"  ({path})", "dim"),
        ))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.cursor_row >= len(self.rows) - 20:
            self._next_page()
        self._preview()

    def _preview(self) -> None:
        row = self.current()
        pane = self.query_one("#preview", Static)
        if row is None:
            pane.update(Content.styled("No sessions match." if self.total == 0 else "", "dim"))
            return
        self.query_one("#preview-box", ScrollBox).scroll_home(animate=False)
        self._show_preview(row)
        if self.scratch is None or self.scratch[0] != row.id:
            self._read_scratch(row.id)

    def _show_preview(self, row: SessionRow) -> None:
        result = preview(row.result or row.reason or "", 300)
        scratch = self.scratch[1] if self.scratch is not None and self.scratch[0] == row.id else None
        files: tuple[Content | str | tuple[str, str], ...] = ()
        if scratch is not None and scratch.exists:  # only sessions whose code ran have a folder
            files = (("scratch: ", "bold"), scratch.summary(), ("  (f lists them)" if scratch.files else "", "dim"), "\n")
        self.query_one("#preview", Static).update(Content.assemble(
            ("task: ", "bold"), row.task.strip(), "\n",
            (f"{row.id} · {row.outcome}{' (partial result)' if row.partial else ''} · {row.provider} · "
             f"seed {row.seed} · {plural(row.calls, 'call')} · {plural(row.turns, 'turn')} · "
             f"{plural(row.tokens, 'token')}", "dim"), "\n",
            *((row.lineage, "dim $text-accent"), "\n") if row.lineage else (),
            *files,
            ("result: " if row.result else "why: ", "bold"), result or "—",
        ))

    @work(group="browser-files", exclusive=True)
    async def _read_scratch(self, session_id: str) -> None:
        """Read the session's scratch folder off the loop, then show what is in it: once the
        cursor rests on the row (a key held down walks no folder per row it passes)."""
        await asyncio.sleep(FILES_DELAY)  # a clock: the next row's read cancels this one meanwhile
        scratch = await asyncio.to_thread(read_scratch, session_id)
        row = self.current()
        if row is not None and row.id == session_id:
            self.scratch = (session_id, scratch)
            self._show_preview(row)

    # -- search and filters --------------------------------------------------------

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        """Search once typing pauses. Nothing here waits: the Input repaints each key at
        once, and the query runs in the (exclusive) `reload` worker."""
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(self.search_delay, self._search_now)

    def _search_now(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None
        self.reload()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        if self._search_timer is not None:  # enter searches now, without waiting
            self._search_now()
        self.query_one(DataTable).focus()

    @on(Select.Changed)
    def _filter_changed(self) -> None:
        self.reload()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    # -- sorting ---------------------------------------------------------------------

    def _sort_by(self, column: str, descending: bool | None = None) -> None:
        self._sort = column
        self._descending = column not in ASCENDING_FIRST if descending is None else descending
        self.reload()

    def action_sort(self) -> None:
        """Sort by the next column shown, in its natural order."""
        shown = [label.lower() for label, _ in (COMPACT if self._compact else COLUMNS)]
        following = shown[(shown.index(self._sort) + 1) % len(shown)] if self._sort in shown else shown[0]
        self._sort_by(following)

    def action_flip_sort(self) -> None:
        self._sort_by(self._sort, not self._descending)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, message: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by its column; on the sorted one, flips the order."""
        column = str(message.column_key.value)
        if column in SORTS:
            self._sort_by(column, not self._descending if column == self._sort else None)

    # -- actions on a session --------------------------------------------------------

    def current(self) -> SessionRow | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.rows.get(key or "")

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        row = self.current()
        if row is not None and row.status in LIVE_STATES:  # another process runs it: watch and steer it
            self.app.attach(row)  # type: ignore[attr-defined]
        elif row is not None:
            self.app.open_replay(row)  # type: ignore[attr-defined]

    @work(group="browser-result", exclusive=True)
    async def action_result(self) -> None:
        """The session's result as stored now (it may have finished since it was listed)."""
        from tui.screens.result import ResultScreen

        row = self.current()
        if row is None:
            return
        try:
            row = safe(await self.app.store.get_session(row.id))  # type: ignore[attr-defined]
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        if row.result is None:
            why = f" ({row.reason})" if row.reason else ""
            if row.status in LIVE_STATES:
                self.notify(f"No result yet: the session is {row.status}{why}.", timeout=3, markup=False)
            else:
                self.notify(f"No result: the session was {row.status}{why}.", timeout=3, markup=False)
            return
        self.app.push_screen(ResultScreen(row, title=f"Result · {preview(row.title, 60)}"))

    @work(group="browser-resume", exclusive=True)
    async def action_resume(self) -> None:
        """Carry the session on in a live screen, as it is stored now; one that cannot be
        (it completed, it still runs, its record cannot be read) says why."""
        from tui.resuming import CannotResume, ResumeChoices, load_resumable

        row = self.current()
        if row is None:
            return
        try:
            found = await load_resumable(self.app.store, row.id, ResumeChoices(approve="ask"))  # type: ignore[attr-defined]
        except CannotResume as error:
            self.notify(str(error).removeprefix("huddle: "), severity="warning", timeout=5, markup=False)
            return
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.app.resume_session(found)  # type: ignore[attr-defined]

    def action_copy(self) -> None:
        row = self.current()
        if row is not None:
            copy(self.app, "the session id", row.id)

    def action_files(self) -> None:
        from tui.screens.files import FilesScreen

        row = self.current()
        if row is not None:
            self.app.push_screen(FilesScreen(row.id, title=f"Files · {row.id[:8]} · {preview(row.title, 60)}"))

    def action_delete(self) -> None:
        row = self.current()
        if row is None:
            return
        scratch = self.scratch[1] if self.scratch is not None and self.scratch[0] == row.id else None
        files = f", and {plural(len(scratch.files), 'file')} its code left" if scratch is not None and scratch.files else ""
        self.app.push_screen(
            ConfirmScreen(
                f"Delete session {row.id[:8]}?",
                f"{preview(row.title, 70)} · {row.status} · {plural(row.last_seq, 'event')}{files}. This cannot be undone.",
                confirm="Delete",
            ),
            callback=lambda yes: self._delete(row) if yes else None,
        )

    @work(group="browser-delete")
    async def _delete(self, row: SessionRow) -> None:
        try:
            await self.app.store.delete_session(row.id)  # type: ignore[attr-defined]
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        await asyncio.to_thread(remove_scratch, row.id)  # the row is gone: what its code wrote goes too
        self.query_one(DataTable).remove_row(row.id)
        del self.rows[row.id]
        self.total -= 1
        self._title()
        self._preview()
        self.notify(f"Deleted session {row.id[:8]}.", timeout=3, markup=False)

    @work(group="browser-export")
    async def action_export(self, fmt: str) -> None:
        from tui.exporting import export_to_file

        row = self.current()
        if row is None:
            return
        try:
            path = await export_to_file(self.app.store, row, fmt, Path.cwd() / export_name(row, fmt))  # type: ignore[attr-defined]
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.notify(f"Exported to {path}", title="Export", timeout=6, markup=False)

    def action_back(self) -> None:
        if self.query_one("#search", Input).has_focus:
            self.query_one(DataTable).focus()
        else:
            self.app.back()  # type: ignore[attr-defined]

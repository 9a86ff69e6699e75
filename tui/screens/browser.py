"""BrowserScreen: past sessions, newest first, searched, filtered, opened for replay.

Rows load a page at a time as the cursor nears the end, so 10,000 sessions
open as fast as 100. Search covers the task and everything the agents wrote.
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
from textual.widgets import DataTable, Input, Select, Static

from engine.patterns import PATTERNS
from sessions.errors import StoreError
from sessions.rows import SESSION_STATES, SessionRow
from engine.formats import clock, money, when
from tui.render import session_status
from tui.safe import clean_line
from tui.screens.confirm import ConfirmScreen
from tui.widgets.key_hints import KeyHints

PAGE = 100
SEARCH_DELAY = 0.15

COLUMNS = (("Started", 16), ("Title", 48), ("Pattern", 12), ("Status", 22), ("Agents", 6), ("Tokens", 9), ("Cost", 9), ("Duration", 8))
COMPACT = (("Started", 11), ("Title", 0), ("Status", 13), ("Tokens", 8), ("Cost", 8))
"""The columns under 110 cells wide; the title takes what is left."""
COMPACT_BELOW = 110


def row_cells(row: SessionRow, compact: bool = False) -> tuple[Content | str, ...]:
    """The row's cells. Strings in a DataTable are read as markup: only ones we made
    go in as strings; anything stored goes in as Content."""
    title = Content(clean_line(row.title, 60))
    tokens = f"{row.tokens:,}"
    if compact:
        return (when(row.created_at)[5:], title, session_status(row.status, short=True), tokens, money(row.cost))
    return (
        when(row.created_at), title, Content(clean_line(row.pattern)), session_status(row.status),
        str(row.agent_count), tokens, money(row.cost), clock(row.duration_s),
    )


def export_name(row: SessionRow, fmt: str) -> str:
    slug = "-".join(re.findall(r"[a-z0-9]+", row.title.lower()))[:40] or "session"
    return f"huddle-{row.id[:8]}-{slug}.{fmt}"


class BrowserScreen(Screen[None]):
    """Past sessions: open one to replay it."""

    CSS_PATH = "browser.tcss"

    BINDINGS = [
        Binding("enter", "open", "Replay", id="browser.open", tooltip="Replay the session"),
        Binding("slash", "search", "Search", key_display="/", id="browser.search", tooltip="Search tasks and agent output"),
        Binding("d", "delete", "Delete", id="browser.delete", tooltip="Delete the session (asks first)"),
        Binding("e", "export('md')", "Export md", id="browser.export_md", tooltip="Write a Markdown export to the current folder"),
        Binding("E", "export('json')", "Export json", key_display="E", id="browser.export_json", tooltip="Write a JSON export (every event)"),
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

    def compose(self) -> ComposeResult:
        yield Static(id="title", markup=False)
        with Horizontal(id="filters"):
            yield Input(placeholder="search tasks and agent output  (/)", id="search")
            yield Select([(p, p) for p in PATTERNS], prompt="any pattern", id="pattern")
            yield Select([(s, s) for s in SESSION_STATES], prompt="any status", id="status")
        table: DataTable[Content | str] = DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="preview", markup=False)
        yield KeyHints(self.BINDINGS)

    def on_mount(self) -> None:
        self._columns()
        self.query_one(DataTable).focus()
        self.reload()

    def on_resize(self) -> None:
        if (self.size.width < COMPACT_BELOW) != self._compact:
            self._columns()
            rows = list(self.rows.values())
            self.rows.clear()
            self._add(rows)

    def _columns(self) -> None:
        """Lay the columns out for the width: all of them, or the compact few."""
        table = self.query_one(DataTable)
        self._compact = self.size.width < COMPACT_BELOW
        table.clear(columns=True)
        columns = COMPACT if self._compact else COLUMNS
        spare = self.size.width - sum(width for _, width in columns) - 2 * len(columns) - 2
        for label, width in columns:
            table.add_column(label, key=label.lower(), width=width or max(12, spare))

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

    @work(group="browser-load", exclusive=True)
    async def reload(self) -> None:
        """Start again from the newest session with the current search and filters."""
        self._query_version += 1
        filters = self._filters()
        store = self.app.store  # type: ignore[attr-defined]
        try:
            self.total = await store.count_sessions(**filters)
            rows = await store.list_sessions(**filters, limit=PAGE, offset=0)
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        table = self.query_one(DataTable)
        table.clear()
        self.rows.clear()
        self._add(rows)
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
            rows = await self.app.store.list_sessions(**self._filters(), limit=PAGE, offset=len(self.rows))  # type: ignore[attr-defined]
        except StoreError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        finally:
            self._loading = False
        if version == self._query_version:
            self._add(rows)
            self._title()

    def _title(self) -> None:
        shown = f"{len(self.rows):,} of {self.total:,}" if len(self.rows) < self.total else f"{self.total:,}"
        path = self.app.store.path  # type: ignore[attr-defined]
        self.query_one("#title", Static).update(Content.assemble(
            ("huddle", "bold $text-accent"), " · sessions · ", (shown, "bold"), (f"  ({path})", "dim"),
        ))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.cursor_row >= len(self.rows) - 20:
            self._next_page()
        self._preview()

    def _preview(self) -> None:
        row = self.current()
        preview = self.query_one("#preview", Static)
        if row is None:
            preview.update(Content.styled("No sessions match." if self.total == 0 else "", "dim"))
            return
        result = clean_line(row.result or row.reason or "", 300)
        preview.update(Content.assemble(
            ("task: ", "bold"), clean_line(row.task, 300), "\n",
            (f"{row.id} · {row.provider} · seed {row.seed} · {row.calls} calls · {row.turns} turns", "dim"), "\n",
            ("result: " if row.result else "why: ", "bold"), result or "—",
        ))

    # -- search and filters --------------------------------------------------------

    @on(Input.Changed, "#search")
    async def _search_changed(self) -> None:
        version = self._query_version = self._query_version + 1
        await asyncio.sleep(SEARCH_DELAY)  # wait for typing to pause
        if version == self._query_version:
            self.reload()

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(DataTable).focus()

    @on(Select.Changed)
    def _filter_changed(self) -> None:
        self.reload()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

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
        if row is not None:
            self.app.open_replay(row)  # type: ignore[attr-defined]

    def action_delete(self) -> None:
        row = self.current()
        if row is None:
            return
        self.app.push_screen(
            ConfirmScreen(
                f"Delete session {row.id[:8]}?",
                f"{clean_line(row.title, 70)} · {row.status} · {row.last_seq:,} events. This cannot be undone.",
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

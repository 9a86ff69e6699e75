"""JumpScreen: pick any moment of a recorded session from its whole timeline, searched
as you type."""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine.formats import count
from tui.timeline_filter import TimelineFilter
from tui.view import Entry
from tui.widgets.search_bar import SearchBar
from tui.widgets.timeline import entry_prompt


class JumpScreen(ModalScreen[int | None]):
    """Dismisses with the chosen entry's seq, or None."""

    DEFAULT_CSS = """
    JumpScreen { align: center middle; }
    JumpScreen > Vertical { width: 100; max-width: 95%; height: 80%; border: thick $accent; background: $surface; }
    JumpScreen OptionList { height: 1fr; border: none; &:focus { background-tint: $foreground 4%; } }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="jump.close"),
        Binding("slash", "search", "Search", key_display="/", id="jump.search",
                tooltip="Narrow the list to entries with a text (typing a letter does it too)"),
    ]

    def __init__(self, entries: list[Entry], current_seq: int) -> None:
        super().__init__()
        self._entries = entries
        self._current = current_seq

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content("Jump to… (enter)")
            yield SearchBar("type to search the timeline", id="jump-search")
            yield OptionList()

    def on_mount(self) -> None:
        self._show(self._entries)
        self.query_one(OptionList).focus()

    def _show(self, entries: list[Entry]) -> None:
        """List `entries`, the last one at or before the moment shown highlighted."""
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(entry_prompt(entry), id=str(entry.seq)) for entry in entries])
        before = [i for i, e in enumerate(entries) if e.seq <= self._current]
        options.highlighted = before[-1] if before else 0 if entries else None
        shown = "" if len(entries) == len(self._entries) else f"{count(len(entries))} of {count(len(self._entries))} entries"
        self.query_one(Vertical).border_subtitle = Content(shown)

    def action_search(self) -> None:
        self.query_one(SearchBar).focus()

    def on_key(self, event: events.Key) -> None:
        """A letter typed on the list starts a search with it."""
        character = event.character
        if (
            self.focused is self.query_one(OptionList) and character and character.isprintable()
            and not character.isspace() and event.key not in self._bindings.key_to_bindings
        ):
            event.stop()
            search = self.query_one(SearchBar)
            search.focus()
            search.insert_text_at_cursor(character)

    @on(SearchBar.Changed, "#jump-search")
    def _search_changed(self, message: SearchBar.Changed) -> None:
        self._show(list(TimelineFilter(text=message.value).apply(self._entries)))

    @on(SearchBar.Submitted, "#jump-search")
    @on(SearchBar.Closed, "#jump-search")
    def _search_done(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(int(message.option.id or 0))

    def action_close(self) -> None:
        self.dismiss(None)

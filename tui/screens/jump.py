"""JumpScreen: pick any moment of a recorded session from its whole timeline."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.view import Entry
from tui.widgets.timeline import entry_prompt


class JumpScreen(ModalScreen[int | None]):
    """Dismisses with the chosen entry's seq, or None."""

    DEFAULT_CSS = """
    JumpScreen { align: center middle; }
    JumpScreen > Vertical { width: 100; max-width: 95%; height: 80%; border: thick $accent; background: $surface; }
    JumpScreen OptionList { height: 1fr; border: none; }
    """

    BINDINGS = [Binding("escape", "close", "Close", id="jump.close")]

    def __init__(self, entries: list[Entry], current_seq: int) -> None:
        super().__init__()
        self._entries = entries
        self._current = current_seq

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content("Jump to… (enter)")
            yield OptionList(*[Option(entry_prompt(e), id=str(e.seq)) for e in self._entries])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        before = [i for i, e in enumerate(self._entries) if e.seq <= self._current]
        options.highlighted = before[-1] if before else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(int(message.option.id or 0))

    def action_close(self) -> None:
        self.dismiss(None)

"""CopiedScreen: a copied text in full, to select by hand where the terminal keeps the
clipboard to itself."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from engine.formats import plural


class CopiedScreen(ModalScreen[None]):
    """Shows what `y` sent to the clipboard; the text is read-only and plain."""

    CSS_PATH = "copied.tcss"

    BINDINGS = [Binding("escape,q,y", "close", "Close", id="copied.close")]

    def __init__(self, what: str, text: str) -> None:
        """`text` is already cleaned (see `tui.clipboard.copy`)."""
        super().__init__()
        self._what, self._text = what, text

    def compose(self) -> ComposeResult:
        lines = len(self._text.splitlines())
        with Vertical() as box:
            box.border_title = Content(f"Copied {self._what} · {plural(lines, 'line')}")
            yield Static(Content(
                "Sent to the clipboard. If your terminal does not pass it on, select the text "
                "below with the mouse (shift+drag in most terminals)."
            ), id="how")
            yield TextArea(self._text, read_only=True, soft_wrap=True, show_line_numbers=False, id="copied")
            yield Static(Content("escape closes"), id="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""ReadingScreen: a long text to read — an agent's reply as Markdown, or the full task."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static


class ReadingScreen(ModalScreen[None]):
    """Shows text that came through the gate (`tui.safe`); links do not open by themselves."""

    DEFAULT_CSS = """
    ReadingScreen { align: center middle; }
    ReadingScreen > Vertical {
        width: 90%; height: 90%; border: thick $accent; background: $surface; padding: 0 1;
        & > VerticalScroll { height: 1fr; }
        & > #hint { height: 1; color: $text-muted; }
    }
    """

    BINDINGS = [Binding("escape,q,m,i", "close", "Close", id="reading.close")]

    def __init__(self, title: str, text: str, *, markdown: bool) -> None:
        super().__init__()
        self._title, self._text, self._markdown = title, text, markdown

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(self._title)
            with VerticalScroll():
                if self._markdown:
                    yield Markdown(self._text, open_links=False)
                else:
                    yield Static(Content(self._text))
            yield Static("escape closes", id="hint")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    @on(Markdown.LinkClicked)
    def _link(self, message: Markdown.LinkClicked) -> None:
        self.notify(f"Link (not opened): {message.href}", timeout=4, markup=False)

    def action_close(self) -> None:
        self.dismiss(None)

"""PatternPane: what is particular to the session's pattern, kept up to date."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from engine.patterns import PATTERNS
from tui.pattern_views import render
from tui.view import SessionView


class PatternPane(VerticalScroll):
    """The route taken, the rounds, the bids, the board... (see tui.pattern_views)."""

    DEFAULT_CSS = """
    PatternPane {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text-accent;
        padding: 0 1;
        & > Static { width: 1fr; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(markup=False)

    _shown: tuple[str, tuple[object, ...]] | None = None

    def show(self, view: SessionView) -> None:
        info = PATTERNS.get(view.pattern)
        self.border_title = Content(info.title if info else view.pattern or "Pattern")
        content = render(view)
        shown = (content.plain, tuple(content.spans))  # Content's == compares the text alone
        if shown != self._shown:
            self._shown = shown
            self.query_one(Static).update(content)

"""ScrollBox: a box of text to read, that takes focus only when it has more than it shows.

A description that fits needs no focus stop: Tab would land on a box that
does nothing with keys, and text typed there is lost. One that does not fit
must be reachable from the keyboard, so it can be scrolled: then it takes
focus like any field, and shows it (see the screens' `.tcss`).
"""

from __future__ import annotations

from textual.containers import VerticalScroll


class ScrollBox(VerticalScroll):
    """A scrolling box, in the focus chain only while its content overflows it; focused,
    its top border says how to scroll it."""

    DEFAULT_CSS = """
    ScrollBox { border-title-align: right; }
    """

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0 or self.max_scroll_x > 0

    def on_focus(self) -> None:
        self.border_title = "↑↓ scroll"

    def on_blur(self) -> None:
        self.border_title = None

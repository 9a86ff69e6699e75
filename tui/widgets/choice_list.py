"""ChoiceList: an OptionList that keeps the highlighted option in view as it resizes.

Options wrap to the list's width, so a change of width (a resize, or a screen
switching to its narrow layout) moves every option up or down. Textual's
OptionList then keeps its old scroll offset, and the highlighted option can
end up out of view: the user sees other choices than the one that is made.
"""

from __future__ import annotations

from textual import events
from textual.widgets import OptionList


class ChoiceList(OptionList):
    """A list of choices whose highlighted one stays in view."""

    def on_resize(self, _: events.Resize) -> None:
        # After OptionList's own handler (which runs after this one) has dropped the
        # lines wrapped to the old width.
        self.call_after_refresh(self.scroll_to_highlight)

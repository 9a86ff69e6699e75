"""InboxCount: how many escalations wait for a person in the store, in a screen's header.

The count is the app's (`HuddleApp.waiting`, counted once a second in one place); this
widget and `inbox_badge` only show it. Zero shows nothing.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from engine.formats import count


def inbox_badge(waiting: int, *, short: bool = False) -> Content:
    """" ⚑ 2 waiting · ctrl+b " (" ⚑ 2 " `short`); nothing for none."""
    if not waiting:
        return Content("")
    text = f" ⚑ {count(waiting)} " if short else f" ⚑ {count(waiting)} waiting · ctrl+b "
    return Content.styled(text, "bold reverse $warning")


class InboxCount(Static):
    """The app's count of escalations waiting in the store; hidden at zero."""

    DEFAULT_CSS = """
    InboxCount { width: auto; display: none; }
    """

    def __init__(self, *, short: bool = False, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.short = short
        """Only the flag and the number (a narrow header)."""

    def on_mount(self) -> None:
        if hasattr(self.app, "waiting"):
            self.watch(self.app, "waiting", self._show)

    def set_short(self, short: bool) -> None:
        if short != self.short:
            self.short = short
            self._show(getattr(self.app, "waiting", 0))

    def _show(self, waiting: int) -> None:
        self.display = bool(waiting)
        self.update(inbox_badge(waiting, short=self.short))

"""SearchBar: a search box over a list, narrowing it as you type."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SearchBar(Input):
    """Typing narrows the list it searches (its screen listens to `Input.Changed`);
    enter goes back to the list keeping the search; escape empties it and goes back."""

    DEFAULT_CSS = """
    SearchBar {
        height: 3;
        border: round $panel-lighten-2;
        &:focus { border: round $accent; background-tint: $foreground 6%; }
        &:focus > .input--placeholder { color: $text-muted; }
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close search", id="search.close", tooltip="Empty the search and go back to the list"),
    ]

    class Closed(Message):
        """The search was emptied and left."""

        def __init__(self, bar: SearchBar) -> None:
            super().__init__()
            self.bar = bar

        @property
        def control(self) -> SearchBar:
            return self.bar

    def __init__(self, placeholder: str, *, id: str | None = None, classes: str | None = None) -> None:
        # No select-all on focus: a letter typed on the list it searches is put here and typing goes on.
        super().__init__(placeholder=placeholder, select_on_focus=False, id=id, classes=classes)
        self.border_title = "/ search"

    def action_close(self) -> None:
        self.value = ""
        self.post_message(self.Closed(self))

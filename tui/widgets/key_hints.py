"""KeyHints: one line naming the keys of a screen, drawn once for each width.

Textual's Footer rebuilds itself whenever focus moves; with agents streaming,
that made moving between panels visibly slower. These hints are the screen's
own bindings, which do not change with focus. On a narrow terminal they close
up, then leave out the last keys; the help key (which lists them all) and the
command palette always show.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static


KEY = "bold $text-accent"
ALWAYS = (("?", "keys"), ("ctrl+p", "commands"))
"""The keys every line of hints ends with: the help, which names every key, and the palette."""
LEAVING = ("leave", "back", "quit", "app.quit")
"""Actions whose key always shows: the way out of a screen."""


def hints(bindings: Iterable[Binding], width: int | None = None) -> Content:
    """The shown bindings' keys and what they do; with `width`, the ones that fit, in order,
    leaving out the last but the way out (the help lists them all)."""
    keys = [(b.key_display or b.key.split(",")[0], b.description, b.action in LEAVING) for b in bindings if b.show]
    while True:
        line = Content.assemble(*(
            part for key, what in (*((key, what) for key, what, _ in keys), *ALWAYS)
            for part in ((f" {key} ", KEY), what, " ")
        ))
        dropped = next((i for i in range(len(keys) - 1, -1, -1) if not keys[i][2]), None)
        if width is None or line.cell_length <= width or dropped is None:
            return line
        del keys[dropped]


class KeyHints(Static):
    """The key hints at the bottom of a screen."""

    DEFAULT_CSS = """
    KeyHints { height: 1; background: $panel; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, bindings: Iterable[Binding], *, id: str | None = None) -> None:
        self._shown_bindings = list(bindings)
        self._width: int | None = None
        super().__init__(hints(self._shown_bindings), id=id)

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            self.update(hints(self._shown_bindings, self._width))

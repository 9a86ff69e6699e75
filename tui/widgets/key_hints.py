"""KeyHints: one line naming the keys of a screen, drawn once.

Textual's Footer rebuilds itself whenever focus moves; with agents streaming,
that made moving between panels visibly slower. These hints are the screen's
own bindings, which do not change with focus.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static


def hints(bindings: Iterable[Binding]) -> Content:
    parts: list[Content | tuple[str, str] | str] = []
    for binding in bindings:
        if not binding.show:
            continue
        key = binding.key_display or binding.key.split(",")[0]
        parts += [(f" {key} ", "bold $text-accent"), binding.description, " "]
    parts += [(" ctrl+p ", "bold $text-accent"), "commands"]
    return Content.assemble(*parts)


class KeyHints(Static):
    """The key hints at the bottom of a screen."""

    DEFAULT_CSS = """
    KeyHints { height: 1; background: $panel; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, bindings: Iterable[Binding], *, id: str | None = None) -> None:
        super().__init__(hints(bindings), id=id)

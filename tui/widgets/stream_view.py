"""StreamView: a bounded, word-wrapping log for text that arrives a few words at a time.

Like Textual's `Log` it renders plain strings line by line (no markup, so model
output is shown as written), but it wraps to the widget's width, keeps a
partial last line that grows as text streams in, and holds at most `max_lines`
lines of scroll-back. A "rule" line heads the text after it, on one line (cut
to the width): once scrolled out of view, it stays pinned on the top row while
its text is in view.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

Line = tuple[str, str]
"""(style name, text): style "" for plain text, or "rule", "dim", "error"."""


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap by terminal cells, keeping leading indentation on the first
    line; words longer than a line are broken."""
    if "\t" in text:
        text = text.expandtabs(4)
    measure = len if text.isascii() else cell_len
    if width <= 0 or measure(text) <= width:
        return [text]
    body = text.lstrip(" ")
    indent = text[: min(len(text) - len(body), width // 2)]
    lines: list[str] = []
    words: list[str] = [indent] if indent else []
    used = len(indent)
    started = False  # has the current line a word yet (beyond its indent)?
    for word in body.split(" "):
        size = measure(word)
        if (used + 1 + size if started else used + size) <= width:
            if started:
                words.append(" ")
                used += 1
            words.append(word)
            used += size
            started = True
            continue
        if started:
            lines.append("".join(words))
        while size > width:
            cut = width
            while measure(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
            size = measure(word)
        words, used, started = [word], size, True
    lines.append("".join(words))
    return lines


def heading(text: str, width: int) -> str:
    """`text` on one line of `width` cells, cut with an ellipsis if it is longer."""
    if width <= 0 or cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1) + "…"


class StreamView(ScrollView, can_focus=True):
    """Streamed text, wrapped and bounded."""

    COMPONENT_CLASSES = {"stream-view--rule", "stream-view--dim", "stream-view--error"}

    DEFAULT_CSS = """
    StreamView {
        background: $surface;
        color: $text;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
        & > .stream-view--rule { color: $text-accent; text-style: bold; }
        & > .stream-view--dim { color: $text-muted; }
        & > .stream-view--error { color: $text-error; }
    }
    """

    def __init__(
        self,
        max_lines: int = 400,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._lines: deque[Line] = deque(maxlen=max_lines)
        self._partial = ""
        self._visual: list[Line] = []
        self._counts: deque[int] = deque()
        self._partial_visual: list[Line] = []
        self._wrap_width = 0
        """The width the held lines are wrapped to."""
        self._styles: dict[str, Style] | None = None
        self._strips: LRUCache[tuple[str, str, int], Strip] = LRUCache(1024)
        self._follow = True
        """Keep the newest line in view; off once the reader scrolls up, on again at the end."""

    # -- content ------------------------------------------------------------

    @property
    def text_lines(self) -> list[str]:
        """The finished lines held (for tests and copying), without styles."""
        return [text for _, text in self._lines]

    def reset(self, lines: Iterable[Line] = (), partial: str = "") -> None:
        self._lines.clear()
        self._visual.clear()
        self._counts.clear()
        self.append(lines, partial)

    def append(self, lines: Iterable[Line], partial: str) -> None:
        """Add finished lines and replace the partial last line."""
        width = self.scrollable_content_region.width or self._wrap_width
        first_changed: int | None = len(self._visual)
        for line in lines:
            if len(self._lines) == self.max_lines:
                self._lines.popleft()
                if self._counts:
                    del self._visual[: self._counts.popleft()]
                first_changed = None  # everything moved up
            self._lines.append(line)
            if width == self._wrap_width:
                self._add_visual(line)
        self._partial = partial
        if width != self._wrap_width:
            self._rewrap(width)
            first_changed = None
        self._partial_visual = [("", part) for part in wrap(partial, width)] if partial else []
        self._update_size(first_changed)

    def _add_visual(self, line: Line) -> None:
        if line[0] == "rule":
            wrapped = [("rule", heading(line[1], self._wrap_width))]
        else:
            wrapped = [(line[0], part) for part in wrap(line[1], self._wrap_width)]
        self._visual.extend(wrapped)
        self._counts.append(len(wrapped))

    def _rewrap(self, width: int) -> None:
        """Wrap every held line again, for a new width."""
        self._wrap_width = width
        self._visual.clear()
        self._counts.clear()
        for line in self._lines:
            self._add_visual(line)

    def _update_size(self, first_changed: int | None = None) -> None:
        """Resize the virtual canvas and repaint from `first_changed` (None: everything)."""
        total = len(self._visual) + len(self._partial_visual)
        size = Size(self._wrap_width, total)
        if size != self.virtual_size:
            # The panel's own size never depends on its text, so skip the layout
            # pass a plain assignment would trigger; just update the scrollbars.
            self.set_reactive(StreamView.virtual_size, size)
            self._scroll_update(size)
            if self._follow:
                self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        if first_changed is None:
            self.refresh()
        elif total > first_changed:
            self.refresh_lines(first_changed, total - first_changed)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y:
            self._follow = True
        elif new_value < old_value:
            self._follow = False

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrap_width:  # a hidden panel (width 0) keeps its wrapping
            self.append((), self._partial)

    # -- rendering ----------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strips.clear()

    def _style(self, name: str) -> Style:
        if self._styles is None:
            base = self.rich_style
            self._styles = {"": base} | {
                key: base + self.get_component_rich_style(f"stream-view--{key}", partial=True)
                for key in ("rule", "dim", "error")
            }
        return self._styles[name]

    def _heading(self, index: int) -> int | None:
        """The visual line of the rule heading line `index`, if that rule is above it (and
        its text goes on below `index`: pinned, it would hide the only line of it in view)."""
        visual = self._visual
        if index < len(visual) and visual[index][0] == "rule":
            return None
        if index + 1 < len(visual) and visual[index + 1][0] == "rule":
            return None
        for above in range(min(index, len(visual)) - 1, -1, -1):
            if visual[above][0] == "rule":
                return above
        return None

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if y == 0 and (heading := self._heading(index)) is not None:
            index = heading
        if index < len(self._visual):
            style_name, text = self._visual[index]
        elif index - len(self._visual) < len(self._partial_visual):
            style_name, text = self._partial_visual[index - len(self._visual)]
        else:
            return Strip.blank(width, self._style(""))
        key = (style_name, text, width)
        strip = self._strips.get(key)
        if strip is None:
            strip = Strip([Segment(text, self._style(style_name))]).crop_extend(0, width, self._style(""))
            self._strips[key] = strip
        return strip

"""Timeline: the orchestrator's view of the session, one line per thing that happened."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from itertools import takewhile

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine.formats import clock, count
from tui.timeline_filter import TimelineFilter
from tui.view import MAX_TIMELINE, Entry, SessionView

ENTRY_STYLES = {
    "": "",
    "accent": "$text-accent",
    "success": "$text-success",
    "warning": "$text-warning",
    "error": "$text-error",
}


def entry_prompt(entry: Entry) -> Content:
    return Content.assemble(
        (f"+{clock(entry.offset)} ", "dim"),
        (f"{entry.icon} ", ENTRY_STYLES[entry.style] or "bold"),
        ((entry.agent + " ") if entry.agent else "", "bold"),
        (entry.text, ENTRY_STYLES[entry.style]),
    )


class Timeline(OptionList):
    """Plan, delegations, handoffs, escalations and decisions, retries, errors, budgets."""

    DEFAULT_CSS = """
    Timeline {
        height: 1fr;
        border: round $panel-lighten-2;
        padding: 0;
        scrollbar-gutter: stable;  /* entries wrap to one width, with or without the scrollbar */
        &:focus { border: round $accent; }
    }
    """

    SLACK = MAX_TIMELINE // 2
    """How far past the view's bound the list may grow before it starts over (which
    measures every entry again: ~0.1 s for 2,000), so a long session pays that rarely."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries: list[Entry] = []
        """The entries shown, one per option, oldest first."""
        self.filter = TimelineFilter()
        """Which of the view's entries are shown (see `narrow`)."""

    def on_mount(self) -> None:
        self.border_title = "Timeline"

    def sync(self, view: SessionView) -> None:
        """Show the view's entries. New ones are added at the end; a replay moving back
        drops the ones after its moment. The list starts over only when the view has
        older entries than it shows (a replay moving back past the bound), or when it
        has grown SLACK entries past the view's bound."""
        timeline, shown = self.filter.apply(view.timeline), self._entries
        self._show_filter(len(timeline), len(view.timeline))
        last = timeline[-1].seq if timeline else 0
        keep = bisect_right(shown, last, key=lambda entry: entry.seq)
        newest = shown[keep - 1].seq if keep else 0
        new = list(takewhile(lambda entry: entry.seq > newest, reversed(timeline)))
        older = bool(timeline) and keep > 0 and timeline[0].seq < shown[0].seq
        if older or keep + len(new) > len(timeline) + self.SLACK:
            self._rebuild(timeline)
            return
        for _ in range(len(shown) - keep):
            self.remove_option_at_index(len(shown) - 1)
            shown.pop()
        if new:
            new.reverse()
            self._add(new)

    def narrow(self, view: SessionView, by: TimelineFilter) -> None:
        """Show only the view's entries that pass `by` (a search, an agent, a kind)."""
        self.filter = by
        entries = by.apply(view.timeline)
        self._show_filter(len(entries), len(view.timeline))
        self._rebuild(entries)

    def _show_filter(self, shown: int, total: int) -> None:
        """Under the list, while it is narrowed: how many entries pass, and what it is narrowed to."""
        label = Content(f"{count(shown)} of {count(total)} · {self.filter.describe()} ") if self.filter.active else Content("")
        if label != self.border_subtitle:
            self.border_subtitle = label

    def _add(self, entries: list[Entry]) -> None:
        at_end = self.highlighted is None or self.highlighted >= self.option_count - 1
        self._entries.extend(entries)
        self.add_options([Option(entry_prompt(entry)) for entry in entries])
        if at_end:
            self.scroll_end(animate=False)

    def _rebuild(self, timeline: Iterable[Entry]) -> None:
        """Show exactly `timeline`, keeping the highlighted entry if it is still there."""
        highlighted = self.entry_at(self.highlighted)
        self.clear_options()
        self._entries = []
        self._add(list(timeline))
        if highlighted is not None:
            self.highlight(highlighted.seq)

    def highlight(self, seq: int) -> None:
        """Highlight the entry of event `seq`, if it is shown."""
        index = bisect_left(self._entries, seq, key=lambda entry: entry.seq)
        if index < len(self._entries) and self._entries[index].seq == seq:
            self.highlighted = index

    def entry_at(self, index: int | None) -> Entry | None:
        if index is None or not 0 <= index < len(self._entries):
            return None
        return self._entries[index]

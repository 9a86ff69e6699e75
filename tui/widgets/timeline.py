"""Timeline: the orchestrator's view of the session, one line per thing that happened."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine.formats import clock
from tui.view import Entry, SessionView

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
        &:focus { border: round $accent; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: dict[str, Entry] = {}
        self._last_seq = 0

    def on_mount(self) -> None:
        self.border_title = "Timeline"

    def sync(self, view: SessionView) -> None:
        """Add the entries the view has that the list does not; start over after a jump back."""
        timeline = view.timeline
        if timeline and timeline[-1].seq < self._last_seq or not timeline and self._last_seq:
            self.clear_options()
            self.entries.clear()
            self._last_seq = 0
        new = [e for e in reversed(timeline) if e.seq > self._last_seq]
        if not new:
            return
        new.reverse()
        at_end = self.highlighted is None or self.highlighted >= self.option_count - 1
        for entry in new:
            self.entries[str(entry.seq)] = entry
        self.add_options([Option(entry_prompt(e), id=str(e.seq)) for e in new])
        self._last_seq = new[-1].seq
        if at_end:
            self.scroll_end(animate=False)

    def entry_at(self, index: int | None) -> Entry | None:
        if index is None or index >= self.option_count:
            return None
        option = self.get_option_at_index(index)
        return self.entries.get(option.id or "")

    def select_seq(self, seq: int) -> None:
        """Highlight the entry for event `seq`, or the last one before it."""
        best = None
        for index in range(self.option_count):
            entry = self.entry_at(index)
            if entry is not None and entry.seq <= seq:
                best = index
        if best is not None:
            self.highlighted = best

"""FilterScreen: narrow the timeline to one agent, one kind of event, or both."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from engine.formats import count
from tui.safe import clean_line
from tui.timeline_filter import KINDS, PROBLEMS, TimelineFilter, kind_of
from tui.view import Entry

EVERYTHING = "all"


class FilterScreen(ModalScreen[TimelineFilter | None]):
    """Dismisses with the filter chosen (the search text kept), or None."""

    CSS_PATH = "filter.tcss"

    BINDINGS = [Binding("escape,f", "close", "Close", id="filter.close", tooltip="Keep the filter as it was")]

    def __init__(self, entries: Iterable[Entry], agents: Iterable[str], current: TimelineFilter) -> None:
        """Offers `agents` and the kinds of `entries` (with how many of each)."""
        super().__init__()
        entries = list(entries)
        self._current = current
        self._kinds = Counter(kind_of(entry.kind) for entry in entries)
        self._problems = sum(entry.style in ("error", "warning") for entry in entries)
        self._by_agent = Counter(entry.agent for entry in entries)
        self._agents = list(agents)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content("Filter the timeline")
            yield OptionList(*self._options())
            search = self._current.text.strip()
            kept = f"the search “{search}” stays (/ changes it) · " if search else ""
            yield Static(Content(f"{kept}enter picks · escape closes"), id="hint")

    def _options(self) -> list[Option | None]:
        current = self._current

        def line(chosen: bool, label: str, number: int) -> Content:
            return Content.assemble(("● " if chosen else "  ", "$text-accent"), label, (f"  {count(number)}", "dim"))

        options: list[Option | None] = [
            Option(line(current.agent is None and current.kind is None, "everything", sum(self._kinds.values())), id=EVERYTHING),
            None,
            Option(Content.styled("Agent", "bold"), disabled=True),
            Option(line(current.agent is None, "any agent", sum(self._kinds.values())), id="agent:"),
        ]
        options += [Option(line(current.agent == name, clean_line(name), self._by_agent[name]), id=f"agent:{name}") for name in self._agents]
        options += [
            None,
            Option(Content.styled("Kind", "bold"), disabled=True),
            Option(line(current.kind is None, "any kind", sum(self._kinds.values())), id="kind:"),
            Option(line(current.kind == PROBLEMS, "problems (errors and warnings)", self._problems), id=f"kind:{PROBLEMS}"),
        ]
        options += [
            Option(line(current.kind == kind, label, self._kinds[kind]), id=f"kind:{kind}")
            for kind, label in KINDS.items() if self._kinds[kind]
        ]
        return options

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, message: OptionList.OptionSelected) -> None:
        choice = message.option.id or ""
        if choice == EVERYTHING:
            self.dismiss(self._current.with_(agent=None, kind=None))
            return
        field, _, value = choice.partition(":")
        self.dismiss(self._current.with_(**{field: value or None}))

    def action_close(self) -> None:
        self.dismiss(None)

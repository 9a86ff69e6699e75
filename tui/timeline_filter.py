"""Which timeline entries to show: a search over their text, an agent, a kind of event.

Plain data over `Entry`, no widgets: the session screen's timeline, the replay's
jump list and their tests all narrow entries through `TimelineFilter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from tui.view import Entry

KINDS: dict[str, str] = {
    "session": "session start and end",
    "plan": "plans",
    "step": "steps",
    "call": "failed calls",
    "retry": "retries",
    "tool": "tool calls",
    "handoff": "handoffs",
    "message": "messages",
    "pattern": "pattern notes",
    "escalation": "escalations and decisions",
    "budget": "budget changes",
    "error": "errors",
}
"""Kinds of entry, by the first word of their event's kind ("step.started" -> "step")."""

PROBLEMS = "problems"
"""A kind of its own: every entry shown as an error or a warning, whatever its event."""


def kind_of(entry_kind: str) -> str:
    """The kind an event's kind falls under: "escalation.resolved" -> "escalation"."""
    return entry_kind.split(".", 1)[0]


@dataclass(frozen=True)
class TimelineFilter:
    """Entries whose agent and text contain `text` (any case), of `agent`, of `kind`;
    an empty field lets every entry through."""

    text: str = ""
    agent: str | None = None
    kind: str | None = None
    """A key of KINDS, or PROBLEMS."""

    @property
    def active(self) -> bool:
        return bool(self.text.strip()) or self.agent is not None or self.kind is not None

    def matches(self, entry: Entry) -> bool:
        if self.agent is not None and entry.agent != self.agent:
            return False
        if self.kind == PROBLEMS:
            if entry.style not in ("error", "warning"):
                return False
        elif self.kind is not None and kind_of(entry.kind) != self.kind:
            return False
        needle = self.text.strip().casefold()
        return not needle or needle in f"{entry.agent or ''} {entry.text}".casefold()

    def apply(self, entries: Sequence[Entry]) -> Sequence[Entry]:
        """The entries that match, in their order (`entries` itself when nothing is filtered)."""
        if not self.active:
            return entries
        return [entry for entry in entries if self.matches(entry)]

    def with_(self, **changes: str | None) -> TimelineFilter:
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        """What is filtered, in words: 'agent coder · escalations and decisions · "rate"'."""
        parts = []
        if self.agent is not None:
            parts.append(f"agent {self.agent}")
        if self.kind is not None:
            parts.append(KINDS.get(self.kind, self.kind))
        if self.text.strip():
            parts.append(f'"{self.text.strip()}"')
        return " · ".join(parts)

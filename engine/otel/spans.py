"""A span as huddle makes it from a session's events: plain data, ids included.

Ids are not random: a trace's id comes from its session's id, a span's from its session
and its key (its place in the session: "run0/call/root/plan#lead#1#1"), so the spans a
session sent as it ran and the ones sent again from its record are the same spans of the
same trace, and a fork can link to its parent's trace without asking anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, Union

AttributeValue = Union[str, bool, int, float, tuple[str, ...]]
Attributes = dict[str, AttributeValue]
SpanKind = Literal["internal", "client"]


@dataclass(frozen=True)
class SpanEvent:
    """Something that happened within a span (an escalation, a retry, a handoff)."""

    name: str
    ts: float
    """Seconds since the epoch: the event's own time stamp."""
    attributes: Attributes = field(default_factory=dict)


@dataclass
class SpanRecord:
    """One finished span: everything an exporter needs, and nothing of the SDK."""

    session_id: str
    key: str
    """Its place in the session; with `session_id`, its id."""
    parent: str | None
    """Its parent's key (in the same session); None for the session's root span."""
    name: str
    kind: SpanKind
    start: float
    end: float
    attributes: Attributes = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None
    """Why it failed (one line): its status is then ERROR; None leaves the status unset."""
    link: tuple[str, str] | None = None
    """(session id, span key) of a span in another trace it follows from: a fork's parent."""

    @property
    def trace_id(self) -> int:
        return trace_id(self.session_id)

    @property
    def span_id(self) -> int:
        return span_id(self.session_id, self.key)

    @property
    def parent_id(self) -> int | None:
        return span_id(self.session_id, self.parent) if self.parent is not None else None


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:size], "big")
    return value or 1  # an id of zero means "none" in OpenTelemetry


def trace_id(session_id: str) -> int:
    """The 128-bit trace id of a session."""
    return _digest(f"huddle trace {session_id}", 16)


def span_id(session_id: str, key: str) -> int:
    """The 64-bit id of the span at `key` in a session."""
    return _digest(f"huddle span {session_id} {key}", 8)

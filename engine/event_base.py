"""What every event carries: its session, a gap-free `seq`, a wall-clock `ts`, the span
it happened in, the agent it concerns, and the version of the shape it was written in.

A module of its own so that the kinds of events can live in more than one module
(`engine.events`, `engine.notes`) and still join the one union in `engine.events`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

EVENT_VERSION = 2
"""The shape events are written in. 2: pattern notes are typed, one kind each
(`engine.notes`); a version 1 record's `pattern.note` is upgraded as it is read."""

DecisionAction = Literal["approve", "reject", "edit"]
"""What a decision on an escalation does."""


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = EVENT_VERSION
    """The version of the shape the event was written in (`EVENT_VERSION` when it was recorded)."""
    session_id: str
    """The session it belongs to."""
    seq: int
    """Its place in the session: 1 for the first event, one more for each next, no gaps."""
    ts: float
    """Seconds since the epoch."""
    span_id: str = "root"
    """The part of the pattern it happened in, as a path: "root" is the session's, "root/step:s1" a step's."""
    parent_span_id: str | None = None
    """The span `span_id` is inside, if any."""
    agent: str | None = None
    """The agent it concerns, if one."""

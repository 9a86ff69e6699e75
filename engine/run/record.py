"""`Record`: what a session's events can answer when the session is run again (a resume
into the same record, or a fork into a new one), read once from those events.

It holds each call's finished reply with the fingerprint of what the call asked
(`engine.run.fingerprint`), what each tool use gave back, and each decision taken, by
its place. A reply answers a call again only when the call key and the fingerprint both
match (a record made before fingerprints were stamped: the key alone); a decision stands
when the same escalation is raised at the same place about the same payload, for the
same task (a decision was taken about that task's work).

`emit` is the caller's choice of whether replayed work is emitted again as events: a
fork (a new session, whose record must hold it) says yes, a resume into the same record
(which holds it already) says no. Replayed work is accounted either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic_core import to_jsonable_python

from engine.events import (
    CallFinished,
    CallStarted,
    EscalationRequested,
    EscalationResolved,
    EventBase,
    SessionStarted,
    ToolResult,
)
from engine.run.replay import ToolKey, recorded_tools


class RecordedCall(NamedTuple):
    """A call's finished reply, and the fingerprint of the request it opened with
    (None in records made before fingerprints were stamped)."""

    finished: CallFinished
    request_hash: str | None


class DecisionPlace(NamedTuple):
    """Where an escalation is raised, the same from run to run: its span, the agent it is
    about, its trigger, and how many escalations of that trigger its span raised before (1, 2...)."""

    span_id: str
    agent: str | None
    trigger: str
    ordinal: int


class RecordedDecision(NamedTuple):
    """A decision taken: the payload it was asked about (canonical JSON) and how it was resolved."""

    payload: str
    resolved: EscalationResolved


def canonical(payload: Any) -> str:
    """A payload as one string, the same for equal payloads whatever their keys' order."""
    return json.dumps(to_jsonable_python(payload), sort_keys=True, ensure_ascii=False, default=str)


@dataclass
class Record:
    """What a recorded session can answer (see the module's docstring). Empty: nothing."""

    calls: dict[str, RecordedCall] = field(default_factory=dict)
    """Each call's last finished reply, by call key."""
    tools: dict[ToolKey, ToolResult] = field(default_factory=dict)
    """What each tool use gave back, by its call, tool and input (`engine.run.replay.recorded_tools`)."""
    decisions: dict[DecisionPlace, RecordedDecision] = field(default_factory=dict)
    """Each decision taken, by where it was asked."""
    escalation_ids: frozenset[str] = frozenset()
    """The escalation ids the record uses: a resume into it takes others."""
    task: str | None = None
    """The recorded session's task; None: not known (decisions stand for any)."""
    emit: bool = True
    """Whether replayed calls and decisions are emitted again as events: True for a fork
    (a new session), False for a resume into the same record."""

    @classmethod
    def from_events(cls, events: Iterable[EventBase], up_to_seq: int | None = None, *, emit: bool = True) -> Record:
        """The record of a session's `events` (those with a seq up to `up_to_seq`, when given)."""
        kept = [event for event in events if up_to_seq is None or event.seq <= up_to_seq]
        opened: dict[str, str | None] = {}
        calls: dict[str, RecordedCall] = {}
        asked: dict[str, tuple[DecisionPlace, str]] = {}
        ordinals: dict[tuple[str, str | None, str], int] = {}
        decisions: dict[DecisionPlace, RecordedDecision] = {}
        waiting: set[tuple[str, str | None, str]] = set()
        task = None
        for event in kept:
            if isinstance(event, SessionStarted) and task is None:
                task = event.task
            elif isinstance(event, CallStarted) and event.attempt == 1 and event.tool_round == 0:
                opened[event.call_key] = event.request_hash  # a run of the call opens
            elif isinstance(event, CallFinished):
                calls[event.call_key] = RecordedCall(event, opened.get(event.call_key))
            elif isinstance(event, EscalationRequested):
                where = (event.span_id, event.agent, event.trigger)
                if where not in waiting:  # else the one waiting there was left undecided: this asks it again
                    ordinals[where] = ordinals.get(where, 0) + 1
                waiting.add(where)
                asked[event.escalation_id] = (DecisionPlace(*where, ordinals[where]), canonical(event.payload))
            elif isinstance(event, EscalationResolved) and event.escalation_id in asked:
                place, payload = asked[event.escalation_id]
                waiting.discard(place[:3])
                decisions[place] = RecordedDecision(payload, event)
        return cls(calls, recorded_tools(kept), decisions, frozenset(asked), task, emit)

    @classmethod
    def of_calls(
        cls, finished: Iterable[CallFinished] | Mapping[str, CallFinished],
        tools: Mapping[ToolKey, ToolResult] | None = None, *, emit: bool = True,
    ) -> Record:
        """A record of finished calls (answering by call key alone; the last of each key
        wins) and, when given, tool uses' results: what a test hands a session directly."""
        replies = finished.values() if isinstance(finished, Mapping) else finished
        calls = {reply.call_key: RecordedCall(reply, None) for reply in replies}
        return cls(calls, dict(tools or {}), emit=emit)

    def reply(self, key: str, request_hash: str) -> CallFinished | None:
        """The recorded reply to call `key` asking what `request_hash` fingerprints; None when
        the record has none, or the call asks something other than it asked then."""
        recorded = self.calls.get(key)
        if recorded is None or recorded.request_hash not in (None, request_hash):
            return None
        return recorded.finished

    def decision(self, place: DecisionPlace, payload: Any, task: str) -> EscalationResolved | None:
        """How the escalation raised at `place` about `payload` in a session on `task` was
        decided; None when it was not raised there, or was asked about something else then."""
        recorded = self.decisions.get(place)
        if recorded is None or recorded.payload != canonical(payload) or self.task not in (None, task):
            return None
        return recorded.resolved

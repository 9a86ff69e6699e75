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
(which holds it already) says no. Replayed work is accounted either way: a fork counts
each call as it is replayed, a resume (`engine.session.run_session(resume=...)`) counts
everything the record used as it starts (`spent`: retries and tool rounds too).

For a resume, the record also knows where the session left off: its id, the seq of its
last event, how it ended, and how long it had worked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from pydantic_core import to_jsonable_python

from engine.events import (
    CallFailed,
    CallFinished,
    CallProgress,
    CallStarted,
    EndedAs,
    EscalationRequested,
    EscalationResolved,
    EventBase,
    SessionFinished,
    SessionResumed,
    SessionStarted,
    ToolResult,
    Usage,
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


class CallSpend(NamedTuple):
    """What one reply or failed attempt of the record used, as it was counted then."""

    agent: str | None
    usage: Usage
    cost: float | None
    """None when its model had no price."""
    finished: bool
    """True for a finished reply (a call made), False for a failed attempt."""


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
    session_id: str | None = None
    """The recorded session's id; None: not known."""
    last_seq: int = 0
    """The seq of its last event (kept): a resume carries on after it."""
    ended: EndedAs | Literal["completed"] | None = None
    """How it ended: its last `session.finished`'s status, "interrupted" when none came
    after its last start or resume, None when the record holds no start."""
    reason: str | None = None
    """Why it ended, as its `session.finished` said."""
    worked_s: float = 0.0
    """Seconds it worked, over its runs (the time between a run's end and a resume left out)."""
    spent: tuple[CallSpend, ...] = ()
    """What each reply and each failed attempt that used tokens used, in order, and what each
    call an end cut off had used by its last `call.progress` (billed all the same)."""
    places: dict[str, DecisionPlace] = field(default_factory=dict)
    """Where each escalation the record raised was raised, by its id."""

    @property
    def answers(self) -> int:
        """The finished calls it can answer: all but those cut between rounds of tool use."""
        return sum(
            1 for call in self.calls.values()
            if call.finished.stop_reason != "tool_use" or call.finished.structured is not None
        )

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
        spent: list[CallSpend] = []
        ended: EndedAs | Literal["completed"] | None = None
        reason: str | None = None
        worked, since = 0.0, None
        streaming: dict[str, CallProgress] = {}
        """Calls under way, by key: how far each had come."""

        def cut_off() -> None:  # what the calls an end cut off had used: billed, so counted
            spent.extend(CallSpend(p.agent, p.usage, p.cost, False) for p in streaming.values() if p.usage.total)
            streaming.clear()

        for event in kept:
            if isinstance(event, CallFinished) or isinstance(event, CallFailed) and event.usage.total:
                spent.append(CallSpend(event.agent, event.usage, event.cost, isinstance(event, CallFinished)))
            if isinstance(event, CallProgress):
                streaming[event.call_key] = event
            elif isinstance(event, CallFinished | CallFailed):
                streaming.pop(event.call_key, None)
            elif isinstance(event, SessionResumed):
                cut_off()  # counted when it was resumed
            if isinstance(event, SessionStarted | SessionResumed):  # a run begins: it works from here
                ended, reason, since = "interrupted", None, event.ts
                worked = event.worked_s if isinstance(event, SessionResumed) else 0.0
                if isinstance(event, SessionStarted) and task is None:
                    task = event.task
            elif isinstance(event, SessionFinished):  # a run ends: its duration counts every run so far
                streaming.clear()  # what its own account left out (as the state's does) stays out
                ended, reason, worked, since = event.status, event.reason, event.duration_s, None
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
        if since is not None and kept:  # it stopped without a word: it worked until its last event
            worked += max(0.0, kept[-1].ts - since)
        cut_off()
        return cls(
            calls, recorded_tools(kept), decisions, frozenset(asked), task, emit,
            session_id=kept[0].session_id if kept else None, last_seq=max((e.seq for e in kept), default=0),
            ended=ended, reason=reason, worked_s=worked, spent=tuple(spent),
            places={escalation_id: place for escalation_id, (place, _) in asked.items()},
        )

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

    def with_reply(self, key: str, text: str, structured: dict[str, Any] | None) -> Record:
        """This record with call `key`'s reply replaced by `text` (and, for a call that
        asked for JSON, `structured`): an edit at a fork, answering the same request."""
        recorded = self.calls[key]
        finished = recorded.finished.model_copy(update={"text": text, "structured": structured})
        return replace(self, calls={**self.calls, key: RecordedCall(finished, recorded.request_hash)})

    def with_decision(self, asked: EscalationRequested, resolved: EscalationResolved | None) -> Record:
        """This record with the decision on `asked` (an escalation it raised) replaced by
        `resolved`, or, with None, left to be taken again: a decision changed at a fork."""
        place = self.places[asked.escalation_id]
        decisions = {where: taken for where, taken in self.decisions.items() if where != place}
        if resolved is not None:
            decisions[place] = RecordedDecision(canonical(asked.payload), resolved)
        return replace(self, decisions=decisions)

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

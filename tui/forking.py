"""Forking a recorded session at one of its moments: `huddle fork ID --at SEQ` and `f` in replay.

A fork is a new session, linked to its parent (`session.started` says from which session,
at which seq, and what was changed there). Up to the fork it is the parent again, answered
from the parent's record (`Record.from_events(events, up_to_seq=SEQ)`): every call that
finished by then and asks what it asked then, and every decision taken by then, none of
them sent or asked again. From the fork on, it is live. At the fork a person may change
the task, the team, pattern options, budgets, provider or approval mode (over what the
parent recorded), edit the reply at SEQ (a `call.finished`), or change the decision at
SEQ (an escalation's request or resolution): take another of its choices, or have it
asked again. What differs from the parent is live from its first difference on: a reply
answers a call only when the call asks exactly what it asked then.

A fork that cannot be made says why in one line (`CannotFork`); nothing is changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from engine.approvals import FORK_RULE, DecisionError, answer
from engine.config import ConfigError, UserConfig
from engine.events import (
    CallFinished, EscalationRequested, EscalationResolved, EventBase, ForkOrigin, SessionStarted,
)
from engine.formats import count
from engine.run.record import Record
from engine.teams import TeamFile
from sessions.rows import SessionRow
from sessions.store import SessionStore
from tui.resuming import ResumeChoices, resumed_setup
from tui.setup import Setup, SetupError, team_for, Choices
from tui.userfiles import load_config

ASK_AGAIN = "ask"
"""`ForkChoices.decide` for a decision asked again at the fork (by the approval policy)."""


class CannotFork(ValueError):
    """A fork that cannot be made; the message says why, in one line."""


@dataclass
class ForkChoices(ResumeChoices):
    """Where to fork, and what to change there; None (or empty) keeps what the parent recorded."""

    at: int = 0
    """The seq of the moment forked at: the fork is the parent up to and including it."""
    task: str | None = None
    team: str | TeamFile | None = None
    """Another team (a team file, one of the user's by name, a preset); the pattern stays."""
    options: dict[str, Any] = field(default_factory=dict)
    """Pattern options over the recorded ones."""
    reply: str | None = None
    """The reply at `at` (a `call.finished`), edited."""
    decide: str | None = None
    """The decision at `at` (an escalation), changed: the id or action of one of its
    choices, or `ASK_AGAIN`."""
    answer: str = ""
    """What the choice taken asks for (a reason, a value, the edited payload as JSON)."""


@dataclass
class Forkable:
    """A fork ready to run: its parent's row, the parent's events up to the fork, what the
    parent answers, and how the fork runs."""

    parent: SessionRow
    events: list[EventBase]
    record: Record
    setup: Setup


async def load_forkable(store: SessionStore, wanted: str, choices: ForkChoices, user: UserConfig | None = None) -> Forkable:
    """The fork of the session with id (or unique id prefix) `wanted` at `choices.at`.
    Raises `CannotFork` for a moment the session does not have, a change that does not fit
    that moment, or a record that cannot be set up again; the store's `StoreError` for an
    unknown id or a damaged event."""
    parent = await store.get_session(wanted)
    if not 1 <= choices.at <= parent.last_seq:
        raise CannotFork(
            f"huddle: session {parent.id} has events 1 to {count(parent.last_seq)}: "
            f"there is no seq {choices.at} to fork at"
        )
    events: list[EventBase] = []
    async for event in store.iter_events(parent.id):
        if event.seq > choices.at:
            break
        events.append(event)
    if not events or not isinstance(events[0], SessionStarted):
        raise CannotFork(f"huddle: session {parent.id} cannot be forked: its record does not start with session.started")
    if [event.seq for event in events] != list(range(1, choices.at + 1)):
        raise CannotFork(f"huddle: session {parent.id} cannot be forked: events are missing from its record")
    started = events[0]
    record = Record.from_events(events, emit=True)
    changes: list[str] = []
    if choices.reply is not None:
        record = _edited_reply(record, events[-1], choices.reply, changes)
    if choices.decide is not None:
        record = _changed_decision(record, events, choices, changes)
    try:
        user = user or load_config()
        team = team_for(Choices(task="", team=choices.team)) if choices.team is not None else None
    except (ConfigError, SetupError) as error:
        raise CannotFork(f"huddle: cannot fork session {parent.id}: {error}") from None
    changes += _setting_changes(started, choices, team)
    origin = ForkOrigin(session_id=parent.id, at_seq=choices.at, changes=changes)
    try:
        setup = await asyncio.to_thread(  # may probe for a sandbox: off the loop
            partial(resumed_setup, started, choices, user, task=choices.task, team=team, options=choices.options,
                    forked_from=origin),
        )
    except SetupError as error:
        raise CannotFork(f"huddle: cannot fork session {parent.id}: {error}") from None
    return Forkable(parent, events, record, setup)


def _edited_reply(record: Record, at: EventBase, text: str, changes: list[str]) -> Record:
    """`record` with the reply at the fork edited to `text`."""
    if not isinstance(at, CallFinished):
        raise CannotFork(f"huddle: only a reply can be edited: seq {at.seq} is {at.kind}, not call.finished")
    if record.calls[at.call_key].finished is not at:
        raise CannotFork(f"huddle: seq {at.seq} is an earlier reply to call {at.call_key}: fork at its last one")
    structured = None
    if at.structured is not None:  # the call asked for a JSON object: its edit must be one
        try:
            structured = json.loads(text)
        except json.JSONDecodeError as error:
            raise CannotFork(f"huddle: the reply at seq {at.seq} must be a JSON object: {error.msg} at line {error.lineno}") from None
        if not isinstance(structured, dict):
            raise CannotFork(f"huddle: the reply at seq {at.seq} must be a JSON object, as its call asked")
    whose = f"{at.agent}'s" if at.agent else "the"
    changes.append(f"{whose} reply at #{at.seq} edited")
    return record.with_reply(at.call_key, text, structured)


def _changed_decision(record: Record, events: list[EventBase], choices: ForkChoices, changes: list[str]) -> Record:
    """`record` with the decision on the escalation at the fork changed as `choices` say."""
    at = events[-1]
    if not isinstance(at, EscalationRequested | EscalationResolved):
        raise CannotFork(f"huddle: only a decision can be changed: seq {at.seq} is {at.kind}, not an escalation")
    asked = next(e for e in events if isinstance(e, EscalationRequested) and e.escalation_id == at.escalation_id)
    if choices.decide == ASK_AGAIN:
        changes.append(f"decision at #{at.seq} asked again")
        return record.with_decision(asked, None)
    choice = next((c for c in asked.choices if choices.decide in (c.id, c.action)), None)
    if choice is None:
        offered = ", ".join(c.id for c in asked.choices)
        raise CannotFork(f"huddle: {choices.decide!r} is not a choice at seq {at.seq} ({offered}, or {ASK_AGAIN})")
    try:
        decision = answer(choice, choices.answer)
    except DecisionError as error:
        raise CannotFork(f"huddle: the decision at seq {at.seq}: {error}") from None
    resolved = EscalationResolved(
        session_id=asked.session_id, seq=at.seq, ts=time.time(), span_id=asked.span_id, agent=asked.agent,
        escalation_id=asked.escalation_id, trigger=asked.trigger, action=decision.action, by="human",
        rule=FORK_RULE, reason=decision.reason, edited=decision.edited, option=decision.option,
    )
    changes.append(f"decision at #{at.seq} changed to {choice.id}")
    return record.with_decision(asked, resolved)


def _setting_changes(started: SessionStarted, choices: ForkChoices, team: TeamFile | None) -> list[str]:
    """What the fork runs differently from its parent, a short phrase each."""
    changes = []
    if choices.task is not None and choices.task.strip() != started.task:
        changes.append("task changed")
    if team is not None:
        changes.append(f"team {team.name}")
    changes += [f"option {key}={json.dumps(value)}" for key, value in choices.options.items() if started.options.get(key) != value]
    budgets = {"tokens": choices.tokens, "cost": choices.cost, "turns": choices.turns, "seconds": choices.seconds}
    changes += [f"{name} budget {value:g}" for name, value in budgets.items() if value is not None]
    if choices.provider is not None:
        changes.append(f"provider {choices.provider}")
    return changes

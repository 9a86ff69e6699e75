"""What waits for a person: every pending escalation of every running session in the
store (`SessionStore.waiting_escalations`), as the inbox lists it and `huddle inbox`
prints it, and the plain decisions that answer one without a dialog (approve, reject
with a reason) for `A` in the inbox and `huddle inbox approve|reject`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.approvals import Decision, DecisionError, answer
from engine.events import DECIDED, EscalationRequested
from engine.formats import period, time_of_day
from sessions.decisions import decider
from sessions.rows import SessionRow
from sessions.store import SessionStore
from tui.safe import safe

IN_THE_INBOX = "in the inbox"
"""Where a decision taken in the inbox (the screen) is recorded as taken: "ana@build-3 in the inbox"."""
FROM_THE_COMMAND_LINE = "from the command line"
"""Where one taken by `huddle inbox approve|reject` is."""


def inbox_decider() -> str:
    """Who decides in the inbox, and where (`sessions.decisions.decider`)."""
    return decider(IN_THE_INBOX)


@dataclass(frozen=True)
class Waiting:
    """One escalation waiting for a person, with the row of its session (both through the gate)."""

    row: SessionRow
    escalation: EscalationRequested

    @property
    def key(self) -> str:
        """Its key among every session's: "session id/escalation id"."""
        return f"{self.row.id}/{self.escalation.escalation_id}"

    @property
    def session_id(self) -> str:
        return self.row.id

    @property
    def escalation_id(self) -> str:
        return self.escalation.escalation_id


async def waiting(store: SessionStore) -> list[Waiting]:
    """Everything waiting for a person in `store`, oldest first, through the gate
    (`tui.safe`): titles, reasons and payloads come from models."""
    return [Waiting(safe(row), safe(escalation)) for row, escalation in await store.waiting_escalations()]


def countdown(escalation: EscalationRequested, now: float, *, short: bool = False) -> str:
    """How long until a timeout decides: "reject in 4m 5s" ("4m 5s" `short`), "reject now"
    once it is due, "no timeout" when none will."""
    if not escalation.timeout_s:
        return "no timeout"
    left = escalation.ts + escalation.timeout_s - now
    default = escalation.default or "default"
    if left <= 0:
        return "now" if short else f"{default} now"
    return period(left) if short else f"{default} in {period(left)}"


def age(escalation: EscalationRequested, now: float) -> str:
    """How long it has waited: "12s", "3m 5s"."""
    return period(max(0.0, now - escalation.ts))


def plain_decision(escalation: EscalationRequested, action: str, reason: str = "") -> Decision:
    """The decision its choice for `action` ("approve", "reject") makes without a dialog,
    with `reason` for a choice that asks for one. Raises `DecisionError` when it has no such
    choice, or the choice needs what only the dialog gives (an edited payload, a value)."""
    choice = escalation.choice(action)
    if choice is None:
        offered = ", ".join(escalation.options) or "none"
        raise DecisionError(f"escalation {escalation.escalation_id} cannot be {DECIDED.get(action, action)} (its options: {offered})")
    if choice.input == "json" or (choice.required and choice.input != "reason"):
        raise DecisionError(
            f"escalation {escalation.escalation_id}: {choice.label} asks for {choice.prompt or 'an answer'}: decide it in the inbox"
        )
    return answer(choice, reason)


def as_json(item: Waiting, now: float) -> dict[str, Any]:
    """One escalation of `huddle inbox --json`: where it waits, what it asks, what is at
    stake (its whole payload) and its timeout."""
    e = item.escalation
    return {
        "session_id": item.session_id,
        "title": item.row.title,
        "pattern": item.row.pattern,
        "escalation_id": e.escalation_id,
        "agent": e.agent,
        "trigger": e.trigger,
        "reason": e.reason,
        "rule": e.rule,
        "options": list(e.options),
        "asked_at": e.ts,
        "age_s": round(max(0.0, now - e.ts), 3),
        "timeout_s": e.timeout_s,
        "default": e.default,
        "tool": e.tool.name if e.tool is not None else None,
        "payload": e.payload,
    }


def asked_at(escalation: EscalationRequested) -> str:
    """When it was asked, as a time of day."""
    return time_of_day(escalation.ts)

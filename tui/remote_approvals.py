"""`RemoteApprovals`: the approval dialog's host (`tui.screens.approval.ApprovalHost`) for a
session another process runs, seen through the store: an attached screen, the inbox.

A decision is posted through the store (`tui.posting`) in the background; the person
hears what became of it in a notice: taken by the session, or already decided by someone
else (who, and when), or refused (an edit that does not validate).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App

from engine.approvals import Decision, DecisionError
from engine.events import DECIDED, EscalationRequested
from sessions.errors import StoreError
from sessions.store import SessionStore
from tui.posting import Outcome, post_decision

Pending = Callable[[], list[EscalationRequested]]
"""What waits for a decision now, oldest first."""


class RemoteApprovals:
    """Decides the escalations `pending` gives for session `session_id`, as `by`."""

    def __init__(self, app: App[object], store: SessionStore, session_id: str, pending: Pending, *, by: str) -> None:
        self.app = app
        self.store = store
        self.session_id = session_id
        self._pending = pending
        self.by = by
        """Who decides, and from where (`sessions.decisions.decider`)."""
        self.sent: set[str] = set()
        """The escalations decided from here, taken or not yet: not offered again."""

    def pending_escalations(self) -> list[EscalationRequested]:
        return [e for e in self._pending() if e.escalation_id not in self.sent]

    def decide(self, escalation_id: str, decision: Decision) -> None:
        self._post(escalation_id, decision, "once")

    def allow_always(self, trigger: str) -> None:
        first = next((e for e in self.pending_escalations() if e.trigger == trigger), None)
        if first is not None:  # the session approves the rest of that trigger as it takes it
            self._post(first.escalation_id, Decision("approve"), "always")

    def allow_tool(self, escalation_id: str, *, exact: bool) -> str:
        if not any(e.escalation_id == escalation_id and e.tool is not None for e in self.pending_escalations()):
            raise DecisionError(f"escalation {escalation_id} is not a tool use waiting for a decision")
        self._post(escalation_id, Decision("approve"), "tool-input" if exact else "tool")
        return self.by

    def now(self) -> float:
        return time.time()

    def _post(self, escalation_id: str, decision: Decision, scope: str) -> None:
        self.sent.add(escalation_id)
        self.app.run_worker(self._send(escalation_id, decision, scope), group="posting")

    async def _send(self, escalation_id: str, decision: Decision, scope: str) -> Outcome:
        try:
            outcome = await post_decision(self.store, self.session_id, escalation_id, decision, by=self.by, scope=scope)
        except StoreError as error:
            self.sent.discard(escalation_id)  # not posted: it can be decided again
            self.app.notify(str(error), title="The decision was not sent", severity="error", timeout=10, markup=False)
            return Outcome(False, str(error))
        where = f"session {self.session_id[:8]}, {escalation_id}"
        if outcome.ok:
            self.app.notify(f"{where}: {outcome.message}.", title=DECIDED[decision.action].capitalize(), timeout=4, markup=False)
        else:
            self.app.notify(f"{where}: {outcome.message}.", title="Not taken", severity="warning", timeout=8, markup=False)
        return outcome

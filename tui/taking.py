"""A running session taking the decisions posted for it through the store (`sessions.decisions`):
what lets `huddle inbox` and `huddle attach`, in any process sharing the store, answer
the escalations of a session this process runs.

The session looks for posted decisions when the store tells it a decision was posted
(PostgreSQL's LISTEN/NOTIFY), else every `POLL_S` seconds (one indexed query), answers its approval gate with each, and settles it in the store: taken,
or why not (decided meanwhile, here or by a rule; an edit that does not validate).
"""

from __future__ import annotations

import asyncio
import logging

from engine.approvals import ApprovalGate, DecisionError
from engine.bus import EventBus
from engine.events import DECIDED, EscalationResolved, EventBase
from engine.formats import time_of_day
from sessions.decisions import TAKEN, Posted
from sessions.errors import StoreError
from sessions.store import SessionStore

log = logging.getLogger(__name__)

POLL_S = 0.2
"""How often a session with an escalation waiting looks for a posted decision: with the
poster's own look for the outcome, a decision is taken well within a second."""


class DecisionTaker:
    """Takes the decisions posted for session `session_id` into its `gate`."""

    def __init__(self, store: SessionStore, session_id: str, gate: ApprovalGate, bus: EventBus) -> None:
        self.store = store
        self.session_id = session_id
        self.gate = gate
        self._resolved: dict[str, EscalationResolved] = {}
        """How each escalation was decided, to tell a late poster who was first."""
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        bus.listen(self._keep)

    def _keep(self, event: EventBase) -> None:
        if isinstance(event, EscalationResolved):
            self._resolved[event.escalation_id] = event

    def start(self) -> None:
        """Look for posted decisions from now on, until `stop`."""
        self._task = asyncio.create_task(self._run(), name="huddle-decisions")

    async def stop(self) -> None:
        """Stop looking, once the look under way (if any) has settled what it took; then
        settle what was posted too late for the session, saying so."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        try:
            for posted in await self.store.waiting_decisions(self.session_id):
                await self.store.settle_decision(self.session_id, posted.escalation_id, self.take(posted))
        except StoreError as error:
            log.warning("session %s: posted decisions could not be settled: %s", self.session_id, error)

    async def _run(self) -> None:
        """A look every `POLL_S` seconds. A store that cannot be read for a moment (locked)
        is tried again at the next look."""
        while not self._stopping.is_set():
            stopping = asyncio.ensure_future(self._stopping.wait())
            changed = asyncio.ensure_future(self.store.wait_for_change(self.session_id, POLL_S))
            await asyncio.wait({stopping, changed}, return_when=asyncio.FIRST_COMPLETED)
            for waiting in (stopping, changed):
                waiting.cancel()
            if self._stopping.is_set():
                return
            try:
                for posted in await self.store.waiting_decisions(self.session_id):
                    await self.store.settle_decision(self.session_id, posted.escalation_id, self.take(posted))
            except StoreError as error:
                log.warning("session %s: posted decisions could not be read: %s", self.session_id, error)

    def take(self, posted: Posted) -> str:
        """Answer the gate with `posted`; its outcome: `TAKEN`, or why it was not taken."""
        try:
            escalation = self.gate.pending.get(posted.escalation_id)
            if escalation is None:
                raise DecisionError(f"escalation {posted.escalation_id} is not waiting for a decision")
            if posted.scope == "always":
                self.gate.allow_always(escalation.trigger)
            elif posted.scope in ("tool", "tool-input"):
                self.gate.allow_tool(posted.escalation_id, exact=posted.scope == "tool-input")
            else:
                self.gate.resolve(posted.escalation_id, posted.decision())
        except DecisionError as error:
            resolved = self._resolved.get(posted.escalation_id)
            if resolved is None and self._stopping.is_set():
                return "the session ended before it took the decision"
            if resolved is not None:
                return f"already decided: {DECIDED[resolved.action]} by {resolved.by} ({resolved.rule}) at {time_of_day(resolved.ts)}"
            return str(error)
        log.info("session %s: escalation %s decided by %s", self.session_id, posted.escalation_id, posted.decided_by)
        return TAKEN

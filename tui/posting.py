"""Deciding for a session another process runs: post the decision through the store
(`sessions.decisions`) and wait, briefly, for the session to take it. What the inbox and an
attached screen do where a live screen answers its own gate.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import NamedTuple

from engine.approvals import Decision
from engine.formats import time_of_day
from sessions.decisions import TAKEN, Posted
from sessions.rows import LIVE_STATES
from sessions.store import SessionStore

SETTLE_WAIT_S = 3.0
"""How long a poster waits to hear the session took its decision (it looks every 0.2 s)."""
LOOK_S = 0.05
"""How often the poster looks for the outcome meanwhile."""


class Outcome(NamedTuple):
    """What became of a posted decision: taken (`ok`), or not, and a line saying which."""

    ok: bool
    message: str


async def post_decision(
    store: SessionStore, session_id: str, escalation_id: str, decision: Decision, *, by: str, scope: str = "once",
) -> Outcome:
    """Post `decision` (or, with `scope`, an "always allow") for a session's escalation as
    `by` (`sessions.decisions.decider`), and wait up to `SETTLE_WAIT_S` for the session to
    take it. Raises the store's `StoreError` when it cannot be posted."""
    posted = await store.posted(session_id, escalation_id)
    if posted is None:
        row = await store.get_session(session_id)
        if row.status not in LIVE_STATES:  # nothing would take it
            return Outcome(False, f"session {row.id} is not running ({row.status}): nothing waits for a decision")
        posted = await store.post_decision(Posted(
            session_id, escalation_id, decision.action, decision.option, decision.reason, decision.edited, scope, by, time.time(),
        ))
    else:
        posted = replace(posted, first=False)
    if not posted.first:
        return Outcome(False, f"already decided by {posted.decided_by} at {time_of_day(posted.decided_at)}")
    deadline = time.monotonic() + SETTLE_WAIT_S
    while posted.outcome is None and time.monotonic() < deadline:
        await store.wait_for_change(session_id, LOOK_S)  # the session settles it, in another process
        posted = await store.posted(session_id, escalation_id) or posted
    if posted.outcome is None:
        return Outcome(True, "sent; the session has not taken it yet (it takes it as soon as it looks)")
    if posted.outcome == TAKEN:
        return Outcome(True, "taken by the session")
    return Outcome(False, posted.outcome)

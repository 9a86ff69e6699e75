"""Decisions through the store, on each backend: the first one posted for an escalation is
the one, a session picks up those waiting for it and settles them, and the escalations
waiting for a person leave out the posted and the finished."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engine.events import EscalationResolved
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.decisions import TAKEN, Posted
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY
from tui.recording import LiveSession

ASK = ApprovalPolicy(default="ask")


def posted(session_id: str, escalation_id: str, action: Any = "approve", by: str = "ana@here in a test") -> Posted:
    return Posted(session_id, escalation_id, action, None, "looks right", {"plan": ["é", 1.5]}, "once", by, time.time())


async def waiting(store: SessionStore, count: int) -> list[Any]:
    """The escalations waiting in the store, once there are `count` (a bounded look)."""
    deadline = time.monotonic() + 10
    while len(found := await store.waiting_escalations()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} escalations did not come to wait")
        await asyncio.sleep(0.02)
    return found


def session(store: SessionStore, task: str) -> LiveSession:
    return LiveSession(
        SessionSpec(task=task, policy=ASK, seed=3), SimulatedProvider(seed=3, speed=0),
        EngineConfig(retry=FAST_RETRY, call_timeout=5), store=store,
    )


async def test_the_first_decision_posted_is_the_one(store: SessionStore) -> None:
    first = await store.post_decision(posted("s1", "e1", "approve", by="ana@here in the inbox"))
    second = await store.post_decision(posted("s1", "e1", "reject", by="bob@there in the inbox"))

    assert first.first and first.decided_by == "ana@here in the inbox"
    assert not second.first and (second.action, second.decided_by) == ("approve", "ana@here in the inbox")
    assert second.edited == {"plan": ["é", 1.5]}
    assert [p.escalation_id for p in await store.waiting_decisions("s1")] == ["e1"]
    assert await store.posted("s1", "nothing") is None

    await store.settle_decision("s1", "e1", TAKEN)
    await store.settle_decision("s1", "e1", "too late")  # settled once: the first outcome stays

    settled = await store.posted("s1", "e1")
    assert settled is not None and settled.outcome == TAKEN and settled.settled_at is not None
    assert await store.waiting_decisions("s1") == []


async def test_a_running_session_takes_a_posted_decision(store: SessionStore) -> None:
    first, second = session(store, "Design a rate limiter"), session(store, "Write the on-call runbook")
    runs = [asyncio.create_task(first.run())]
    [(row, asked)] = await waiting(store, 1)
    runs.append(asyncio.create_task(second.run()))
    found = await waiting(store, 2)
    assert [r.id for r, _ in found] == [first.session_id, second.session_id]  # oldest first
    assert row.id == first.session_id and row.status == "waiting" and asked.human

    await store.post_decision(posted(row.id, asked.escalation_id))
    assert [r.id for r, _ in await store.waiting_escalations()] == [second.session_id]  # posted: on its way
    deadline = time.monotonic() + 10
    while (taken := await store.posted(row.id, asked.escalation_id)) is not None and taken.outcome is None:
        assert time.monotonic() < deadline, "the session did not take the decision"
        await asyncio.sleep(0.02)
    assert taken is not None and taken.outcome == TAKEN

    for live in (first, second):
        live.cancel()
    await asyncio.wait_for(asyncio.gather(*runs), 30)
    assert await store.waiting_escalations() == []  # cancelled sessions wait for nobody
    events = await store.load_events(row.id, limit=100_000)
    resolved = next(e for e in events if isinstance(e, EscalationResolved) and e.escalation_id == asked.escalation_id)
    assert (resolved.action, resolved.rule) == ("approve", "ana@here in a test")

"""Decisions through the store: a session recorded by a LiveSession takes a decision posted
for it (by any huddle on the database) within a second, records who took it and where, and
a second decision on the same escalation is refused with who was first."""

from __future__ import annotations

import asyncio
import time

from engine.approvals import Decision
from engine.events import EscalationResolved
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.decisions import TAKEN, Posted, decider
from sessions.opening import open_store
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY
from tui.posting import post_decision
from tui.recording import LiveSession

ASK = ApprovalPolicy(default="ask")


async def waiting(store: SessionStore, count: int = 1, *, besides: tuple[str, ...] = ()):
    """The escalations waiting in the store (but those of ids `besides`), once there are
    `count` (the session records them within 0.1 s; a bounded look, as another process would)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [(row, e) for row, e in await store.waiting_escalations() if e.escalation_id not in besides]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("no escalation came to wait")


async def settled(store: SessionStore, session_id: str, escalation_id: str) -> Posted:
    """The decision posted for the escalation, once the session has settled it (a bounded look)."""
    deadline = time.monotonic() + 10
    while (posted := await store.posted(session_id, escalation_id)).outcome is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return posted


def session(store: SessionStore, task: str = "Design a rate limiter") -> LiveSession:
    return LiveSession(
        SessionSpec(task=task, policy=ASK, seed=3), SimulatedProvider(seed=3, speed=0),
        EngineConfig(retry=FAST_RETRY, call_timeout=5), store=store,
    )


async def test_a_posted_decision_is_taken_and_recorded_with_who_and_where(database) -> None:
    async with await open_store(database) as store:
        live = session(store)
        running = asyncio.create_task(live.run())
        [(row, asked)] = await waiting(store)
        assert (row.id, asked.trigger) == (live.session_id, "plan")

        outcome = await post_decision(store, row.id, asked.escalation_id, Decision("approve"), by=decider("in a test"))
        assert outcome.ok  # taken, or (on a busy machine) on its way
        assert (await settled(store, row.id, asked.escalation_id)).outcome == TAKEN
        second = await post_decision(store, row.id, asked.escalation_id, Decision("reject"), by="bob@elsewhere in the inbox")
        assert not second.ok and second.message.startswith(f"already decided by {decider('in a test')} at ")

        live.gate.policy = ApprovalPolicy(default="approve")  # what follows the plan is not the test's
        for pending in list(live.gate.pending):
            live.gate.resolve(pending, Decision("approve"))
        await asyncio.wait_for(running, 30)
        events = await store.load_events(row.id, limit=100_000)
    resolved = next(e for e in events if isinstance(e, EscalationResolved) and e.escalation_id == asked.escalation_id)
    assert (resolved.action, resolved.by, resolved.rule) == ("approve", "human", decider("in a test"))
    assert live.finished is not None and live.finished.status == "completed"


async def test_a_decision_posted_after_the_session_decided_is_refused_with_who_decided(database) -> None:
    async with await open_store(database) as store:
        live = session(store)
        running = asyncio.create_task(live.run())
        [(row, asked)] = await waiting(store)
        live.gate.resolve(asked.escalation_id, Decision("reject", reason="not now"))  # at its own screen, first
        while asked.escalation_id in live.gate.pending:
            await asyncio.sleep(0)
        [(_, again)] = await waiting(store, besides=(asked.escalation_id,))  # the lead plans again, asks again

        # Posted from afar before its resolution reached the store: the session says who was first.
        late = await store.post_decision(Posted(row.id, asked.escalation_id, "approve", None, None, None, "once", "ana@far in the inbox", time.time()))
        assert late.first
        late = await settled(store, row.id, asked.escalation_id)
        assert again.escalation_id in live.gate.pending  # the late one did not answer the next escalation
        outcome = await post_decision(store, row.id, asked.escalation_id, Decision("approve"), by="bob@near in the inbox")
        live.cancel()
        await asyncio.wait_for(running, 30)
    assert late.outcome is not None and late.outcome.startswith("already decided: rejected by human (policy: default=ask) at ")
    assert not outcome.ok and outcome.message.startswith("already decided by ana@far in the inbox at ")


async def test_waiting_escalations_leave_out_the_decided_the_posted_and_the_finished(database) -> None:
    async with await open_store(database) as store:
        first, second = session(store, "Design a rate limiter"), session(store, "Write the on-call runbook")
        runs = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
        found = await waiting(store, 2)
        assert [row.id for row, _ in found] == [first.session_id, second.session_id]  # oldest first

        row, asked = found[0]
        await store.post_decision(Posted(row.id, asked.escalation_id, "approve", None, None, None, "once", decider("in a test"), time.time()))
        assert [r.id for r, _ in await store.waiting_escalations()] == [second.session_id]  # posted: on its way

        for live in (first, second):
            live.cancel()
        await asyncio.gather(*runs)
        assert await store.waiting_escalations() == []  # cancelled sessions wait for nobody

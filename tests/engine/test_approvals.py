"""The approval gate: only the asking branch waits; decisions are events."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.events import Choice
from engine.policy import ApprovalPolicy
from tests.helpers import ScriptedProvider, orchestrated, plan_of, run


class Payload(BaseModel):
    amount: int


async def _context(gate):
    from engine.patterns import preset_team
    from engine.budgets import Limits
    from engine.bus import EventBus
    from engine.context import Run, RunContext
    from engine.guards import CircuitBreaker, RetryPolicy
    from engine.pricing import PriceTable

    bus = EventBus()
    events = []
    bus.listen(events.append)
    ctx = RunContext(Run(
        session_id="t", task="t", team=preset_team("orchestrator"), provider=None, bus=bus, gate=gate,
        limits=Limits(), seed=0, retry=RetryPolicy(), call_timeout=1, breaker=CircuitBreaker(), prices=PriceTable(),
    ))
    return ctx, events


async def test_pending_escalation_blocks_only_its_branch():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    progress = []

    async def asking():
        decision = await ctx.escalate("tool_use", "run rm -rf?", {"cmd": "rm"})
        progress.append(("asker", decision.action))

    async def working():
        for i in range(3):
            await asyncio.sleep(0.01)
            progress.append(("worker", i))

    asker = asyncio.create_task(asking())
    await working()
    assert progress == [("worker", 0), ("worker", 1), ("worker", 2)]
    assert not asker.done()
    (pending,) = gate.pending
    gate.resolve(pending, Decision("reject", reason="too risky"))
    await asker
    assert progress[-1] == ("asker", "reject")
    resolved = [e for e in events if e.kind == "escalation.resolved"][0]
    assert (resolved.action, resolved.by, resolved.reason, resolved.rule) == ("reject", "human", "too risky", "policy: default=ask")
    assert resolved.ts >= events[0].ts


async def test_edit_is_validated_before_it_is_accepted():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    task = asyncio.create_task(ctx.escalate("plan", "ok?", {"amount": 1}, options=("approve", "edit", "reject"), validate=Payload.model_validate))
    await asyncio.sleep(0)
    with pytest.raises(DecisionError, match="amount"):
        gate.resolve("e1", Decision("edit", edited={"amount": "lots"}))
    assert not task.done() and "e1" in gate.pending  # nothing lost: still waiting
    gate.resolve("e1", Decision("edit", edited={"amount": 5}))
    decision = await task
    assert decision.edited == Payload(amount=5)
    with pytest.raises(DecisionError, match="not waiting"):
        gate.resolve("e1", Decision("approve"))


async def test_options_are_enforced():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, _ = await _context(gate)
    task = asyncio.create_task(ctx.escalate("plan", "ok?"))
    await asyncio.sleep(0)
    with pytest.raises(DecisionError, match="not an option"):
        gate.resolve("e1", Decision("edit", edited={}))
    gate.resolve("e1", Decision("approve"))
    await task


async def test_timeout_takes_the_safe_default():
    gate = ApprovalGate(ApprovalPolicy(default="ask", timeout_s=0.05, timeout_default="reject"))
    ctx, events = await _context(gate)
    decision = await ctx.escalate("plan", "ok?")
    assert decision.action == "reject" and decision.by == "timeout"
    requested = [e for e in events if e.kind == "escalation.requested"][0]
    assert requested.timeout_s == 0.05 and requested.default == "reject"


async def test_always_allow_settles_pending_and_future_escalations_of_that_trigger():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    first = asyncio.create_task(ctx.escalate("tool_use", "a"))
    other = asyncio.create_task(ctx.escalate("plan", "b"))
    await asyncio.sleep(0)
    gate.allow_always("tool_use")
    assert (await first).action == "approve"
    assert (await ctx.escalate("tool_use", "c")).by == "policy"
    assert not other.done()
    rules = [e.rule for e in events if e.kind == "escalation.resolved"]
    assert rules == ["human: always allow tool_use", "human: always allow tool_use"]
    other.cancel()


async def test_a_blanket_approve_cannot_take_an_option_that_is_not_offered():
    gate = ApprovalGate(ApprovalPolicy(default="approve", timeout_s=0.05, timeout_default="approve"))
    ctx, events = await _context(gate)
    decision = await ctx.escalate("invalid_output", "choose one", options=("edit", "reject"))
    assert (decision.action, decision.by) == ("reject", "policy")
    gate.allow_always("invalid_output")  # a person's standing "allow" still asks, then times out safely
    choices = (Choice(id="choose", label="Choose", action="edit"), Choice(id="stop", label="Stop", action="reject"))
    decision = await ctx.escalate("invalid_output", "choose one", choices=choices)
    assert (decision.action, decision.by) == ("reject", "timeout")
    requested = [e for e in events if e.kind == "escalation.requested"]
    assert requested[-1].human and requested[-1].default == "reject" and requested[-1].options == ["edit", "reject"]


async def test_policy_per_trigger():
    policy = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    assert policy.mode_for("plan") == ("approve", "policy: default=approve")
    assert policy.mode_for("budget") == ("reject", "policy: budget=reject")


async def test_every_decision_in_a_session_is_recorded_with_who_and_rule():
    ran = await run(ScriptedProvider(orchestrated(plan_of(("s1", "coder", [])))), policy=ApprovalPolicy(default="approve"))
    (requested,) = ran.of("escalation.requested")
    (resolved,) = ran.of("escalation.resolved")
    assert requested.escalation_id == resolved.escalation_id
    assert resolved.by == "policy" and resolved.rule == "policy: default=approve"
    assert not requested.human

"""Budgets, timeouts, retries, the circuit breaker and schema retries."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from pydantic import BaseModel

from engine.approvals import ApprovalGate, Decision
from engine.guards import CircuitBreaker, RetryPolicy
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig
from tests.helpers import FAST_RETRY, ScriptedProvider, orchestrated, plan_of, run

PLAN3 = plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]), ("s3", "reviewer", ["s2"]))


def _answering(gate: ApprovalGate, decide):
    """An on_event hook that answers each human escalation with decide(event)."""

    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decide(event))

    return hook


def _budget_policy(default="approve"):
    # Plans are approved; budget crossings go to whoever the test says.
    return ApprovalPolicy(default=default, triggers={"plan": "approve"})


@pytest.mark.parametrize(
    ("limit", "resource"),
    # The cost limit is above what the plan's reply costs while it streams (budgets are checked then too).
    [({"tokens": 400}, "tokens"), ({"cost": 0.0025}, "cost"), ({"turns": 1}, "turns")],
)
async def test_crossing_a_budget_and_stopping_keeps_a_partial_result(limit, resource):
    from engine.budgets import Limits

    ran = await run(
        ScriptedProvider(orchestrated(PLAN3)),
        policy=_budget_policy("reject"),
        limits=Limits(**limit),
    )
    escalation = next(e for e in ran.of("escalation.requested") if e.trigger == "budget")
    assert escalation.payload["resource"] == resource
    assert ran.finished.status == "stopped"
    assert ran.finished.partial
    assert resource in ran.finished.reason
    if resource != "tokens":  # the token budget runs out during planning
        assert "Partial result" in ran.finished.result and "researcher did it" in ran.finished.result


async def test_approving_a_budget_escalation_extends_it_and_the_run_completes():
    from engine.budgets import Limits

    ran = await run(ScriptedProvider(orchestrated(PLAN3)), policy=_budget_policy("approve"), limits=Limits(turns=2))
    assert ran.finished.status == "completed"
    extended = [e for e in ran.of("budget.updated") if e.reason == "extended"]
    assert extended and extended[0].limits.turns == 3
    assert ran.finished.turns == 3


async def test_editing_a_budget_sets_the_new_limit_and_invalid_edits_are_refused():
    from engine.approvals import DecisionError
    from engine.budgets import Limits

    gate = ApprovalGate(_budget_policy("ask"))
    refused = []

    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            try:
                gate.resolve(event.escalation_id, Decision("edit", edited={"new_limit": 0}))
            except DecisionError as error:
                refused.append(str(error))
            asyncio.get_running_loop().call_soon(
                gate.resolve, event.escalation_id, Decision("edit", edited={"new_limit": 10})
            )

    ran = await run(ScriptedProvider(orchestrated(PLAN3)), gate=gate, policy=gate.policy, limits=Limits(turns=1), on_event=hook)
    assert refused and "more than" in refused[0]
    assert ran.finished.status == "completed"
    assert [e.limits.turns for e in ran.of("budget.updated") if e.reason == "extended"] == [10]


async def test_time_budget():
    from engine.budgets import Limits

    ran = await run(
        ScriptedProvider(orchestrated(PLAN3), delay=0.1),
        policy=_budget_policy("reject"),
        limits=Limits(seconds=0.15),
    )
    assert ran.finished.status == "stopped"
    assert "seconds budget" in ran.finished.reason


async def test_one_budget_escalation_for_many_branches():
    from engine.budgets import Limits

    wide = plan_of(*[(f"s{i}", "researcher", []) for i in range(6)])
    ran = await run(ScriptedProvider(orchestrated(wide)), policy=_budget_policy("reject"), limits=Limits(turns=2))
    assert len([e for e in ran.of("escalation.requested") if e.trigger == "budget"]) == 1
    assert ran.finished.status == "stopped"


async def test_per_call_timeout_then_retry_succeeds():
    provider = SimulatedProvider(seed=2, speed=0, faults=parse_faults("timeout@researcher"))
    # timeout on every researcher attempt: the step fails, the session goes on
    ran = await run(provider, config=EngineConfig(retry=FAST_RETRY, call_timeout=0.05), policy=_budget_policy())
    failed = [e for e in ran.of("call.failed") if e.agent == "researcher"]
    assert failed and all(e.error_type == "timeout" for e in failed)
    assert failed[-1].final
    assert len(failed) == FAST_RETRY.max_attempts
    research = [e for e in ran.of("step.finished") if e.agent == "researcher"][0]
    assert research.status == "error" and "no reply for 0.05s" in research.error


async def test_fault_spec_agent_filter_syntax():
    fault = parse_faults("rate_limit:0.5@coder")[0]
    assert (fault.kind, fault.probability, fault.agent) == ("rate_limit", 0.5, "coder")
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("meteor")
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_faults("overload:2")


async def test_retry_honours_retry_after():
    calls = []

    def script(request):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return ProviderError("rate_limit", "429", retryable=True, retry_after=0.3, status=429)
        return PLAN3 if request.tool else "fine"

    ran = await run(ScriptedProvider(script))
    retry = ran.of("retry")[0]
    assert retry.retry_after_s == 0.3 and retry.delay_s >= 0.3
    assert calls[1] - calls[0] >= 0.3
    assert ran.finished.status == "completed"


def test_backoff_is_exponential_with_bounded_jitter():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5)
    rng = random.Random(0)
    for failures, (low, high) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 5: (4.0, 8.0), 9: (4.0, 8.0)}.items():
        delays = [policy.delay(failures, None, rng) for _ in range(50)]
        assert all(low <= d <= high for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert policy.delay(1, 5.0, rng) == 5.0


async def test_non_retryable_error_fails_at_once():
    def script(request):
        if request.agent == "researcher":
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        return PLAN3 if request.tool else "ok"

    ran = await run(ScriptedProvider(script))
    failed = [e for e in ran.of("call.failed") if e.agent == "researcher"]
    assert len(failed) == 1 and failed[0].final and failed[0].error_type == "auth"


async def test_breaker_stops_the_session_after_consecutive_failed_calls():
    def script(request):
        if request.tool:
            return plan_of(*[(f"s{i}", "researcher", []) for i in range(8)])
        return ProviderError("overloaded", "overloaded", retryable=True, status=529)

    ran = await run(ScriptedProvider(script), config=EngineConfig(retry=FAST_RETRY, call_timeout=5, breaker_threshold=3))
    assert ran.finished.status == "failed"
    assert "circuit breaker open after 3" in ran.finished.reason
    assert [e.error_type for e in ran.of("error") if e.fatal] == ["breaker"]  # said once; not a bug in huddle
    # It stopped: not every step got to fail.
    assert len([e for e in ran.of("call.failed") if e.final]) < 8


async def test_no_step_waiting_for_its_turn_starts_once_the_breaker_has_stopped_the_session():
    def script(request):
        if request.tool:
            return plan_of(*[(f"s{i}", "researcher", []) for i in range(6)])
        return ProviderError("overloaded", "overloaded", retryable=True, status=529)

    ran = await run(
        ScriptedProvider(script), options={"concurrency": 1},
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5, breaker_threshold=3),
    )
    assert ran.finished.status == "failed"
    tripped = next(e.seq for e in ran.events if e.kind == "error" and e.fatal)
    assert len(ran.of("step.started")) < 6
    assert all(e.seq < tripped for e in ran.of("step.started"))  # nothing waiting for its turn starts after


def test_breaker_resets_on_success():
    breaker = CircuitBreaker(2)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert not breaker.open
    breaker.failure()
    assert breaker.open


async def test_repeated_failures_of_one_agent_escalate_after_the_second():
    plan = plan_of(("s1", "coder", []), ("s2", "coder", ["s1"]), ("s3", "coder", []))

    def script(request):
        if request.tool:
            return plan
        return ProviderError("server", "500", retryable=False)

    ran = await run(ScriptedProvider(script), policy=ApprovalPolicy(default="approve", triggers={"repeated_failure": "reject"}),
                    config=EngineConfig(retry=FAST_RETRY, call_timeout=5, breaker_threshold=10))
    escalations = [e for e in ran.of("escalation.requested") if e.trigger == "repeated_failure"]
    assert escalations and escalations[0].payload["failures"] == 2
    assert escalations[0].agent == "coder"


class Verdict(BaseModel):
    approved: bool
    issues: list[str]


async def test_invalid_structured_reply_is_retried_with_the_error_fed_back():
    replies = iter(['{"approved": "maybe"', '{"approved": true}', '{"approved": true, "issues": []}'])
    provider = ScriptedProvider(lambda r: next(replies))
    result = await _call(provider, schema=Verdict)
    assert result == Verdict(approved=True, issues=[])
    second, third = provider.requests[1], provider.requests[2]
    assert "not valid JSON" in second.messages[-1].text
    assert second.messages[-2].role == "assistant"
    assert "issues" in third.messages[-1].text and "Field required" in third.messages[-1].text


async def test_structured_reply_that_never_validates_fails_the_call_cleanly():
    from engine.guards import CallFailedError

    provider = ScriptedProvider(lambda r: '{"nope": 1}')
    with pytest.raises(CallFailedError) as failure:
        await _call(provider, schema=Verdict)
    assert failure.value.error_type == "invalid_output"
    assert len(provider.requests) == 3  # first try plus two schema retries


async def test_malformed_fault_on_the_plan_fails_the_session_with_a_clear_error():
    ran = await run(SimulatedProvider(seed=4, speed=0, faults=parse_faults("malformed@lead")))
    assert ran.finished.status == "failed"
    assert "no valid Plan" in ran.finished.reason
    failed = [e for e in ran.of("call.failed") if e.error_type == "invalid_output"]
    assert len(failed) == 3 and failed[-1].final


async def _call(provider, **kwargs):
    from engine.patterns import preset_team
    from engine.budgets import Limits
    from engine.bus import EventBus
    from engine.context import Run, RunContext
    from engine.pricing import PriceTable

    ctx = RunContext(
        Run(
            session_id="t", task="task", team=preset_team("orchestrator"), provider=provider, bus=EventBus(),
            gate=ApprovalGate(), limits=Limits(), seed=0, retry=FAST_RETRY, call_timeout=5,
            breaker=CircuitBreaker(), prices=PriceTable(),
        )
    )
    return await ctx.call("reviewer", "review this", **kwargs)

"""Budgets that hold: a raise covers what is used, hard limits stop a reply while it
streams, only the limit can be edited, and a provider's retry-after cannot outwait them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.budgets import Limits
from engine.events import Usage
from engine.guards import RetryPolicy
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError, ProviderEvent, ProviderRequest, Stop, TextDelta, UsageReport
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig
from tests.helpers import FAST_RETRY, pattern_info, run

TEAM = TeamSpec(agents=(AgentSpec(name="writer", role="writer"), AgentSpec(name="editor", role="editor")))
CHUNK = "word " * 80
"""400 characters: about 100 tokens a delta, as budgets estimate them."""
APPROVE_ALL = ApprovalPolicy(default="approve")
REJECT_BUDGETS = ApprovalPolicy(default="approve", triggers={"budget": "reject"})


@dataclass
class Streamer:
    """Streams `chunks` deltas of CHUNK per call (reporting usage only at the end, as
    providers do), after raising `errors` one by one."""

    chunks: int = 50
    errors: list[ProviderError] = field(default_factory=list)
    stall: bool = False
    name: str = "streamer"
    calls: int = 0

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        if self.stall:
            await asyncio.sleep(3600)
        for _ in range(self.chunks):
            await asyncio.sleep(0)
            yield TextDelta(CHUNK)
        yield UsageReport(Usage(input_tokens=100, output_tokens=self.chunks * 100))
        yield Stop("end_turn")


@pytest.fixture
def one_call(monkeypatch):
    async def one(ctx, task):
        return await ctx.call("writer", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: TEAM))


@pytest.fixture
def two_calls(monkeypatch):
    async def two(ctx, task):
        async with asyncio.TaskGroup() as group:
            first = group.create_task(ctx.span("a").call("writer", task))
            second = group.create_task(ctx.span("b").call("editor", task))
        return first.result() + second.result()

    monkeypatch.setitem(patterns.PATTERNS, "two-calls", pattern_info("two-calls", two, lambda: TEAM))


def config(**retry: float) -> EngineConfig:
    return EngineConfig(retry=RetryPolicy(base_delay=0.001, max_delay=0.01, **retry), call_timeout=5)


# -- raising ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "resource", "used", "raised"),
    [
        (Limits(tokens=1), "tokens", 386, 579),  # approve "raised" 1 to 1 before: it must cover 386
        (Limits(tokens=500), "tokens", 630, 945),
        (Limits(tokens=500), "tokens", 500, 750),
        (Limits(turns=2), "turns", 2, 3),
        (Limits(cost=1.0), "cost", 1.2, 1.8),
    ],
)
def test_a_raise_covers_what_is_already_used(limits, resource, used, raised):
    assert limits.raised(resource, used) == pytest.approx(raised)
    assert limits.raised(resource, used) > used


async def test_approving_every_budget_escalation_with_a_tiny_limit_ends():
    ran = await asyncio.wait_for(
        run(SimulatedProvider(seed=1, speed=0), policy=APPROVE_ALL, limits=Limits(tokens=1)), timeout=60
    )
    assert ran.finished.status == "completed"
    asked = [e for e in ran.of("escalation.requested") if e.trigger == "budget"]
    assert 1 <= len(asked) <= 15 and len(ran.events) < 3000
    for escalation in asked:  # every raise leaves room: what is used never meets the new limit at once
        assert escalation.payload["new_limit"] > escalation.payload["used"]


# -- while a reply streams -----------------------------------------------------------


async def test_a_hard_limit_stops_a_reply_while_it_streams(one_call):
    ran = await run(Streamer(), pattern="one-call", policy=REJECT_BUDGETS, limits=Limits(tokens=1000), config=config())
    assert ran.finished.status == "stopped" and "tokens budget" in ran.finished.reason
    (failed,) = ran.of("call.failed")
    assert failed.error_type == "budget" and "stopped mid-reply" in failed.error
    assert len(ran.of("call.delta")) < 15  # of 50: the reply was cut, not waited for
    (escalation,) = [e for e in ran.of("escalation.requested") if e.trigger == "budget"]
    assert 1000 <= escalation.payload["used"] <= 1100  # at most one delta past the limit
    assert max(e.tokens for e in ran.of("budget.updated")) <= 1100  # the gauge never reads far past it


async def test_calls_streaming_side_by_side_are_all_stopped_after_one_question(two_calls):
    ran = await run(Streamer(), pattern="two-calls", policy=REJECT_BUDGETS, limits=Limits(tokens=1500), config=config())
    assert ran.finished.status == "stopped"
    assert len([e for e in ran.of("escalation.requested") if e.trigger == "budget"]) == 1
    assert {e.agent for e in ran.of("call.failed") if e.error_type == "budget"} == {"writer", "editor"}
    assert not ran.of("call.finished")
    assert ran.of("budget.updated")[-1].tokens <= 1500 + 2 * 100


async def test_approved_the_stopped_call_is_made_again_and_completes(one_call):
    ran = await run(Streamer(chunks=10), pattern="one-call", policy=APPROVE_ALL, limits=Limits(tokens=500),
                    config=config())
    assert ran.finished.status == "completed" and ran.finished.result == CHUNK * 10
    stops = [e.error_type for e in ran.of("call.failed")]
    assert stops and set(stops) == {"budget"} and len(stops) <= 4  # each raise half as much again
    assert [e.attempt for e in ran.of("call.started")] == list(range(1, len(stops) + 2))


async def test_the_time_budget_ends_a_reply_that_stalls(one_call):
    ran = await asyncio.wait_for(
        run(Streamer(stall=True), pattern="one-call", policy=REJECT_BUDGETS, limits=Limits(seconds=0.2),
            config=EngineConfig(retry=FAST_RETRY, call_timeout=120)),
        timeout=10,
    )
    assert ran.finished.status == "stopped" and "seconds budget" in ran.finished.reason
    assert [e.error_type for e in ran.of("call.failed")] == ["budget"]


# -- editing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edited", "error"),
    [
        ({"resource": "tokens", "limit": 1000, "used": 0, "new_limit": 5000}, "only new_limit can be changed, not used"),
        ({"new_limit": float("nan")}, "must be a number"),
        ({"new_limit": float("inf")}, "must be a number"),
        ({"new_limit": 10}, "more than what is used"),
        ({"new_limit": 2**70}, "too large"),
        ("lots", "must be a number"),
    ],
)
async def test_an_edit_may_change_the_limit_only(one_call, edited, error):
    gate = ApprovalGate(ApprovalPolicy(default="ask", triggers={}))
    refused: list[str] = []

    def answer(event):
        if event.kind != "escalation.requested" or event.trigger != "budget":
            return
        try:
            gate.resolve(event.escalation_id, Decision("edit", edited=edited))
        except DecisionError as problem:
            refused.append(str(problem))
        gate.resolve(event.escalation_id, Decision("edit", edited={"new_limit": 50_000}))

    ran = await run(Streamer(chunks=20), pattern="one-call", gate=gate, policy=gate.policy,
                    limits=Limits(tokens=1000), config=config(), on_event=answer)
    assert len(refused) == 1 and error in refused[0] and "\n" not in refused[0]
    assert ran.finished.status == "completed"
    extended = [e.limits.tokens for e in ran.of("budget.updated") if e.reason == "extended"]
    assert extended == [50_000]


# -- retry-after --------------------------------------------------------------------


def rate_limited(after: float) -> ProviderError:
    return ProviderError("rate_limit", "rate limited (429)", retryable=True, retry_after=after, status=429)


@pytest.mark.parametrize(("retry", "timeout", "waited"), [({"max_wait": 0.01}, 5, 0.01), ({}, 0.02, 0.02)])
async def test_a_huge_retry_after_is_capped_by_the_longest_wait_and_the_call_timeout(one_call, retry, timeout, waited):
    engine = EngineConfig(retry=RetryPolicy(base_delay=0.001, max_delay=0.01, **retry), call_timeout=timeout)
    ran = await asyncio.wait_for(
        run(Streamer(chunks=1, errors=[rate_limited(100_000)]), pattern="one-call", config=engine), timeout=10
    )
    assert ran.finished.status == "completed"
    (retry_event,) = ran.of("retry")
    assert retry_event.retry_after_s == 100_000 and retry_event.delay_s == waited


async def test_the_time_budget_ends_a_wait_for_a_retry(one_call):
    errors = [rate_limited(100_000) for _ in range(3)]
    ran = await asyncio.wait_for(
        run(Streamer(errors=errors), pattern="one-call", policy=REJECT_BUDGETS, limits=Limits(seconds=0.2),
            config=EngineConfig(retry=RetryPolicy(), call_timeout=120)),
        timeout=10,
    )
    assert ran.of("retry")[0].delay_s == 60  # the wait it was going to make
    assert ran.finished.status == "stopped" and "seconds budget" in ran.finished.reason
    assert ran.finished.duration_s < 5

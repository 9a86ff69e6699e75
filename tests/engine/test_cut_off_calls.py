"""A call the session's end cuts off mid-reply (the session cancelled, or stopped by a budget
another call used up) is billed by the provider for what it streamed: it is counted in the
session's totals and its end is recorded, so the totals, the state and a resume agree."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from engine.budgets import Limits
from engine.events import CallFailed, EventBase, Usage
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderEvent, ProviderRequest, Stop, TextDelta, ToolInputDelta, UsageReport
from engine.run.record import Record
from tests.engine.coder_stream import cancelled_mid_reply
from tests.helpers import fold, orchestrated, plan_of, run


def totals(events: list[EventBase]) -> tuple[int, int]:
    state = fold(events)
    return state.totals.tokens_in, state.totals.tokens_out


async def test_a_cancelled_sessions_call_is_counted_for_what_it_streamed():
    events = await cancelled_mid_reply(40)
    cut = [e for e in events if isinstance(e, CallFailed) and e.agent == "coder"]
    assert len(cut) == 1 and cut[0].error_type == "cancelled" and cut[0].final
    assert cut[0].usage.input_tokens == 1_000 and cut[0].usage.output_tokens == 38  # 150 characters streamed
    finished = events[-1]
    assert finished.kind == "session.finished" and finished.status == "cancelled"
    assert (finished.usage.tokens_in, finished.usage.output_tokens) == (1_100, 48)  # the lead's plan, and the cut call
    assert totals(events) == (1_100, 48)  # the record counts as the session did
    assert fold(events).agents["coder"].status == "idle"  # stopped, not failed
    budget = [e for e in events if e.kind == "budget.updated"][-1]  # what the budgets' bar shows
    assert (budget.tokens, budget.cost) == (finished.usage.total, finished.cost)


@dataclass
class Racing:
    """Two workers at once: the coder streams far past the token budget; the researcher
    reports its input, streams a little, then waits (it is cut off by the stop)."""

    name: str = "racing"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        if request.agent == "lead":
            plan = orchestrated(plan_of(("s1", "coder", []), ("s2", "researcher", [])))(request)
            yield UsageReport(Usage(input_tokens=100, output_tokens=10))
            yield ToolInputDelta(json.dumps(plan))
            yield Stop("end_turn")
            return
        if request.agent == "researcher":
            yield UsageReport(Usage(input_tokens=300))
            yield TextDelta("looking into it")
            await asyncio.sleep(3600)  # cut off here
        yield UsageReport(Usage(input_tokens=200))
        for index in range(2_000):
            yield TextDelta(f"word{index} ")
            await asyncio.sleep(0)  # the researcher streams too
        yield Stop("end_turn")


async def test_a_call_cut_off_by_a_budget_stop_is_counted_and_a_resume_counts_it_too():
    no_more = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    ran = await run(Racing(), limits=Limits(tokens=2_000), policy=no_more)
    assert ran.finished.status == "stopped", ran.finished.reason
    cut = [e for e in ran.events if isinstance(e, CallFailed) and e.agent == "researcher"]
    assert len(cut) == 1 and cut[0].error_type == "cancelled"
    assert cut[0].usage.input_tokens == 300 and cut[0].usage.output_tokens == 4
    usage = ran.finished.usage
    assert usage.tokens_in >= 100 + 200 + 300
    assert totals(ran.events) == (usage.tokens_in, usage.output_tokens)
    budget = [e for e in ran.events if e.kind == "budget.updated"][-1]
    assert (budget.tokens, budget.cost) == (usage.total, ran.finished.cost)
    carried = Record.from_events(ran.events).spent  # what a resume starts counting from
    assert sum(spend.usage.total for spend in carried) == usage.total


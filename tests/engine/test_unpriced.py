"""A session on a model with no price: its calls' cost is unknown, the session counts
them apart, a cost limit counts only priced calls and says so as the session starts."""

from __future__ import annotations

from engine.budgets import Limits
from engine.events import BudgetUpdated, CallFailed, CallFinished, CallProgress
from engine.formats import cost_text
from engine.narration import narrate
from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import fold, run, team_on




async def test_a_session_on_a_model_with_no_price_shows_its_cost_as_unknown() -> None:
    ran = await run(SimulatedProvider(seed=1, speed=0), team=team_on("llama3.2"))
    calls = ran.of(CallFinished)
    assert calls and all(call.cost is None for call in calls)
    assert all(progress.cost is None for progress in ran.of(CallProgress) if progress.usage.total)
    finished = ran.finished
    assert finished.status == "completed" and finished.cost == 0 and finished.unpriced == len(calls)

    state = fold(ran.events)
    assert (state.totals.cost, state.totals.unpriced) == (0, len(calls))
    assert cost_text(state.totals.cost, state.totals.unpriced) == "cost unknown"
    assert state.budget.unpriced == len(calls)  # the gauge's count, from the engine's own account
    for agent in state.agents.values():
        assert agent.calls and agent.unpriced == agent.calls and agent.cost == 0
        assert cost_text(*agent.totals[2:]) == "cost unknown"


async def test_a_mixed_team_shows_what_the_priced_calls_cost_and_that_more_is_unknown() -> None:
    faults = parse_faults("rate_limit:0.4,mid_stream:0.3")
    provider = SimulatedProvider(seed=5, speed=0, faults=faults, retry_after=0)
    ran = await run(provider, team=team_on("llama3.2", lead="claude-opus-5-5"))
    finished = ran.finished
    billed = [e for e in [*ran.of(CallFinished), *ran.of(CallFailed)] if e.usage.total]
    unknown = [e for e in billed if e.cost is None]
    assert unknown and all(e.agent != "lead" for e in unknown)
    assert all(e.cost for e in billed if e.agent == "lead")
    assert finished.unpriced == len(unknown) and finished.cost > 0

    state = fold(ran.events[:-1])  # as it was just before it finished: summed call by call
    assert state.totals.unpriced == sum(agent.unpriced for agent in state.agents.values()) == len(unknown)
    assert round(state.totals.cost, 8) == round(sum(agent.cost for agent in state.agents.values()), 8)
    assert round(state.totals.cost, 6) == round(finished.cost, 6)  # the engine counted the same way
    state.apply(finished)
    shown = cost_text(state.totals.cost, state.totals.unpriced)
    assert shown.startswith("$") and shown.endswith(" + ?")
    assert cost_text(*state.agents["lead"].totals[2:]).startswith("$")
    assert cost_text(*state.agents["coder"].totals[2:]) == "cost unknown"


async def test_a_cost_limit_counts_only_priced_calls_and_says_so_once_as_the_session_starts() -> None:
    limits, stop = Limits(cost=0.0001), ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    unpriced = await run(SimulatedProvider(seed=1, speed=0), team=team_on("llama3.2"), limits=limits, policy=stop)
    assert unpriced.finished.status == "completed"  # nothing it can count has cost anything
    told = [e for e in unpriced.of(BudgetUpdated) if e.reason == "unpriced"]
    assert len(told) == 1 and told[0].unpriced_models == ["llama3.2"]
    assert told[0].seq == unpriced.events[0].seq + 1  # right after session.started
    line = narrate(fold(unpriced.events[: told[0].seq]), told[0])
    assert line is not None and line.tone == "warning" and "llama3.2" in line.text and "[prices]" in line.text

    priced = await run(SimulatedProvider(seed=1, speed=0), limits=limits, policy=stop)
    assert priced.finished.status == "stopped" and "cost budget" in (priced.finished.reason or "")
    assert not [e for e in priced.of(BudgetUpdated) if e.reason == "unpriced"]  # every model has a price


async def test_no_cost_limit_no_notice() -> None:
    ran = await run(SimulatedProvider(seed=1, speed=0), team=team_on("llama3.2"), limits=Limits(tokens=10_000_000))
    assert all(e.reason != "unpriced" for e in ran.of(BudgetUpdated))
    assert fold(ran.events).budget.unpriced == ran.finished.unpriced > 0

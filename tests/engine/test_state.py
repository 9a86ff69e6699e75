"""The one reading of the event stream: the reducer (`engine.state`) and the narrator
(`engine.narration`), on real sessions' events."""

from __future__ import annotations

import pytest

from engine.events import CallFailed, CallFinished, EventBase, PatternNote
from engine.narration import NARRATORS, narrate
from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.state import REDUCERS, SessionState, event_classes
from tests.helpers import fold, run


@pytest.mark.parametrize("kind", event_classes(), ids=lambda cls: cls.model_fields["kind"].default)
def test_every_kind_of_event_has_a_reducer_and_a_narrator(kind: type[EventBase]) -> None:
    assert kind in REDUCERS and kind in NARRATORS


def test_the_union_holds_every_kind_of_event_once() -> None:
    kinds = [cls.model_fields["kind"].default for cls in event_classes()]
    assert len(kinds) == len(set(kinds)) and "call.delta" in kinds and "session.finished" in kinds
    assert any(issubclass(cls, PatternNote) for cls in event_classes())




async def test_folded_numbers_agree_with_the_engines_own_account() -> None:
    faults = parse_faults("rate_limit:0.4,mid_stream:0.3")
    ran = await run(SimulatedProvider(seed=5, speed=0, faults=faults, retry_after=0))
    state = fold(ran.events[:-1])  # as it was just before it finished
    calls = ran.of(CallFinished)
    failed = [e for e in ran.of(CallFailed) if e.usage.total]
    assert failed, "the faults should have cost something"
    spent_in = sum(e.usage.tokens_in for e in calls) + sum(e.usage.tokens_in for e in failed)
    assert state.totals.tokens_in == spent_in == sum(agent.tokens_in for agent in state.agents.values())
    assert state.totals.calls == len(calls) == sum(agent.calls for agent in state.agents.values())
    assert round(state.totals.cost, 8) == round(sum(agent.cost for agent in state.agents.values()), 8)

    state.apply(ran.finished)
    finished = ran.finished
    assert (state.totals.tokens_in, state.totals.tokens_out) == (finished.usage.tokens_in, finished.usage.output_tokens)
    assert state.totals.tokens_in == spent_in  # the engine counted the same way
    assert state.finished and state.status == finished.status and state.result == finished.result
    assert not state.pending and all(agent.status in ("idle", "done", "failed") for agent in state.agents.values())


async def test_a_decision_waits_then_reads_as_taken() -> None:
    ran = await run(SimulatedProvider(seed=1, speed=0), policy=ApprovalPolicy(default="approve"))
    state = SessionState()
    waited = False
    for event in ran.events:
        state.apply(event)
        if event.kind == "escalation.requested":
            assert event.escalation_id in state.requests
        if event.kind == "escalation.resolved":
            decided = state.decisions[event.escalation_id]
            assert (decided.action, decided.by, decided.word) == ("approve", "policy", "approved")
            line = narrate(state, event)
            assert line is not None and line.text.startswith("approved by policy") and line.tone == "success"
            waited = True
    assert waited


async def test_the_story_leaves_out_streaming_and_tells_the_rest() -> None:
    ran = await run(SimulatedProvider(seed=2, speed=0), policy=ApprovalPolicy(default="approve"))
    state = SessionState()
    told: dict[str, int] = {}
    for event in ran.events:
        state.apply(event)
        line = narrate(state, event)
        if line is not None:
            told[event.kind] = told.get(event.kind, 0) + 1
            assert line.text and "\n" not in line.icon
    assert "call.delta" not in told and "call.finished" not in told
    assert told["session.started"] == told["session.finished"] == 1
    assert told["step.started"] == len(ran.of("step.started")) > 0


async def test_the_gauges_count_what_is_streaming_as_the_panels_do() -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    state = SessionState()
    streaming_seen = 0
    for event in ran.events:
        state.apply(event)
        live_cost = sum(agent.totals[2] - agent.cost for agent in state.agents.values())
        live_tokens = sum(sum(agent.totals[:2]) - agent.tokens_in - agent.tokens_out for agent in state.agents.values())
        assert state.spent.tokens - state.budget.tokens == live_tokens
        assert state.spent.cost - state.budget.cost == pytest.approx(live_cost)
        streaming_seen += live_tokens > 0
    assert streaming_seen, "some call should have reported progress while streaming"
    assert state.spent == state.budget  # nothing streams once it is over

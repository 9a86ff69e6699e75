"""The simulated provider: deterministic, paced, plausible, and faulty on demand."""

from __future__ import annotations

import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from engine.patterns import preset_team
from engine.providers.base import Message, ProviderError, ProviderRequest, ToolSpec
from engine.providers.faults import parse_faults
from engine.providers.simtext import count_tokens, key_phrases
from engine.providers.simulated import SimulatedProvider
from engine.patterns.orchestrator import Plan
from tests.helpers import run

TASK = "Design a rate limiter for our public REST API"
TEAM = tuple(preset_team("orchestrator").names)


def request(agent="researcher", role="researcher", prompt=TASK, tool=None, attempt=1, key="root#researcher#1"):
    return ProviderRequest(
        model="claude-sonnet-5-5", system="sys", messages=(Message("user", prompt),), tool=tool,
        agent=agent, role=role, task=TASK, team=TEAM, call_key=key, attempt=attempt,
    )


async def collect(provider, req):
    text, usage, stop = "", None, None
    async for event in provider.stream(req):
        if event.type in ("text", "tool_input"):
            text += getattr(event, "text", None) or getattr(event, "partial_json", "")
        elif event.type == "usage":
            usage = event.usage
        elif event.type == "stop":
            stop = event.reason
    return text, usage, stop


@pytest.mark.parametrize("agent,role", [("researcher", "researcher"), ("coder", "software engineer"), ("reviewer", "code reviewer"), ("lead", "lead engineer"), ("ana", "data analyst"), ("bob", "gardener")])
async def test_text_reply_is_markdown_on_the_task_within_token_bounds(agent, role):
    text, usage, stop = await collect(SimulatedProvider(seed=1, speed=0), request(agent, role))
    assert 60 <= count_tokens(text) <= 400
    assert text.startswith("## ")
    assert "rate limiter" in text.lower()
    assert usage.output_tokens == pytest.approx(count_tokens(text), rel=0.2)
    assert usage.input_tokens > 0 and stop == "end_turn"
    if role == "software engineer":
        assert "```python" in text


async def test_same_seed_same_reply_and_different_seed_different_reply():
    first, _, _ = await collect(SimulatedProvider(seed=5, speed=0), request())
    again, _, _ = await collect(SimulatedProvider(seed=5, speed=0), request())
    other, _, _ = await collect(SimulatedProvider(seed=6, speed=0), request())
    assert first == again
    assert first != other


async def test_whole_sessions_are_deterministic_for_a_seed():
    def shape(ran):  # progress comes by the clock, as often as the machine's pace allows: not part of it
        return [
            (e.kind, e.agent, getattr(e, "text", None), getattr(e, "call_key", None))
            for e in ran.events if e.kind != "call.progress"
        ]

    faults = parse_faults("rate_limit:0.3,mid_stream:0.2")
    a = await run(SimulatedProvider(seed=11, speed=0, faults=faults, retry_after=0), seed=11)
    b = await run(SimulatedProvider(seed=11, speed=0, faults=faults, retry_after=0), seed=11)
    c = await run(SimulatedProvider(seed=12, speed=0, faults=faults, retry_after=0), seed=12)
    assert shape(a) == shape(b)
    assert shape(a) != shape(c)
    assert [e.seq for e in a.events] == list(range(1, len(a.events) + 1))


async def test_pace_follows_speed():
    req = request()
    provider = SimulatedProvider(seed=1, speed=10)
    started = time.monotonic()
    text, usage, _ = await collect(provider, req)
    elapsed = time.monotonic() - started
    # ~50 tokens/s at speed 1, so at speed 10 at least half the nominal time.
    assert elapsed >= usage.output_tokens / 500 * 0.5
    started = time.monotonic()
    await collect(SimulatedProvider(seed=1, speed=0), req)
    assert time.monotonic() - started < elapsed


class Choice(BaseModel):
    route: Literal["billing", "search", "support"]
    confidence: float = Field(ge=0, le=1)
    reason: str


class Bid(BaseModel):
    agent: str
    cost: float = Field(gt=0, le=5)
    capability: int = Field(ge=1, le=10)
    notes: list[str] = Field(min_length=2, max_length=3)
    nested: Choice
    maybe: int | None = None


@pytest.mark.parametrize("schema", [Plan, Choice, Bid])
async def test_structured_replies_validate_against_any_schema(schema):
    tool = ToolSpec("respond", "", schema.model_json_schema())
    for seed in range(25):
        text, _, stop = await collect(SimulatedProvider(seed=seed, speed=0), request(agent="lead", role="lead", tool=tool))
        value = schema.model_validate_json(text)
        assert stop == "tool_use"
        if schema is Plan:
            assert {s.assigned_to for s in value.steps} <= {"researcher", "coder", "reviewer"}
            ids = [s.id for s in value.steps]
            for index, step in enumerate(value.steps):
                assert set(step.depends_on) <= set(ids[:index])
        if schema is Choice:
            assert 0 <= value.confidence <= 1


async def test_low_confidence_fault():
    tool = ToolSpec("respond", "", Choice.model_json_schema())
    text, _, _ = await collect(SimulatedProvider(seed=1, speed=0, faults=parse_faults("low_confidence")), request(tool=tool))
    assert Choice.model_validate_json(text).confidence < 0.5


async def test_reject_fault_makes_verdicts_negative():
    class Verdict(BaseModel):
        approved: bool
        issues: list[str]

    tool = ToolSpec("respond", "", Verdict.model_json_schema())
    for seed in range(5):
        text, _, _ = await collect(SimulatedProvider(seed=seed, speed=0, faults=parse_faults("reject")), request(tool=tool))
        verdict = Verdict.model_validate_json(text)
        assert not verdict.approved and verdict.issues


async def test_malformed_fault_breaks_structured_replies_only():
    tool = ToolSpec("respond", "", Choice.model_json_schema())
    provider = SimulatedProvider(seed=3, speed=0, faults=parse_faults("malformed"))
    for attempt in range(1, 6):
        text, _, _ = await collect(provider, request(tool=tool, attempt=attempt))
        with pytest.raises(ValueError):
            Choice.model_validate_json(text)
    text, _, _ = await collect(provider, request())
    assert text.startswith("## ")


@pytest.mark.parametrize("kind,error_type,retry_after", [("rate_limit", "rate_limit", True), ("overload", "overloaded", False)])
async def test_transport_faults(kind, error_type, retry_after):
    provider = SimulatedProvider(seed=1, speed=0, faults=parse_faults(kind), retry_after=0.25)
    with pytest.raises(ProviderError) as error:
        await collect(provider, request())
    assert error.value.error_type == error_type and error.value.retryable
    assert (error.value.retry_after == 0.25) is retry_after


async def test_mid_stream_fault_breaks_after_some_text():
    provider = SimulatedProvider(seed=1, speed=0, faults=parse_faults("mid_stream"))
    seen = []
    with pytest.raises(ProviderError) as error:
        async for event in provider.stream(request()):
            seen.append(event)
    assert error.value.error_type == "stream_error"
    assert seen and error.value.usage.output_tokens > 0


async def test_faults_are_per_attempt_and_per_agent():
    faults = parse_faults("rate_limit:0.5@coder")
    provider = SimulatedProvider(seed=2, speed=0, faults=faults)
    outcomes = []
    for attempt in range(1, 21):
        try:
            await collect(provider, request(agent="coder", role="software engineer", attempt=attempt))
            outcomes.append("ok")
        except ProviderError:
            outcomes.append("429")
    assert "ok" in outcomes and "429" in outcomes
    await collect(provider, request(agent="researcher"))  # other agents are untouched


def test_key_phrases_find_the_subject():
    assert key_phrases(TASK)[:2] == ["rate limiter", "public REST API"]
    assert "PostgreSQL" in key_phrases("Migrate the billing service from MySQL to PostgreSQL")


async def test_a_simulated_agent_uses_one_of_its_other_tools_with_input_from_its_schema():
    from engine.providers.base import Message, ProviderRequest, ToolOutcome, ToolSpec
    from engine.providers.simtools import next_use

    search = ToolSpec("docs__search", "Search the docs", {
        "type": "object", "required": ["query", "limit"],
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 5}},
    })
    request = ProviderRequest(model="m", system="s", messages=(Message("user", "Find the rate limits"),),
                              tools=(search,), agent="researcher", role="researcher", task="Rate limits", call_key="k#1")
    lead, use = next_use(request)
    assert use.name == "docs__search" and "docs__search" in lead
    assert isinstance(use.input["query"], str) and 1 <= use.input["limit"] <= 5
    assert next_use(request) == (lead, use)  # the same conversation makes the same choice
    answered = request.__class__(**{**request.__dict__, "messages": (
        *request.messages, Message("assistant", lead, tool_uses=(use,)),
        Message("user", "", tool_results=(ToolOutcome(use.id, "3 results"),)),
    )})
    assert next_use(answered) is None  # one use, then it answers

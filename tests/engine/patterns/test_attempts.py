"""The shared failure handling: agents tried in order, then a decision among named ways."""

from __future__ import annotations

import asyncio

import pytest

from engine import patterns
from engine.approvals import ApprovalGate, Decision
from engine.events import Choice
from engine.guards import CallFailedError, PatternStopped, StepFailed
from engine.patterns.attempts import Attempt, Failure, Way, decide, in_order
from engine.policy import ApprovalPolicy
from tests.helpers import ScriptedProvider, pattern_info, run


def failing(*agents: str):
    """Work that fails for good for `agents` and returns "<agent> did it" for the others,
    keeping every attempt it was given."""
    seen: list[Attempt[CallFailedError]] = []

    async def work(attempt: Attempt[CallFailedError]) -> str:
        seen.append(attempt)
        if attempt.agent in agents:
            raise CallFailedError(attempt.agent, "auth", f"{attempt.agent} has no key")
        return f"{attempt.agent} did it"

    return work, seen


async def test_the_first_agent_that_does_the_work_ends_the_tries():
    work, seen = failing()
    tried = await in_order(["a", "b", "c"], work)
    assert (tried.done, tried.agent, tried.output, tried.failures) == (True, "a", "a did it", ())
    assert [(s.agent, s.number, s.first, s.previous) for s in seen] == [("a", 1, True, None)]


async def test_a_failure_falls_back_to_the_next_agent_which_hears_how_the_one_before_failed():
    work, seen = failing("a", "b")
    heard: list[tuple[str, str, str]] = []

    async def failed(failure: Failure[CallFailedError], next_agent: str) -> None:
        heard.append((failure.agent, failure.message, next_agent))

    tried = await in_order(["a", "b", "c"], work, failed=failed)
    assert (tried.agent, tried.output) == ("c", "c did it")
    assert [(f.agent, f.message) for f in tried.failures] == [("a", "a has no key"), ("b", "b has no key")]
    assert heard == [("a", "a has no key", "b"), ("b", "b has no key", "c")]
    assert [(s.agent, s.number, s.previous.agent if s.previous else None) for s in seen] == [
        ("a", 1, None), ("b", 2, "a"), ("c", 3, "b")]


async def test_when_every_agent_fails_each_failure_is_kept_and_the_last_is_the_callers():
    work, _ = failing("a", "b")
    heard: list[str] = []

    async def failed(failure: Failure[CallFailedError], next_agent: str) -> None:
        heard.append(failure.agent)

    tried = await in_order(["a", "b"], work, failed=failed)
    assert not tried.done and tried.agent is None and tried.output is None
    assert [f.agent for f in tried.failures] == ["a", "b"] and tried.last.message == "b has no key"
    assert heard == ["a"]  # the last failure is told to no one: the caller escalates or gives up


async def test_only_the_errors_it_catches_fall_back():
    tried_agents: list[str] = []

    async def work(attempt: Attempt[StepFailed]) -> str:
        tried_agents.append(attempt.agent)
        if attempt.agent == "a":
            raise StepFailed("the contract was broken")
        raise CallFailedError(attempt.agent, "auth", "no key")

    with pytest.raises(CallFailedError):
        await in_order(["a", "b", "c"], work, catch=StepFailed)
    assert tried_agents == ["a", "b"]


# -- decide -------------------------------------------------------------------------------


def ways(done: list[tuple[str, Decision]]) -> tuple[Way[str], ...]:
    """Three ways forward, each noting that it was taken and with which decision."""

    def taking(name: str):
        async def then(decision: Decision) -> str:
            done.append((name, decision))
            if name == "stop":
                raise PatternStopped("stopped", f"stopped: {decision.reason}")
            return f"went {name}"

        return then

    return (
        Way(Choice(id="skip", label="Skip it", action="approve"), taking("skip")),
        Way(Choice(id="write", label="Write it", action="edit", input="text", field="value"), taking("write")),
        Way(Choice(id="stop", label="Stop", action="reject", input="reason"), taking("stop")),
    )


async def decided(monkeypatch, decision: Decision):
    """A session whose pattern asks `decide` once, answered with `decision` by a person."""
    done: list[tuple[str, Decision]] = []

    async def ask(ctx, task):
        return await decide(
            ctx.span("ask"), "invalid_output", "the stage broke its contract", {"value": "old"},
            agent="lead", ways=ways(done), validate=lambda edited: edited,
        )

    monkeypatch.setitem(patterns.PATTERNS, "decide-test", pattern_info("decide-test", ask))
    gate = ApprovalGate(ApprovalPolicy(default="ask"))

    def answer(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decision)

    ran = await run(ScriptedProvider([]), pattern="decide-test", gate=gate, policy=gate.policy, on_event=answer)
    return ran, done


@pytest.mark.parametrize(
    ("decision", "way"),
    [
        (Decision("approve"), "skip"),
        (Decision("edit", edited={"value": "a person's"}), "write"),
    ],
)
async def test_the_decision_takes_the_way_of_its_action(monkeypatch, decision, way):
    ran, done = await decided(monkeypatch, decision)
    [requested] = ran.of("escalation.requested")
    assert [(c.id, c.action) for c in requested.choices] == [("skip", "approve"), ("write", "edit"), ("stop", "reject")]
    assert [name for name, _ in done] == [way]
    assert ran.finished.status == "completed" and ran.finished.result == f"went {way}"
    if way == "write":
        assert done[0][1].edited == {"value": "a person's"}


async def test_a_way_that_stops_stops_the_pattern_with_the_persons_reason(monkeypatch):
    ran, done = await decided(monkeypatch, Decision("reject", reason="not worth it"))
    assert [(name, d.reason) for name, d in done] == [("stop", "not worth it")]
    assert ran.finished.status == "stopped" and "stopped: not worth it" in ran.finished.reason


async def test_two_ways_for_one_action_are_refused_before_anyone_is_asked():
    async def never(decision: Decision) -> str:
        raise AssertionError("not taken")

    twice = (Way(Choice(id="a", label="A", action="approve"), never), Way(Choice(id="b", label="B", action="approve"), never))
    with pytest.raises(ValueError, match="one way per action"):
        await decide(None, "conflict", "why", ways=twice)  # type: ignore[arg-type]

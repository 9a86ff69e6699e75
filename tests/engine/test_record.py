"""The record answers what it can, by what was asked: a recorded reply answers a call only
when the call asks what it asked then, a decision stands where it was taken about the same,
and whether replayed work is emitted again is the caller's choice."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision
from engine.budgets import Limits
from engine.bus import EventBus
from engine.events import EventBase
from engine.policy import ApprovalPolicy
from engine.providers.base import Message, ProviderRequest, ToolSpec, ToolUse
from engine.run.fingerprint import fingerprint
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from tests.helpers import FAST_RETRY, Ran, ScriptedProvider, orchestrated, pattern_info, plan_of

TASK = "Design a rate limiter for our public REST API"
PLAN = plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))


class Human:
    """Plays the person at the terminal: answers each escalation that asks a human with
    the next of `decisions`, and counts what it was asked."""

    def __init__(self, gate: ApprovalGate, *decisions: Decision) -> None:
        self.gate = gate
        self.decisions = iter(decisions)
        self.asked: list[str] = []

    def __call__(self, event: EventBase) -> None:
        if event.kind == "escalation.requested" and event.human:
            self.asked.append(event.escalation_id)
            asyncio.get_running_loop().call_soon(self.gate.resolve, event.escalation_id, next(self.decisions))


async def session(
    provider: Any, *decisions: Decision, task: str = TASK, record: Record | None = None, **spec: Any,
) -> tuple[Ran, Human]:
    """Run an orchestrated session whose policy asks a person about every escalation."""
    policy = ApprovalPolicy(default="ask")
    gate = ApprovalGate(policy)
    human = Human(gate, *decisions)
    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    bus.listen(human)
    finished = await run_session(
        SessionSpec(task=task, policy=policy, **spec), provider, bus=bus, gate=gate,
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5), record=record,
    )
    return Ran(finished, events), human


def scripted(plan: dict[str, Any] = PLAN) -> ScriptedProvider:
    return ScriptedProvider(orchestrated(plan))


# -- the fingerprint -------------------------------------------------------------------


def test_a_fingerprint_is_of_what_is_asked_not_of_which_attempt_or_call():
    request = ProviderRequest(model="m", system="s", messages=(Message("user", "hi"),), call_key="root#a#1")
    assert fingerprint(request) == fingerprint(replace(request, attempt=3, call_key="root#b#2", task="other"))
    different = [
        replace(request, model="n"),
        replace(request, system="t"),
        replace(request, messages=(Message("user", "hi", "data"),)),
        replace(request, messages=(Message("user", "hi"), Message("assistant", "", "", (ToolUse("1", "x", {}),)))),
        replace(request, tool=ToolSpec("respond", "", {"type": "object"})),
        replace(request, tools=(ToolSpec("read_file", "reads", {}),)),
    ]
    hashes = {fingerprint(r) for r in different}
    assert fingerprint(request) not in hashes and len(hashes) == len(different)


async def test_every_call_started_carries_its_requests_fingerprint():
    provider = scripted()
    ran, _ = await session(provider, Decision("approve"))
    started = ran.of("call.started")
    assert [e.request_hash for e in started] == [fingerprint(r) for r in provider.requests]


# -- calls -----------------------------------------------------------------------------


async def test_a_run_again_with_the_same_task_is_answered_from_the_record_and_asks_nothing():
    first, asked = await session(scripted(), Decision("approve"))
    assert first.finished.status == "completed" and len(asked.asked) == 1
    provider = scripted()
    again, human = await session(provider, record=Record.from_events(first.events))
    assert provider.requests == [] and human.asked == []
    assert again.finished.result == first.finished.result
    assert all(e.recorded for e in again.of("call.finished"))
    resolved = again.of("escalation.resolved")
    assert [(e.action, e.by, e.rule) for e in resolved] == [
        ("approve", "human", "as decided before: human (policy: default=ask)"),
    ]
    assert not any(e.human for e in again.of("escalation.requested"))


async def test_a_run_again_with_another_task_sends_the_plan_call_live():
    first, _ = await session(scripted(), Decision("approve"))
    record = Record.from_events(first.events)
    provider = scripted()
    again, human = await session(provider, Decision("approve"), task="Design a cache for our public REST API",
                                 record=record)
    assert provider.requests and provider.requests[0].tool is not None  # the plan, asked of the model
    assert len(human.asked) == 1  # a decision about another task's plan is asked again
    recorded = {key: call.request_hash for key, call in record.calls.items()}
    for started in again.of("call.started"):
        reused = started.call_key in {e.call_key for e in again.of("call.finished") if e.recorded}
        assert reused == (recorded.get(started.call_key) == started.request_hash)


async def test_a_record_cut_at_a_seq_answers_what_came_before_and_the_rest_is_live():
    first, _ = await session(scripted(), Decision("approve"))
    decided = first.of("escalation.resolved")[0].seq
    provider = scripted()
    again, human = await session(provider, record=Record.from_events(first.events, up_to_seq=decided))
    assert human.asked == []  # the plan's decision came before the cut: it stands
    assert [e.call_key for e in again.of("call.finished") if e.recorded] == ["root/plan#lead#1"]
    live = [e.call_key for e in again.of("call.finished") if not e.recorded]
    assert live == [r.call_key for r in provider.requests] and len(live) == 3  # two steps and the synthesis
    assert again.finished.result == first.finished.result


async def test_a_record_without_fingerprints_answers_by_call_key():
    first, _ = await session(scripted(), Decision("approve"))
    old = [e.model_copy(update={"request_hash": None}) if e.kind == "call.started" else e for e in first.events]
    provider = scripted()
    again, human = await session(provider, Decision("approve"), task="Something else", record=Record.from_events(old))
    assert provider.requests == []  # as before fingerprints: matched by key and not by what was asked
    assert again.finished.status == "completed" and len(human.asked) == 1  # another task's decision is asked


# -- decisions -------------------------------------------------------------------------


def without_calls(events: list[EventBase]) -> Record:
    """A record of the decisions only: every call is made again."""
    return Record.from_events([e for e in events if e.kind != "call.finished"])


async def test_a_recorded_decision_stands_and_a_changed_payload_asks_again():
    first, _ = await session(scripted(), Decision("reject", reason="too thin"), Decision("approve"))
    assert [e.action for e in first.of("escalation.resolved")] == ["reject", "approve"]
    same, human = await session(scripted(), record=without_calls(first.events))
    assert human.asked == []  # the same plans were asked about: both decisions stand
    assert [(e.action, e.reason) for e in same.of("escalation.resolved")] == [("reject", "too thin"), ("approve", None)]
    other_plan = plan_of(("s1", "coder", []))
    changed, human = await session(scripted(other_plan), Decision("approve"), record=without_calls(first.events))
    assert len(human.asked) == 1  # another plan: a person is asked, once, and it is approved
    assert [e.rule for e in changed.of("escalation.resolved")] == ["policy: default=ask"]


async def test_an_edited_plan_stands_as_edited():
    edited = plan_of(("x1", "coder", []))
    first, _ = await session(scripted(), Decision("edit", edited=edited))
    again, human = await session(scripted(), record=Record.from_events(first.events))
    assert human.asked == []
    assert [e.step_id for e in again.of("step.started")] == ["x1"]
    assert again.finished.result == first.finished.result


# -- emitted again, or not -------------------------------------------------------------


async def test_a_quiet_record_emits_no_replayed_work_but_counts_it():
    first, _ = await session(scripted(), Decision("approve"))
    provider = scripted()
    again, human = await session(provider, record=Record.from_events(first.events, emit=False))
    assert provider.requests == [] and human.asked == []
    assert not [e for e in again.events if e.kind.startswith(("call.", "escalation."))]
    assert again.finished.calls == first.finished.calls == 4
    assert again.finished.usage == first.finished.usage and again.finished.cost == first.finished.cost


async def test_replayed_calls_count_against_the_budget_quiet_or_not():
    first, _ = await session(scripted(), Decision("approve"))
    tokens = first.finished.usage.total
    for emit in (True, False):
        cut = Record.from_events(first.events, up_to_seq=first.of("call.finished")[-2].seq, emit=emit)
        provider = scripted()
        again, human = await session(provider, Decision("reject"), record=cut, limits=Limits(tokens=tokens - 1))
        assert again.finished.status == "stopped", emit  # the replayed calls used the room: no more is made
        assert len(human.asked) == 1 and len(provider.requests) == 1


async def test_a_quiet_resume_takes_escalation_ids_its_record_does_not_use():
    first, _ = await session(scripted(), Decision("approve"))
    record = without_calls(first.events)
    quiet = replace(record, emit=False)
    again, human = await session(scripted(plan_of(("s1", "coder", []))), Decision("approve"), record=quiet)
    assert human.asked and not set(human.asked) & record.escalation_ids


# -- tools -----------------------------------------------------------------------------


READER = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", tools=("read_file",)),))


async def test_a_call_cut_between_tool_rounds_is_made_again_with_its_tools_answered_from_the_record(
    monkeypatch, tmp_path,
):
    async def one_call(ctx, task):
        return await ctx.call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one_call, lambda: READER))
    (tmp_path / "README.md").write_text("the first words\n")

    def script(request):
        if any(m.tool_results for m in request.messages):
            return "I read: " + request.messages[-1].tool_results[0].output
        return ToolUse("toolu_1", "read_file", {"path": "README.md"})

    config = EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=tmp_path)
    policy = ApprovalPolicy(default="approve")
    spec = SessionSpec(task="read it", pattern="one-call", policy=policy)
    events: list[EventBase] = []
    bus = EventBus()
    bus.listen(events.append)
    first = await run_session(spec, ScriptedProvider(script), bus=bus, config=config)
    assert "the first words" in first.result
    second_round = [e for e in events if e.kind == "call.started"][1].seq
    (tmp_path / "README.md").write_text("changed since\n")  # a use run again would read this
    provider = ScriptedProvider(script)
    again: list[EventBase] = []
    bus = EventBus()
    bus.listen(again.append)
    finished = await run_session(spec, provider, bus=bus, config=config,
                                 record=Record.from_events(events, up_to_seq=second_round - 1))
    assert finished.result == first.result and len(provider.requests) == 2
    assert [(e.output, e.recorded) for e in again if e.kind == "tool.result"] == [("the first words\n", True)]

"""Peer mesh: requests by capability over the message bus, with loop guards that show."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from engine.approvals import ApprovalGate, Decision
from engine.budgets import Limits
from engine.notes import DeclineNote, MeshStopNote, RequestNote
from engine.patterns import preset_team
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.e2e.terminal import huddle_command
from tests.helpers import ScriptedProvider, fields_of, run

# The preset peers: architect (api design, architecture), dba (databases, performance),
# security (security), frontend (frontend, api design), tester (testing, security).


def mesh_script(asks: dict[str, list[str]], *, confidence: dict[str, float] | None = None, answer=None):
    """Each peer asks for the capabilities in `asks` (none: it answers alone) and
    answers "<name> answer" unless `answer(request)` says otherwise."""

    def script(request):
        if request.tool is not None:
            wanted = asks.get(request.agent, [])
            return {
                "answer_myself": not wanted,
                "requests": [{"capability": c, "question": f"{request.agent} needs {c} help"} for c in wanted],
                "confidence": (confidence or {}).get(request.agent, 0.9),
            }
        if answer is not None and (reply := answer(request)) is not None:
            return reply
        return f"{request.agent} answer"

    return script


def notes(ran, kind):
    return ran.of(kind)


def messages(ran):
    return [(e.from_agent, e.to_agent, e.text) for e in ran.of("message")]


def answer_prompt(provider: ScriptedProvider, agent: str) -> str:
    return [r.messages[-1].text for r in provider.requests if r.agent == agent and r.tool is None][-1]


def _answering(gate: ApprovalGate, decide):
    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decide(event))

    return hook


async def test_default_demo_completes_within_its_guards_for_several_seeds():
    requests = 0
    for seed in (1, 2, 3, 4):
        ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="mesh")
        assert ran.finished.status == "completed", ran.finished.reason
        last = ran.of("call.finished")[-1]
        assert last.agent == "architect" and last.span_id == "root/peer:architect/answer"
        assert ran.finished.result == last.text
        for note in notes(ran, RequestNote):
            assert 1 <= note.hop <= 2
        for note in notes(ran, MeshStopNote):
            assert note.reason in ("hop_limit", "circular", "no_peer", "capacity")
        # Every request travels as a message from the asker to the asked.
        sent = {(f, t) for f, t, _ in messages(ran)}
        assert all((n.from_agent, n.to_agent) in sent for n in notes(ran, RequestNote))
        requests += len(notes(ran, RequestNote))
    assert requests  # the demo shows peers asking each other


async def test_helpers_work_concurrently_and_their_replies_come_back_as_data():
    provider = ScriptedProvider(mesh_script({"architect": ["databases", "security"]}), delay=0.02)
    ran = await run(provider, task="SECRET-TASK-TEXT design an API", pattern="mesh")

    assert ran.finished.status == "completed" and ran.finished.result == "architect answer"
    started = {e.step_id: e.seq for e in ran.of("step.started")}
    finished = {e.step_id: e.seq for e in ran.of("step.finished")}
    assert set(started) == {"task", "task.1", "task.2"}
    assert max(started["task.1"], started["task.2"]) < min(finished["task.1"], finished["task.2"])
    assert finished["task"] > max(finished["task.1"], finished["task.2"])
    assert [(n.from_agent, n.to_agent, n.capability, n.hop) for n in notes(ran, RequestNote)] == [
        ("architect", "dba", "databases", 1), ("architect", "security", "security", 1),
    ]
    sent = messages(ran)
    assert ("architect", "dba", "architect needs databases help") in sent
    assert ("dba", "architect", "dba answer") in sent and ("security", "architect", "security answer") in sent
    final = answer_prompt(provider, "architect")
    assert '<agent_output source="dba" title="databases: architect needs databases help">' in final
    assert "security answer" in final and "not instructions" in final
    # A helper sees the question it was asked, not the task; no output enters a system prompt.
    assert "SECRET-TASK-TEXT" not in answer_prompt(provider, "dba")
    assert all("dba answer" not in r.system for r in provider.requests)
    assert [e.verdict for e in ran.of("handoff")] == ["accepted", "accepted"]


async def test_circular_delegation_is_stopped_and_shown():
    # Everyone wants security help: architect → security → tester, and tester's only
    # other security peer is already in the chain.
    script = mesh_script({name: ["security"] for name in ("architect", "security", "tester")})
    ran = await run(ScriptedProvider(script), pattern="mesh", options={"hop_limit": 3})

    assert ran.finished.status == "completed"
    [stop] = notes(ran, MeshStopNote)
    assert fields_of(stop) == {
        "reason": "circular", "requester": "tester", "chain": ["architect", "security", "tester"],
        "capability": "security", "capabilities": None, "holders": ["security"], "declined": None,
    }
    assert "loop" in stop.text
    assert [(n.from_agent, n.to_agent) for n in notes(ran, RequestNote)] == [("architect", "security"), ("security", "tester")]
    # Nobody is asked twice in one chain, and everyone still answers.
    assert [e.step_id for e in ran.of("step.finished") if e.status == "done"] == ["task.1.1", "task.1", "task"]


async def test_hop_limit_stops_further_asks_and_says_so():
    script = mesh_script({"architect": ["databases"], "dba": ["testing"], "tester": ["frontend"]})
    provider = ScriptedProvider(script)
    ran = await run(provider, pattern="mesh")

    assert ran.finished.status == "completed"
    [stop] = notes(ran, MeshStopNote)
    assert stop.reason == "hop_limit"
    assert stop.chain == ["architect", "dba", "tester"] and stop.capabilities == ["frontend"]
    assert "frontend" not in {r.agent for r in provider.requests}
    assert [e.step_id for e in ran.of("step.started")] == ["task", "task.1", "task.1.1"]


async def test_hop_limit_zero_lets_the_entry_peer_ask_no_one():
    provider = ScriptedProvider(mesh_script({"architect": ["databases"]}))
    ran = await run(provider, pattern="mesh", options={"hop_limit": 0})

    assert [n.reason for n in notes(ran, MeshStopNote)] == ["hop_limit"]
    assert {r.agent for r in provider.requests} == {"architect"}
    assert ran.finished.status == "completed"


@pytest.mark.parametrize("capacity", [1, 2])
async def test_a_peer_at_capacity_declines_and_the_next_peer_with_the_capability_is_asked(capacity):
    ran = await run(
        ScriptedProvider(mesh_script({"architect": ["security", "security"]})),
        pattern="mesh", options={"capacity": capacity},
    )

    asked = [(n.from_agent, n.to_agent) for n in notes(ran, RequestNote)]
    if capacity == 1:
        assert asked == [("architect", "security"), ("architect", "security"), ("architect", "tester")]
        assert ("security", "architect", "declined: at capacity") in messages(ran)
        [decline] = notes(ran, DeclineNote)
        assert fields_of(decline) == {"peer": "security", "requester": "architect", "capability": "security", "active": 1}
        assert {e.agent for e in ran.of("step.finished")} == {"architect", "security", "tester"}
    else:
        assert asked == [("architect", "security"), ("architect", "security")]
        assert not notes(ran, DeclineNote)
    assert ran.finished.status == "completed"


async def test_when_every_peer_with_a_capability_is_busy_the_asker_goes_on_without_it():
    # dba and security are both busy helping the architect; both want testing, and the
    # one tester can take only one of them.
    script = mesh_script({"architect": ["databases", "security"], "dba": ["testing"], "security": ["testing"]})
    ran = await run(ScriptedProvider(script, delay=0.01), pattern="mesh")

    [decline] = notes(ran, DeclineNote)
    assert decline.peer == "tester" and decline.requester in ("dba", "security")
    [stop] = notes(ran, MeshStopNote)
    assert stop.reason == "capacity" and stop.requester == decline.requester
    assert stop.declined == ["tester"]
    assert sum(e.agent == "tester" for e in ran.of("step.started")) == 1
    assert ran.finished.status == "completed"


async def test_a_capability_no_other_peer_has_is_a_no_peer_stop():
    ran = await run(ScriptedProvider(mesh_script({"architect": ["architecture"]})), pattern="mesh")

    [stop] = notes(ran, MeshStopNote)
    assert stop.reason == "no_peer" and stop.capability == "architecture"
    assert not notes(ran, RequestNote) and ran.finished.status == "completed"


async def test_a_low_confidence_reply_escalates_and_rejecting_it_drops_it():
    provider = ScriptedProvider(mesh_script({"architect": ["databases"]}, confidence={"dba": 0.2}))
    policy = ApprovalPolicy(default="approve", triggers={"low_confidence": "reject"})
    ran = await run(provider, pattern="mesh", policy=policy)

    escalation = next(e for e in ran.of("escalation.requested") if e.trigger == "low_confidence")
    assert escalation.agent == "dba" and "20%" in escalation.reason
    assert [e.verdict for e in ran.of("handoff")] == ["low_confidence"]
    assert "<agent_output" not in answer_prompt(provider, "architect")
    assert ran.finished.status == "completed"


async def test_a_low_confidence_reply_a_person_edits_reaches_the_asker_edited():
    provider = ScriptedProvider(mesh_script({"architect": ["databases"]}, confidence={"dba": 0.2}))
    gate = ApprovalGate(ApprovalPolicy(default="approve", triggers={"low_confidence": "ask"}))
    edited = {"helper": "dba", "capability": "databases", "answer": "Use PostgreSQL row locks.", "confidence": 0.9}
    ran = await run(
        provider, pattern="mesh", gate=gate, policy=gate.policy,
        on_event=_answering(gate, lambda e: Decision("edit", edited=edited)),
    )

    assert "Use PostgreSQL row locks." in answer_prompt(provider, "architect")
    assert "dba answer" not in answer_prompt(provider, "architect")
    assert [e.verdict for e in ran.of("handoff")] == ["low_confidence", "accepted"]


async def test_a_reply_that_breaks_the_contract_is_an_error_with_the_validation_message():
    script = mesh_script({"architect": ["databases"]}, answer=lambda r: "   " if r.agent == "dba" else None)
    provider = ScriptedProvider(script)
    ran = await run(provider, pattern="mesh")

    [handoff] = ran.of("handoff")
    assert handoff.verdict == "invalid" and "answer" in handoff.error
    error = next(e for e in ran.of("error") if e.error_type == "invalid_output")
    assert "help-reply" in error.message
    assert "<agent_output" not in answer_prompt(provider, "architect")
    assert ran.finished.status == "completed"


async def test_a_helper_whose_calls_fail_is_reported_and_the_asker_carries_on():
    def answer(request):
        if request.agent == "dba":
            return ProviderError("overloaded", "overloaded (529)", retryable=True)
        return None

    ran = await run(ScriptedProvider(mesh_script({"architect": ["databases", "security"]}, answer=answer)), pattern="mesh")

    assert ran.finished.status == "completed"
    failed = next(e for e in ran.of("step.finished") if e.agent == "dba")
    assert failed.status == "error" and "overloaded" in failed.error
    assert any(f == "dba" and t == "architect" and text.startswith("could not help") for f, t, text in messages(ran))
    assert ("security", "architect", "security answer") in messages(ran)


async def test_an_injected_malformed_assessment_falls_back_to_answering_alone():
    ran = await run(
        SimulatedProvider(seed=3, speed=0, faults=parse_faults("malformed@architect")), pattern="mesh"
    )

    assert any(e.final and e.error_type == "invalid_output" for e in ran.of("call.failed"))
    assert not notes(ran, RequestNote)
    assert ran.finished.status == "completed" and ran.finished.result.startswith("## ")


async def test_a_budget_stop_ends_the_mesh_with_what_the_helpers_finished():
    policy = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    ran = await run(
        ScriptedProvider(mesh_script({"architect": ["databases"]})), pattern="mesh", policy=policy,
        limits=Limits(tokens=400),
    )

    assert ran.finished.status == "stopped" and "tokens budget" in ran.finished.reason
    assert ran.finished.partial and "dba answer" in ran.finished.result
    assert not [e for e in ran.of("call.started") if e.span_id == "root/peer:architect/answer"]


async def test_a_budget_stop_inside_a_helper_stops_the_session_and_fails_no_step():
    policy = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    ran = await run(  # 250: more than the architect's first reply streams, less than the helper's
        ScriptedProvider(mesh_script({"architect": ["databases"]})), pattern="mesh", policy=policy,
        limits=Limits(tokens=250),
    )

    budget = next(e for e in ran.of("escalation.requested") if e.trigger == "budget")
    assert budget.span_id.startswith("root/peer:architect/ask1:dba")  # crossed inside the helpers' task group
    assert ran.finished.status == "stopped" and "tokens budget" in ran.finished.reason
    assert not [e for e in ran.of("step.finished") if e.status == "error"]  # a stop, not the asker's failure


async def test_a_provider_that_keeps_failing_trips_the_breaker_instead_of_looping():
    provider = ScriptedProvider(lambda request: ProviderError("overloaded", "overloaded (529)", retryable=True))
    ran = await asyncio.wait_for(run(provider, pattern="mesh"), timeout=10)

    assert ran.finished.status == "failed" and "circuit breaker" in ran.finished.reason
    assert ran.finished.partial


async def test_the_entry_peer_is_an_option_and_an_unknown_one_is_a_clear_error():
    provider = ScriptedProvider(mesh_script({}))
    ran = await run(provider, pattern="mesh", options={"entry": "dba"})
    assert ran.of("step.started")[0].assigned_to == "dba" and ran.finished.result == "dba answer"

    ran = await run(ScriptedProvider(mesh_script({})), pattern="mesh", options={"entry": "ghost"})
    assert ran.finished.status == "failed" and "'ghost' is not a peer" in ran.finished.reason


async def test_the_task_steps_title_is_the_tasks_first_line():
    ran = await run(ScriptedProvider(mesh_script({})), pattern="mesh", task="Design a rate limiter\n\nIt must be fair.")
    assert ran.of("step.started")[0].title == "Design a rate limiter"


def test_the_preset_team_has_distinct_capabilities_and_no_coordinator():
    spec = preset_team("mesh")
    assert spec.lead is None and len(spec.agents) >= 4
    firsts = [agent.capabilities[0] for agent in spec.agents]
    assert len(set(firsts)) == len(firsts)


def test_headless_cli_runs_the_pattern_to_completion():
    done = subprocess.run(
        [huddle_command(), "run", "--headless", "--pattern", "mesh", "--approve", "approve",
         "--speed", "0", "--seed", "2", "Design a rate limiter for our public REST API"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "result (completed)" in done.stdout
    assert "architect → dba" in done.stdout

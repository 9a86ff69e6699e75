"""Blackboard: contributions in cycles when their inputs are there, conflicts, stalls."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.budgets import Limits
from engine.notes import BoardNote, BoardStopNote, ConflictNote, StallNote, WriteNote
from engine.patterns import preset_team
from engine.patterns.blackboard import Blackboard
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.e2e.terminal import huddle_command
from tests.helpers import ScriptedProvider, fields_of, labels, run

# The preset: researcher (problem → facts, 1), analyst (facts → options, 2),
# engineer (facts → options, 3), critic (options → risks, 2), lead (options, risks →
# recommendation, 5); conflicts merged by the lead.


def board_script(answer=None):
    """Everyone writes "<name> wrote this" unless `answer(request)` says otherwise."""

    def script(request):
        if answer is not None and (reply := answer(request)) is not None:
            return reply
        return f"{request.agent} wrote this"

    return script


def notes(ran, kind):
    return ran.of(kind)


def prompt_of(provider: ScriptedProvider, agent: str, where: str = "cycle:") -> str:
    return [r.messages[-1].text for r in provider.requests if r.agent == agent and where in r.call_key][-1]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_default_demo_completes_with_a_merged_conflict(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="blackboard")

    assert ran.finished.status == "completed", ran.finished.reason
    writes = [(n.key, n.writer) for n in notes(ran, WriteNote)]
    assert writes == [
        ("problem", "user"), ("facts", "researcher"), ("options", "lead"), ("risks", "critic"), ("recommendation", "lead"),
    ]
    [conflict] = notes(ran, ConflictNote)
    assert conflict.key == "options" and sorted(conflict.writers) == ["analyst", "engineer"]
    assert conflict.resolution == "merge"
    final_board = notes(ran, BoardNote)[-1]
    assert final_board.cycle == 4 and set(final_board.keys) == {"problem", "facts", "options", "risks", "recommendation"}
    last = ran.of("call.finished")[-1]
    assert last.agent == "lead" and ran.finished.result == last.text


async def test_contributors_run_when_their_inputs_are_there_and_concurrently_within_a_cycle():
    provider = ScriptedProvider(board_script(), delay=0.02)
    ran = await run(provider, pattern="blackboard", options={"on_conflict": "priority"})

    started = {e.step_id: e.seq for e in ran.of("step.started")}
    finished = {e.step_id: e.seq for e in ran.of("step.finished")}
    assert list(started) == ["c1:researcher", "c2:analyst", "c2:engineer", "c3:critic", "c4:lead"]
    # The two option writers overlap; each cycle starts after the last one's writes.
    assert max(started["c2:analyst"], started["c2:engineer"]) < min(finished["c2:analyst"], finished["c2:engineer"])
    write_seq = {n.key: n.seq for n in notes(ran, WriteNote)}
    assert finished["c1:researcher"] < write_seq["facts"] < started["c2:analyst"]
    assert write_seq["options"] < started["c3:critic"] and write_seq["risks"] < started["c4:lead"]
    # Each write has its writer, a version and a time; the board is noted after each cycle.
    stamps = [n.value_ts for n in notes(ran, WriteNote)]
    assert stamps == sorted(stamps) and all(n.version == 1 for n in notes(ran, WriteNote))
    assert [n.cycle for n in notes(ran, BoardNote)] == [1, 2, 3, 4]
    assert notes(ran, BoardNote)[1].keys["options"].writer == "engineer"
    # Inputs arrive as wrapped data, never pasted into the instructions or a system prompt.
    critic = prompt_of(provider, "critic")
    assert '<agent_output source="engineer" title="options">' in critic and "engineer wrote this" in critic
    assert "<agent_output" not in prompt_of(provider, "researcher")
    assert all("wrote this" not in r.system for r in provider.requests)
    assert ran.finished.result == "lead wrote this"


async def test_priority_conflict_keeps_the_higher_priority_write_and_records_the_loser():
    provider = ScriptedProvider(board_script())
    ran = await run(provider, pattern="blackboard", options={"on_conflict": "priority"})

    [conflict] = notes(ran, ConflictNote)
    assert fields_of(conflict) == {
        "key": "options", "writers": ["analyst", "engineer"], "decision": None, "merge_failed": False,
        "resolution": "priority", "winner": "engineer", "losers": ["analyst"],
    }
    options_write = next(n for n in notes(ran, WriteNote) if n.key == "options")
    assert options_write.writer == "engineer" and options_write.conflict is True
    assert conflict.seq < options_write.seq
    assert "analyst wrote this" not in prompt_of(provider, "critic")


async def test_merge_conflict_has_the_lead_merge_the_values():
    provider = ScriptedProvider(board_script(lambda r: "MERGED" if "key:options" in r.call_key else None))
    ran = await run(provider, pattern="blackboard")

    merge_prompt = prompt_of(provider, "lead", "key:options")
    assert '<agent_output source="analyst" title="options">' in merge_prompt
    assert '<agent_output source="engineer" title="options">' in merge_prompt
    assert notes(ran, ConflictNote)[0].resolution == "merge"
    assert "MERGED" in prompt_of(provider, "critic")
    assert any(e.step_id == "c2:merge:options" and e.status == "done" for e in ran.of("step.finished"))


async def test_a_failed_merge_falls_back_to_priority():
    def answer(request):
        if "key:options" in request.call_key:
            return ProviderError("bad_request", "bad request (400)", retryable=False)
        return None

    ran = await run(ScriptedProvider(board_script(answer)), pattern="blackboard")

    [conflict] = notes(ran, ConflictNote)
    assert conflict.resolution == "priority" and conflict.merge_failed is True
    assert conflict.winner == "engineer" and "merge failed" in conflict.text
    assert ran.finished.status == "completed"


@pytest.mark.parametrize(
    ("decision", "writer"),
    [(Decision("approve"), "engineer"), (Decision("edit", edited={"value": "HUMAN OPTIONS"}), "user")],
)
async def test_an_escalated_conflict_takes_the_decision(decision, writer):
    provider = ScriptedProvider(board_script())
    gate = ApprovalGate(ApprovalPolicy(default="approve", triggers={"conflict": "ask"}))
    refused = []

    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            try:
                gate.resolve(event.escalation_id, Decision("edit", edited={"value": "  "}))
            except DecisionError as error:
                refused.append(str(error))
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decision)

    ran = await run(provider, pattern="blackboard", gate=gate, policy=gate.policy, options={"on_conflict": "escalate"},
                    on_event=hook)

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "conflict" and escalation.payload["key"] == "options"
    assert [w["writer"] for w in escalation.payload["writes"]] == ["engineer", "analyst"]
    assert labels(escalation)["reject"] == "Leave options unwritten"
    assert refused and "value" in refused[0]
    [conflict] = notes(ran, ConflictNote)
    assert conflict.resolution == "escalation" and conflict.decision == decision.action
    assert conflict.winner == writer
    options_write = next(n for n in notes(ran, WriteNote) if n.key == "options")
    assert options_write.writer == writer
    if writer == "user":
        assert "HUMAN OPTIONS" in prompt_of(provider, "critic")
    assert ran.finished.status == "completed"


async def test_a_rejected_conflict_leaves_the_key_unwritten_and_the_board_stalls():
    policy = ApprovalPolicy(default="approve", triggers={"conflict": "reject"})
    ran = await run(ScriptedProvider(board_script()), pattern="blackboard", policy=policy,
                    options={"on_conflict": "escalate"})

    [conflict] = notes(ran, ConflictNote)
    assert conflict.winner is None and conflict.losers == ["analyst", "engineer"]
    [stall] = notes(ran, StallNote)
    assert stall.missing == ["options", "recommendation", "risks"]
    assert stall.waiting == {"critic": ["options"], "lead": ["options", "risks"]}
    assert ran.finished.status == "stopped" and ran.finished.reason.startswith("blackboard stalled")
    assert ran.finished.partial and "facts (v1, by researcher)" in ran.finished.result
    assert "researcher wrote this" in ran.finished.result


async def test_a_requirement_nobody_writes_is_reported_as_a_stall():
    contributors = {
        "researcher": {"requires": ["problem"], "writes": "facts"},
        "lead": {"requires": ["facts", "budget"], "writes": "recommendation"},
    }
    ran = await run(ScriptedProvider(board_script()), pattern="blackboard", options={"contributors": contributors})

    [stall] = notes(ran, StallNote)
    assert fields_of(stall) == {"cycle": 2, "missing": ["budget", "recommendation"], "waiting": {"lead": ["budget"]}, "failed": {}}
    assert "nobody can write budget, recommendation (lead needs budget)" in ran.finished.reason
    assert ran.finished.status == "stopped"


async def test_an_injected_fault_that_fails_a_contributor_is_named_in_the_stall():
    ran = await run(
        SimulatedProvider(seed=1, speed=0, faults=parse_faults("overload@researcher")), pattern="blackboard"
    )

    assert any(e.final and e.agent == "researcher" for e in ran.of("call.failed"))
    [stall] = notes(ran, StallNote)
    assert "researcher" in stall.failed and "overloaded" in stall.failed["researcher"]
    assert stall.waiting["analyst"] == ["facts"]
    assert ran.finished.status == "stopped" and "researcher failed" in ran.finished.reason


async def test_rewritten_inputs_run_a_contributor_again_until_max_cycles():
    contributors = {
        "researcher": {"requires": ["problem"], "writes": "x"},
        "analyst": {"requires": ["x"], "writes": "y"},
        "engineer": {"requires": ["y"], "writes": "x"},
        "lead": {"requires": ["never"], "writes": "recommendation"},
    }
    provider = ScriptedProvider(board_script())
    ran = await run(provider, pattern="blackboard", options={"contributors": contributors, "max_cycles": 4})

    # Every write is noted, in order, with its version and the start of its value.
    writes = [(n.key, n.version, n.preview) for n in notes(ran, WriteNote)][1:]
    assert writes == [
        ("x", 1, "researcher wrote this"), ("y", 1, "analyst wrote this"),
        ("x", 2, "engineer wrote this"), ("y", 2, "analyst wrote this"),
    ]
    assert "changed since" in prompt_of(provider, "analyst")
    [stop] = notes(ran, BoardStopNote)
    assert fields_of(stop) == {"reason": "max_cycles", "cycles": 4, "goal": "recommendation"}
    assert ran.finished.status == "stopped" and "max_cycles (4)" in ran.finished.reason
    assert "x (v2, by engineer)" in ran.finished.result


async def test_a_budget_stop_keeps_the_board_as_the_partial_result():
    policy = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    ran = await run(ScriptedProvider(board_script()), pattern="blackboard", policy=policy, limits=Limits(turns=2))

    assert ran.finished.status == "stopped" and "turns budget" in ran.finished.reason
    assert "facts (v1, by researcher)" in ran.finished.result
    assert not notes(ran, StallNote)


async def test_contributors_that_do_not_fit_the_team_are_a_clear_error():
    provider = ScriptedProvider(board_script())
    ran = await run(provider, pattern="blackboard", options={"contributors": {"ghost": {"writes": "recommendation"}}})
    assert ran.finished.status == "failed" and "contributors not on the team: ghost" in ran.finished.reason
    [error] = ran.of("error")
    assert error.error_type == "bad_request" and error.fatal

    ran = await run(provider, pattern="blackboard", options={"contributors": {"lead": {"writes": "notes"}}})
    assert "no contributor writes the goal key 'recommendation'" in ran.finished.reason
    assert not provider.requests


async def test_a_team_of_only_member_teams_is_a_clear_error():
    inner = TeamSpec(name="inner", agents=(AgentSpec(name="inner-dev", role="engineer"),))
    outer = TeamSpec(name="outer", agents=(AgentSpec(name="inner", role="a team", team=inner),))
    provider = ScriptedProvider(board_script())
    ran = await run(provider, pattern="blackboard", team=outer)

    assert ran.finished.status == "failed"
    assert "a blackboard needs agents that call a model; team outer has only member teams" in ran.finished.reason
    assert not provider.requests


async def test_on_another_team_every_agent_writes_its_own_key_and_the_lead_the_goal():
    ran = await run(SimulatedProvider(seed=2, speed=0), pattern="blackboard", team=preset_team("orchestrator"))

    assert ran.finished.status == "completed"
    keys = [n.key for n in notes(ran, WriteNote)]
    assert keys == ["problem", "researcher", "coder", "reviewer", "recommendation"]
    assert not notes(ran, ConflictNote)


def test_the_workspace_versions_each_key():
    board = Blackboard()
    board.write("facts", "a", "researcher", 1.0)
    entry = board.write("facts", "b", "analyst", 2.0)
    assert (entry.version, entry.writer, entry.ts) == (2, "analyst", 2.0)
    assert board.version("facts") == 2 and board.version("nothing") == 0 and board.entries["facts"].value == "b"
    assert board.keys() == {"facts": {"writer": "analyst", "version": 2, "ts": 2.0}}


def test_headless_cli_runs_the_pattern_to_completion():
    done = subprocess.run(
        [huddle_command(), "run", "--headless", "--pattern", "blackboard", "--approve", "approve",
         "--speed", "0", "--seed", "1", "Design a rate limiter for our public REST API"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "result (completed)" in done.stdout
    assert "conflict" in done.stdout and "options" in done.stdout

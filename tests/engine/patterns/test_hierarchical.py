"""Hierarchical teams: member teams run their own pattern on a step, nested, in one session."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision
from engine.budgets import Limits
from engine.notes import TeamNote
from engine.patterns import preset_team
from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.e2e.terminal import huddle_command
from tests.helpers import ScriptedProvider, fields_of, plan_of, run

TOP = plan_of(("s1", "researcher", []), ("s2", "engineering", ["s1"]), ("s3", "writers", []))
ENG = plan_of(("e1", "eng-coder", []), ("e2", "eng-tester", ["e1"]))
DOCS = plan_of(("d1", "docs-writer", []), ("d2", "docs-reviewer", ["d1"]))


def scripted(plans: dict[str, dict], *, delay: float = 0.0) -> ScriptedProvider:
    """Each lead returns its plan; everyone else (and each lead's synthesis) returns text."""

    def script(request):
        if request.tool is not None:
            return plans[request.agent]
        return f"{request.agent} did it"

    return ScriptedProvider(script, delay=delay)


def default_plans(**overrides: dict) -> dict[str, dict]:
    return {"lead": TOP, "eng-lead": ENG, "docs-lead": DOCS, **overrides}


def notes(ran):
    return ran.of(TeamNote)


def _answering(gate: ApprovalGate, decide):
    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decide(event))

    return hook


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_default_demo_completes_with_nested_team_plans(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="hierarchical")

    assert ran.finished.status == "completed", ran.finished.reason
    plan_spans = {e.span_id for e in ran.of("plan.made")}
    assert "root/plan" in plan_spans
    assert any(s.endswith("/team:engineering/plan") and s.startswith("root/step:") for s in plan_spans)
    assert any(s.endswith("/team:writers/plan") for s in plan_spans)
    step_ids = [e.step_id for e in ran.of("step.started")]
    assert len(step_ids) == len(set(step_ids)), "step ids must be unique in a session"
    statuses = [n.status for n in notes(ran)]
    assert statuses.count("started") == statuses.count("done") >= 2
    # The top lead writes the final answer, last.
    last = ran.of("call.finished")[-1]
    assert last.agent == "lead" and last.span_id == "root/synthesis"
    assert ran.finished.result == last.text


async def test_member_team_plans_and_runs_nested_after_its_dependencies():
    provider = scripted(default_plans(), delay=0.02)
    ran = await run(provider, pattern="hierarchical")

    assert ran.finished.status == "completed"
    started = {e.step_id: e.seq for e in ran.of("step.started")}
    finished = {e.step_id: e.seq for e in ran.of("step.finished")}
    # The writers' team works alongside the researcher; engineering waits for s1.
    assert started["s3"] < finished["s1"] and started["s1"] < finished["s3"]
    assert started["s2"] > finished["s1"]
    # Engineering's own steps run inside s2, with ids scoped by the step above.
    assert started["s2"] < started["s2/engineering/e1"] < finished["s2/engineering/e1"]
    assert finished["s2/engineering/e1"] < started["s2/engineering/e2"] < finished["s2/engineering/e2"] < finished["s2"]
    assert started["s3/writers/d1"] < started["s3/writers/d2"] < finished["s3"]

    eng = [n for n in notes(ran) if n.team == "engineering"]
    assert [n.status for n in eng] == ["started", "done"]
    assert fields_of(eng[0]) == {
        "team": "engineering", "pattern": "orchestrator", "depth": 1, "path": ["engineering"],
        "step": "s2", "status": "started", "error": None,
    }
    assert eng[0].seq < started["s2/engineering/e1"] and eng[1].seq < finished["s2"]
    eng_plan = next(e for e in ran.of("plan.made") if e.agent == "eng-lead")
    assert eng_plan.span_id == "root/step:s2/team:engineering/plan"
    assert [s["id"] for s in eng_plan.plan["steps"]] == ["s2/engineering/e1", "s2/engineering/e2"]
    assert eng_plan.plan["steps"][1]["depends_on"] == ["s2/engineering/e1"]
    coder_call = next(e for e in ran.of("call.started") if e.agent == "eng-coder")
    assert coder_call.span_id == "root/step:s2/team:engineering/step:e1"
    assert coder_call.step_id == "s2/engineering/e1"


async def test_dependency_results_reach_a_member_team_as_data_and_the_top_lead_synthesises():
    provider = scripted(default_plans())
    ran = await run(provider, pattern="hierarchical")

    prompts = {(r.agent, r.tool is not None): r.messages[-1].text for r in provider.requests}
    eng_plan_prompt = prompts[("eng-lead", True)]
    assert "Subtask s2" in eng_plan_prompt
    assert '<agent_output source="researcher" step="s1"' in eng_plan_prompt and "researcher did it" in eng_plan_prompt
    assert "<agent_output" not in prompts[("docs-lead", True)]  # s3 depends on nothing
    # The top lead's plan prompt says which members are teams.
    top_plan_prompt = prompts[("lead", True)]
    assert "engineering: " in top_plan_prompt and "a team of 3" in top_plan_prompt
    assert "researcher: researcher (an individual)" in top_plan_prompt
    # Each member team's lead writes its team's answer; the top lead writes the session's from them.
    synthesis = prompts[("lead", False)]
    assert '<agent_output source="engineering" step="s2"' in synthesis and "eng-lead did it" in synthesis
    assert '<agent_output source="writers" step="s3"' in synthesis and "docs-lead did it" in synthesis
    assert ran.finished.result == "lead did it"


async def test_each_team_lead_gets_its_own_plan_escalation_and_a_rejected_team_fails_only_its_step():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))

    def decide(event):
        if event.agent == "eng-lead":
            return Decision("reject", reason="too vague")
        return Decision("approve")

    ran = await run(scripted(default_plans()), pattern="hierarchical", gate=gate, policy=gate.policy, on_event=_answering(gate, decide))

    asked = [(e.agent, e.trigger) for e in ran.of("escalation.requested")]
    assert ("lead", "plan") in asked and ("docs-lead", "plan") in asked
    assert asked.count(("eng-lead", "plan")) == 3  # the first plan and two revisions
    eng_escalation = next(e for e in ran.of("escalation.requested") if e.agent == "eng-lead")
    assert eng_escalation.span_id == "root/step:s2/team:engineering/plan"
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "team engineering: plan rejected 3 times" in outcome["s2"].error
    assert outcome["s1"].status == "done" and outcome["s3"].status == "done"
    failed = [n for n in notes(ran) if n.status == "failed"]
    assert [n.team for n in failed] == ["engineering"]
    assert ran.finished.status == "completed"
    synthesis = next(e for e in ran.of("call.started") if e.span_id == "root/synthesis")
    assert "did not finish" in synthesis.prompt and "s2" in synthesis.prompt


async def test_injected_fault_in_a_member_team_lead_fails_its_steps_not_the_session():
    ran = await run(
        SimulatedProvider(seed=1, speed=0, faults=parse_faults("malformed@eng-lead")), pattern="hierarchical"
    )

    assert ran.finished.status == "completed"
    failed = [n for n in notes(ran) if n.status == "failed"]
    assert failed and all(n.team == "engineering" for n in failed)
    assert "no valid Plan" in failed[0].error
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    engineering = [o for o in outcome.values() if o.agent == "engineering"]
    assert engineering and all(o.status in ("error", "skipped") for o in engineering)
    assert any(o.agent == "writers" and o.status == "done" for o in outcome.values())
    assert ran.of("call.finished")[-1].agent == "lead"


async def test_a_budget_stop_inside_a_member_team_stops_the_whole_session_with_a_partial_result():
    policy = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    ran = await run(scripted(default_plans()), pattern="hierarchical", policy=policy, limits=Limits(turns=4))

    assert ran.finished.status == "stopped" and "turns budget" in ran.finished.reason
    budget = next(e for e in ran.of("escalation.requested") if e.trigger == "budget")
    assert "/team:" in budget.span_id  # crossed inside a member team, under one session budget
    assert ran.finished.partial and "researcher did it" in ran.finished.result
    # The stop is not swallowed into a step error, and nobody synthesises after it.
    assert not any("budget" in (e.error or "") for e in ran.of("step.finished"))
    assert not [e for e in ran.of("call.started") if e.span_id == "root/synthesis"]


def _team_with(member_pattern: str | None, *, nested: bool = False) -> TeamSpec:
    infra = AgentSpec(
        name="infra",
        role="infrastructure team",
        pattern="orchestrator",
        team=TeamSpec(
            name="infra", lead="infra-lead",
            agents=(AgentSpec(name="infra-lead", role="infra lead"), AgentSpec(name="infra-dev", role="devops engineer")),
        ),
    )
    platform_agents = (AgentSpec(name="platform-lead", role="platform lead"), AgentSpec(name="platform-dev", role="engineer"))
    if nested:
        platform_agents += (infra,)
    platform = AgentSpec(
        name="platform", role="platform team", pattern=member_pattern,
        team=TeamSpec(name="platform", lead="platform-lead", agents=platform_agents),
    )
    return TeamSpec(name="org", lead="lead", agents=(AgentSpec(name="lead", role="lead"), platform))


async def test_a_member_team_with_an_unknown_pattern_is_a_clear_error_before_any_call():
    provider = scripted({})
    ran = await run(provider, pattern="hierarchical", team=_team_with("nope"))

    assert ran.finished.status == "failed"
    assert "member team platform runs pattern 'nope', which is not available" in ran.finished.reason
    assert not provider.requests
    assert ran.of("error")[0].fatal


async def test_teams_nested_deeper_than_max_depth_are_refused_not_recursed_into():
    provider = scripted({})
    ran = await run(
        provider, pattern="hierarchical", team=_team_with("hierarchical", nested=True), options={"max_depth": 1}
    )

    assert ran.finished.status == "failed"
    assert "platform › infra is nested 2 levels deep; max_depth is 1" in ran.finished.reason
    assert not provider.requests


async def test_a_hierarchical_member_team_nests_its_own_member_team_two_levels_down():
    plans = {
        "lead": plan_of(("s1", "platform", [])),
        "platform-lead": plan_of(("p1", "infra", []), ("p2", "platform-dev", ["p1"])),
        "infra-lead": plan_of(("i1", "infra-dev", [])),
    }
    ran = await run(scripted(plans), pattern="hierarchical", team=_team_with("hierarchical", nested=True))

    assert ran.finished.status == "completed"
    assert [e.step_id for e in ran.of("step.started")] == ["s1", "s1/platform/p1", "s1/platform/p1/infra/i1", "s1/platform/p2"]
    infra = [n for n in notes(ran) if n.team == "infra"]
    assert infra[0].depth == 2 and infra[0].path == ["platform", "infra"]
    dev_call = next(e for e in ran.of("call.started") if e.agent == "infra-dev")
    assert dev_call.span_id == "root/step:s1/team:platform/step:p1/team:infra/step:i1"


async def test_a_step_for_someone_inside_a_member_team_is_an_error_for_that_step():
    plans = default_plans(lead=plan_of(("s1", "eng-coder", []), ("s2", "researcher", [])))
    ran = await run(scripted(plans), pattern="hierarchical")

    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s1"].status == "error"
    assert "eng-coder works inside member team engineering" in outcome["s1"].error
    assert outcome["s2"].status == "done" and ran.finished.status == "completed"


async def test_a_member_team_can_run_another_pattern_with_its_inputs_and_scoped_steps():
    specialists = AgentSpec(
        name="specialists", role="team of specialists", pattern="mesh",
        team=TeamSpec(name="specialists", agents=(
            AgentSpec(name="api-expert", role="API designer", capabilities=("api design",)),
            AgentSpec(name="sql-expert", role="database engineer", capabilities=("databases",)),
        )),
    )
    org = TeamSpec(name="org", lead="lead", agents=(
        AgentSpec(name="lead", role="lead"), AgentSpec(name="researcher", role="researcher"), specialists,
    ))

    def script(request):
        if request.agent == "lead" and request.tool is not None:
            return plan_of(("s1", "researcher", []), ("s2", "specialists", ["s1"]))
        if request.tool is not None:
            wanted = ["databases"] if request.agent == "api-expert" else []
            return {"answer_myself": not wanted, "confidence": 0.9,
                    "requests": [{"capability": c, "question": "which index?"} for c in wanted]}
        return f"{request.agent} did it"

    provider = ScriptedProvider(script)
    ran = await run(provider, pattern="hierarchical", team=org)

    assert ran.finished.status == "completed"
    assert [e.step_id for e in ran.of("step.started")] == ["s1", "s2", "s2/specialists/task", "s2/specialists/task.1"]
    [started, done] = notes(ran)
    assert started.pattern == "mesh" and done.status == "done"
    entry_assessment = next(r for r in provider.requests if r.agent == "api-expert" and r.tool is not None)
    assert '<agent_output source="researcher" step="s1"' in entry_assessment.messages[-1].text
    synthesis = next(r for r in provider.requests if r.agent == "lead" and r.tool is None)
    assert "api-expert did it" in synthesis.messages[-1].text


def test_the_preset_team_has_two_member_teams_under_a_stronger_lead():
    spec = preset_team("hierarchical")
    members = {agent.name: agent for agent in spec.agents}
    assert sum(agent.team is not None for agent in spec.agents) >= 2
    assert members[spec.lead].model != members["researcher"].model
    assert {agent.name for agent in spec.callers()} >= {"lead", "eng-lead", "docs-lead", "eng-coder"}


def test_headless_cli_runs_the_pattern_to_completion():
    done = subprocess.run(
        [huddle_command(), "run", "--headless", "--pattern", "hierarchical", "--approve", "approve",
         "--speed", "0", "--seed", "1", "Design a rate limiter for our public REST API"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "result (completed)" in done.stdout
    assert "engineering" in done.stdout and "s2/engineering/s1" in done.stdout

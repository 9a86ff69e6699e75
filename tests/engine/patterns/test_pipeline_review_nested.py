"""Pipeline and review as member teams' patterns: scoped step ids, the step's inputs, stops that
fail only the team's step."""

from __future__ import annotations

from engine.agents import AgentSpec, TeamSpec
from engine.policy import ApprovalPolicy
from tests.helpers import ScriptedProvider, plan_of, run

NOTES = {"summary": "s", "key_findings": ["F"], "sources": ["S"], "confidence": 0.9}
APPROVE = {"approved": True, "issues": [], "summary": "fine", "confidence": 0.9}
REJECT = {"approved": False, "issues": ["ISSUE-A"], "summary": "not yet", "confidence": 0.9}


def member(name: str, pattern: str, *agents: str) -> AgentSpec:
    return AgentSpec(
        name=name, role=f"{name} team", pattern=pattern,
        team=TeamSpec(name=name, agents=tuple(AgentSpec(name=a, role=f"{a} role") for a in agents)),
    )


def org(*members: AgentSpec) -> TeamSpec:
    return TeamSpec(name="org", lead="lead", agents=(
        AgentSpec(name="lead", role="lead"), AgentSpec(name="scout", role="scout"), *members,
    ))


TOP = plan_of(("s1", "scout", []), ("s2", "alpha", ["s1"]), ("s3", "beta", ["s1"]))


def script(structured=None):
    """The lead plans TOP; `structured[agent]` answers structured calls; everyone else writes text."""
    structured = structured or {}

    def answer(request):
        if request.agent == "lead" and request.tool is not None:
            return TOP
        if request.tool is not None:
            return structured[request.agent]
        return f"{request.agent} did it"

    return answer


def step_ids(ran) -> list[str]:
    return [e.step_id for e in ran.of("step.started")]


def first_request(provider, agent):
    return next(r for r in provider.requests if r.agent == agent)


async def test_two_pipeline_teams_scope_their_step_ids_and_their_first_stages_get_the_inputs():
    provider = ScriptedProvider(script())
    team = org(member("alpha", "pipeline", "a-draft", "a-edit"), member("beta", "pipeline", "b-draft", "b-edit"))
    ran = await run(provider, pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    ids = step_ids(ran)
    assert len(ids) == len(set(ids))
    assert {i for i in ids if "/" in i} == {
        "s2/alpha/stage1", "s2/alpha/stage2", "s3/beta/stage1", "s3/beta/stage2",
    }
    for first in ("a-draft", "b-draft"):  # what the team's step was handed, as data
        assert '<agent_output source="scout" step="s1"' in first_request(provider, first).messages[-1].text
    edit = first_request(provider, "a-edit").messages[-1].text
    assert '<agent_output source="a-draft" step="s2/alpha/stage1"' in edit
    call = next(e for e in ran.of("call.started") if e.agent == "a-edit")
    assert call.step_id == "s2/alpha/stage2"


async def test_a_stopped_pipeline_in_a_member_team_fails_only_its_step():
    # alpha's researcher stage has the preset contract and fallback; both break it, and the
    # policy rejects the breach: the pipeline stops, which fails step s2 and nothing else.
    bad = {"summary": "no findings"}
    provider = ScriptedProvider(script({"researcher": bad, "senior_researcher": bad}))
    team = org(
        member("alpha", "pipeline", "researcher", "writer", "senior_researcher"),
        member("beta", "pipeline", "b-draft"),
    )
    policy = ApprovalPolicy(default="approve", triggers={"invalid_output": "reject"})
    ran = await run(provider, pattern="hierarchical", team=team, policy=policy)

    assert ran.finished.status == "completed", ran.finished.reason
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "broke contract ResearchNotes" in outcome["s2"].error
    assert outcome["s2/alpha/stage1"].status == outcome["s2/alpha/stage1-fallback"].status == "error"
    assert outcome["s3"].status == "done"
    assert "writer" not in [r.agent for r in provider.requests]


async def test_a_pipeline_team_with_options_it_cannot_use_fails_only_its_step():
    # A team whose only member is a team: no agent can be a stage.
    empty = AgentSpec(
        name="alpha", role="alpha team", pattern="pipeline",
        team=TeamSpec(name="alpha", agents=(member("inner", "review", "i-one", "i-two"),)),
    )
    provider = ScriptedProvider(script())
    ran = await run(provider, pattern="hierarchical", team=org(empty, member("beta", "pipeline", "b-draft")))

    assert ran.finished.status == "completed", ran.finished.reason
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "no stages" in outcome["s2"].error
    assert outcome["s3"].status == "done"
    [error] = [e for e in ran.of("error") if e.error_type == "bad_request"]
    assert not error.fatal


async def test_two_review_teams_scope_their_steps_and_the_first_draft_gets_the_inputs():
    provider = ScriptedProvider(script({"a-review": APPROVE, "b-review": APPROVE}))
    team = org(member("alpha", "review", "a-write", "a-review"), member("beta", "review", "b-write", "b-review"))
    ran = await run(provider, pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    ids = step_ids(ran)
    assert len(ids) == len(set(ids))
    assert {i for i in ids if "/" in i} == {"s2/alpha/d0", "s2/alpha/r0", "s3/beta/d0", "s3/beta/r0"}
    review = next(e for e in ran.of("step.started") if e.step_id == "s2/alpha/r0")
    assert review.depends_on == ["s2/alpha/d0"]
    assert '<agent_output source="scout" step="s1"' in first_request(provider, "a-write").messages[-1].text
    assert '<agent_output source="a-write" step="s2/alpha/d0"' in first_request(provider, "a-review").messages[-1].text


async def test_a_stopped_review_loop_in_a_member_team_fails_only_its_step():
    provider = ScriptedProvider(script({"a-review": REJECT, "b-review": APPROVE}))
    team = org(member("alpha", "review", "a-write", "a-review"), member("beta", "review", "b-write", "b-review"))
    policy = ApprovalPolicy(default="approve", triggers={"reviewer_deadlock": "reject"})
    ran = await run(provider, pattern="hierarchical", team=team, policy=policy)

    assert ran.finished.status == "completed", ran.finished.reason
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "review loop was stopped" in outcome["s2"].error
    assert outcome["s3"].status == "done"


async def test_a_review_team_of_one_fails_only_its_step():
    provider = ScriptedProvider(script({"b-review": APPROVE}))
    team = org(member("alpha", "review", "a-alone"), member("beta", "review", "b-write", "b-review"))
    ran = await run(provider, pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "a producer and a reviewer" in outcome["s2"].error
    assert outcome["s3"].status == "done"
    assert "a-alone" not in [r.agent for r in provider.requests]

"""Discussion and mesh as member teams: scoped step ids, the step's inputs, failures kept to the step."""

from __future__ import annotations

from engine.agents import AgentSpec, TeamSpec
from engine.providers.base import ProviderError
from tests.helpers import ScriptedProvider, plan_of, run

RESEARCH = '<agent_output source="researcher" step="s1"'


def panel(*panelists: str) -> AgentSpec:
    agents = (AgentSpec(name="mod", role="moderator"), *(AgentSpec(name=n, role=f"{n} analyst") for n in panelists))
    return AgentSpec(
        name="panel", role="panel of analysts", pattern="discussion",
        team=TeamSpec(name="panel", lead="mod", agents=agents),
    )


def specialists(*peers: tuple[str, str]) -> AgentSpec:
    agents = tuple(AgentSpec(name=name, role=f"{name} engineer", capabilities=(cap,)) for name, cap in peers)
    return AgentSpec(
        name="specialists", role="team of specialists", pattern="mesh",
        team=TeamSpec(name="specialists", agents=agents),
    )


def org(*members: AgentSpec) -> TeamSpec:
    return TeamSpec(name="org", lead="lead", agents=(
        AgentSpec(name="lead", role="lead"), AgentSpec(name="researcher", role="researcher"), *members,
    ))


def scripted(plan: dict, *, failing: tuple[str, ...] = ()) -> ScriptedProvider:
    """The lead plans; the moderator agrees at once; api asks sql for databases help;
    whoever is in `failing` fails; everyone else says "<name> did it"."""

    def script(request):
        if request.agent in failing:
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        if request.tool is None:
            return f"{request.agent} did it"
        if request.agent == "lead":
            return plan
        if request.agent == "mod":
            return {"consensus": True, "agreement": 0.9, "summary": "agreed", "open_points": []}
        wanted = ["databases"] if request.agent == "api" else []
        return {"answer_myself": not wanted, "confidence": 0.9,
                "requests": [{"capability": c, "question": "which index?"} for c in wanted]}

    return ScriptedProvider(script)


def prompts(provider: ScriptedProvider, agent: str, *, structured: bool) -> list[str]:
    return [r.messages[-1].text for r in provider.requests if r.agent == agent and (r.tool is not None) == structured]


async def test_both_patterns_as_member_teams_scope_their_step_ids_and_get_their_steps_inputs():
    plan = plan_of(("s1", "researcher", []), ("s2", "panel", ["s1"]), ("s3", "specialists", ["s1"]))
    provider = scripted(plan)
    team = org(panel("pa", "pb"), specialists(("api", "api design"), ("sql", "databases")))
    ran = await run(provider, pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    started = [e.step_id for e in ran.of("step.started")]
    assert len(started) == len(set(started))
    assert [s for s in started if s.startswith("s2/")] == ["s2/panel/r1.1", "s2/panel/r1.2"]
    assert [s for s in started if s.startswith("s3/")] == ["s3/specialists/task", "s3/specialists/task.1"]
    assert {e.step_id for e in ran.of("step.finished") if e.status == "done"} == set(started)
    assert next(e for e in ran.of("call.started") if e.agent == "pa").step_id == "s2/panel/r1.1"
    # The research the step was handed reaches every call that works on the topic:
    # each speaker, the moderator's verdict (it used to miss it) and summary, the entry peer.
    for agent, structured in [("pa", 0), ("pb", 0), ("mod", 1), ("mod", 0), ("api", 1), ("api", 0)]:
        sent = prompts(provider, agent, structured=bool(structured))
        assert sent and all(RESEARCH in text for text in sent), (agent, structured)
    # A helper sees only the question it was asked.
    assert not any(RESEARCH in text for text in prompts(provider, "sql", structured=False))


async def test_a_member_team_without_panelists_fails_only_its_step():
    plan = plan_of(("s1", "researcher", []), ("s2", "panel", ["s1"]))
    ran = await run(scripted(plan), pattern="hierarchical", team=org(panel()))

    assert ran.finished.status == "completed"
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s1"].status == "done"
    assert outcome["s2"].status == "error" and "at least one panelist" in outcome["s2"].error
    [error] = ran.of("error")
    assert error.error_type == "bad_request" and not error.fatal


async def test_a_member_team_discussion_nobody_could_speak_in_fails_only_its_step():
    plan = plan_of(("s1", "researcher", []), ("s2", "panel", ["s1"]))
    ran = await run(scripted(plan, failing=("pa", "pb")), pattern="hierarchical", team=org(panel("pa", "pb")))

    assert ran.finished.status == "completed"
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error"
    assert "team panel: no panelist could contribute" in outcome["s2"].error
    assert ran.of("call.finished")[-1].agent == "lead"  # the top lead still writes the answer


async def test_a_member_team_mesh_it_cannot_work_with_fails_only_its_step():
    plan = plan_of(("s1", "researcher", []), ("s2", "specialists", ["s1"]))
    ran = await run(scripted(plan), pattern="hierarchical", team=org(specialists(("api", "api design"))))

    assert ran.finished.status == "completed"
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "at least two peers" in outcome["s2"].error
    [error] = ran.of("error")
    assert error.error_type == "bad_request" and not error.fatal

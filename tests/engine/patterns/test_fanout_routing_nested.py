"""Fan-out and routing as member teams: scoped step ids, the step's inputs, stops that fail only their step."""

from __future__ import annotations

from engine.agents import AgentSpec, TeamSpec
from engine.providers.base import ProviderError
from tests.helpers import ScriptedProvider, labels, plan_of, run

FROM_S1 = '<agent_output source="researcher" step="s1"'


def member(name: str, pattern: str, lead: str, *agents: str) -> AgentSpec:
    return AgentSpec(
        name=name, role=f"{name} team", pattern=pattern,
        team=TeamSpec(name=name, lead=lead, agents=tuple(AgentSpec(name=a, role=f"{a} role") for a in (lead, *agents))),
    )


def org(*members: AgentSpec) -> TeamSpec:
    return TeamSpec(name="org", lead="lead", agents=(
        AgentSpec(name="lead", role="lead"), AgentSpec(name="researcher", role="researcher"), *members,
    ))


def scripted(plan: dict, routes: dict[str, str], *, failing: tuple[str, ...] = ()) -> ScriptedProvider:
    """The lead returns `plan`; each router in `routes` routes confidently to its specialist; the rest write text."""

    def script(request):
        if request.agent == "lead" and request.tool is not None:
            return plan
        if request.tool is not None:
            return {"specialist": routes[request.agent], "reason": "it fits", "confidence": 0.9}
        if request.agent in failing:
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        return f"{request.agent} did it"

    return ScriptedProvider(script)


async def test_two_fanout_and_two_routing_member_teams_scope_their_steps_and_work_from_their_inputs():
    team = org(
        member("review", "fanout", "rev-lead", "rev-a", "rev-b"),
        member("audit", "fanout", "aud-lead", "aud-a"),
        member("support", "routing", "desk", "billing", "general"),
        member("helpdesk", "routing", "hd-router", "hd-tech"),
    )
    plan = plan_of(("s1", "researcher", []), *((f"s{n}", name, ["s1"]) for n, name in
                                                 enumerate(("review", "audit", "support", "helpdesk"), 2)))
    provider = scripted(plan, {"desk": "billing", "hd-router": "hd-tech"})
    ran = await run(provider, pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    started = {e.step_id: e for e in ran.of("step.started")}
    assert len(started) == len(ran.of("step.started")), "step ids must be unique in a session"
    assert set(started) == {
        "s1", "s2", "s3", "s4", "s5",
        "s2/review/c1", "s2/review/c2", "s2/review/synthesis",
        "s3/audit/c1", "s3/audit/c2", "s3/audit/synthesis",
        "s4/support/route", "s4/support/answer",
        "s5/helpdesk/route", "s5/helpdesk/answer",
    }
    assert started["s2/review/synthesis"].depends_on == ["s2/review/c1", "s2/review/c2"]
    assert {e.step_id for e in ran.of("step.finished") if e.status == "done"} == set(started)
    calls = {(e.agent, e.step_id) for e in ran.of("call.started")}
    assert {("rev-a", "s2/review/c1"), ("rev-lead", "s2/review/synthesis"), ("desk", "s4/support/route"),
            ("billing", "s4/support/answer"), ("hd-tech", "s5/helpdesk/answer")} <= calls

    # What the step was handed reaches every call that starts the team's work, as data.
    for agent in ("rev-a", "rev-b", "rev-lead", "aud-a", "aud-lead", "desk", "billing", "hd-router", "hd-tech"):
        first = next(r for r in provider.requests if r.agent == agent)
        assert FROM_S1 in first.messages[-1].text, agent
    synthesis = next(r for r in provider.requests if r.agent == "rev-lead").messages[-1].text
    assert '<agent_output source="rev-a" step="s2/review/c1"' in synthesis
    assert sorted((h.from_agent, h.to_agent, h.verdict) for h in ran.of("handoff")) == [
        ("desk", "billing", "accepted"), ("hd-router", "hd-tech", "accepted")]


async def test_a_stop_inside_a_fanout_or_routing_member_team_fails_only_its_step():
    team = org(
        member("review", "fanout", "rev-lead", "rev-a", "rev-b"),  # every part fails
        member("solo", "fanout", "solo-lead"),  # nobody to fan out to
        member("support", "routing", "desk", "billing"),  # routes to no one, with no general agent
    )
    plan = plan_of(("s1", "researcher", []), ("s2", "review", []), ("s3", "solo", []), ("s4", "support", []))
    ran = await run(scripted(plan, {"desk": "ghost"}, failing=("rev-a", "rev-b")), pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s1"].status == "done"
    assert outcome["s2"].status == "error" and "team review: all 2 parts failed" in outcome["s2"].error
    assert outcome["s3"].status == "error" and "no workers besides the synthesizer" in outcome["s3"].error
    assert outcome["s4"].status == "error" and "no specialist named 'ghost'" in outcome["s4"].error
    [escalation] = [e for e in ran.of("escalation.requested") if e.trigger == "invalid_output"]
    assert labels(escalation) == {"edit": "Choose a specialist", "reject": "Stop team support"}
    assert not any(e.fatal for e in ran.of("error"))
    lead_synthesis = next(e for e in ran.of("call.started") if e.span_id == "root/synthesis")
    assert "did not finish" in lead_synthesis.prompt

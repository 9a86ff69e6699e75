"""Specialist routing: the route taken, its fallbacks and escalations, and its stops."""

from __future__ import annotations

import asyncio

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.budgets import Limits
from engine.notes import RouteNote
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import ScriptedProvider, fields_of, labels, run

ROUTE = {"specialist": "security", "reason": "it is about who may log in", "confidence": 0.9}


def routed(route, *, failing=()):
    """A script: the router returns `route`; a failing agent's call fails for good; others answer."""

    def script(request):
        if request.tool is not None:
            return route
        if request.agent in failing:
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        return f"{request.agent} answers"

    return script


def answering(gate, *decisions):
    """An on_event hook that answers each human escalation with the next decision."""
    queue = iter(decisions)

    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, next(queue))

    return hook


def notes(ran):
    return [fields_of(e) for e in ran.of(RouteNote)]


def answerers(provider):
    return [r.agent for r in provider.requests if r.tool is None]


async def test_confident_route_sends_the_whole_task_to_that_specialist():
    provider = ScriptedProvider(routed(ROUTE))
    ran = await run(provider, pattern="routing", task="Our admins cannot log in since the SSO change")

    assert ran.finished.status == "completed"
    assert ran.finished.result == "security answers"
    assert answerers(provider) == ["security"]
    steps = {e.step_id: e.seq for e in ran.of("step.started")}
    done = {e.step_id: e.seq for e in ran.of("step.finished")}
    assert done["route"] < steps["answer"]
    assert notes(ran) == [{**ROUTE, "outcome": "routed", "handled_by": "security", "cause": None}]
    handoff = ran.of("handoff")[0]
    assert (handoff.from_agent, handoff.to_agent, handoff.verdict) == ("router", "security", "accepted")
    # The specialist gets the task, and the router's reason only as labelled data.
    prompt = provider.requests[-1].messages[-1].text
    assert "Our admins cannot log in" in prompt
    assert prompt.index('<agent_output source="router"') < prompt.index("it is about who may log in")


async def test_router_sees_every_specialist_with_role_and_capabilities():
    provider = ScriptedProvider(routed(ROUTE))
    await run(provider, pattern="routing")

    router = provider.requests[0]
    assert router.agent == "router" and router.tool is not None
    assert set(router.tool.input_schema["properties"]) == {"specialist", "reason", "confidence"}
    prompt = router.messages[-1].text
    for line in ("- billing: billing specialist (invoices", "- technical: technical support engineer",
                 "- security: security engineer", "- data: data analyst (sql"):
        assert line in prompt
    assert "- router:" not in prompt and "- general:" not in prompt
    assert "If none of them fits, choose general" in prompt


async def test_unknown_specialist_goes_to_the_general_agent():
    provider = ScriptedProvider(routed({**ROUTE, "specialist": "ghost", "confidence": 0.95}))
    ran = await run(provider, pattern="routing")

    assert ran.finished.status == "completed"
    assert answerers(provider) == ["general"]
    [note] = notes(ran)
    assert (note["outcome"], note["handled_by"], note["cause"]) == ("fallback", "general", "unknown_specialist")
    invalid = [h for h in ran.of("handoff") if h.verdict == "invalid"]
    assert invalid and "no specialist named 'ghost'" in invalid[0].error
    assert not ran.of("escalation.requested")
    # The task goes to the general agent under a route that names it (it used to name 'ghost').
    [accepted] = [h for h in ran.of("handoff") if h.verdict == "accepted"]
    assert (accepted.to_agent, accepted.payload["specialist"]) == ("general", "general")


async def test_router_choosing_the_general_agent_is_a_plain_route():
    provider = ScriptedProvider(routed({**ROUTE, "specialist": "general", "confidence": 0.3}))
    ran = await run(provider, pattern="routing", policy=ApprovalPolicy(default="reject"))
    assert answerers(provider) == ["general"]
    assert notes(ran)[0]["outcome"] == "routed"
    assert not ran.of("escalation.requested")


async def test_doubtful_route_escalates_and_approval_keeps_it():
    provider = ScriptedProvider(routed({**ROUTE, "confidence": 0.4}))
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ran = await run(provider, pattern="routing", gate=gate, policy=gate.policy,
                    on_event=answering(gate, Decision("approve")))

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "low_confidence" and "40%" in escalation.reason
    assert labels(escalation) == {
        "approve": "Send it to security", "edit": "Choose another specialist", "reject": "Send it to general",
    }
    assert [n["outcome"] for n in notes(ran)] == ["escalated", "approved"]
    assert [h.verdict for h in ran.of("handoff")] == ["low_confidence", "accepted"]
    assert answerers(provider) == ["security"]
    # The answer waits for the decision.
    assert ran.of("escalation.resolved")[0].seq < ran.of("step.started")[-1].seq


async def test_edit_picks_another_specialist_and_a_bad_edit_is_refused():
    provider = ScriptedProvider(routed({**ROUTE, "confidence": 0.4}))
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    refused = []

    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            with pytest.raises(DecisionError) as error:
                gate.resolve(event.escalation_id, Decision("edit", edited={"specialist": "ghost"}))
            refused.append(str(error.value))
            asyncio.get_running_loop().call_soon(
                gate.resolve, event.escalation_id, Decision("edit", edited={"specialist": "data"})
            )

    ran = await run(provider, pattern="routing", gate=gate, policy=gate.policy, on_event=hook)
    assert refused and "must be one of billing, technical, security, data" in refused[0]
    assert answerers(provider) == ["data"]
    assert notes(ran)[-1] == {**ROUTE, "confidence": 0.4, "outcome": "edited", "handled_by": "data", "cause": None}
    assert ran.of("handoff")[-1].to_agent == "data"


async def test_rejecting_a_doubtful_route_sends_it_to_the_general_agent():
    provider = ScriptedProvider(routed({**ROUTE, "confidence": 0.4}))
    ran = await run(provider, pattern="routing", policy=ApprovalPolicy(default="reject"))

    assert ran.finished.status == "completed"
    assert answerers(provider) == ["general"]
    assert notes(ran)[-1]["cause"] == "rejected" and notes(ran)[-1]["handled_by"] == "general"


async def test_on_low_confidence_general_skips_the_escalation():
    provider = ScriptedProvider(routed({**ROUTE, "confidence": 0.4}))
    ran = await run(provider, pattern="routing", options={"on_low_confidence": "general"})

    assert not ran.of("escalation.requested")
    assert answerers(provider) == ["general"]
    assert notes(ran)[0]["cause"] == "low_confidence"
    assert [(h.to_agent, h.payload["specialist"], h.verdict) for h in ran.of("handoff")] == [
        ("general", "general", "accepted")]


async def test_min_confidence_option_overrides_the_policy_threshold():
    provider = ScriptedProvider(routed(ROUTE))  # 90% sure
    ran = await run(provider, pattern="routing", options={"min_confidence": 0.95})
    assert ran.of("escalation.requested")[0].trigger == "low_confidence"

    relaxed = await run(ScriptedProvider(routed({**ROUTE, "confidence": 0.5})), pattern="routing",
                        options={"min_confidence": 0.4})
    assert not relaxed.of("escalation.requested")


async def test_malformed_router_output_falls_back_to_the_general_agent():
    provider = SimulatedProvider(seed=3, speed=0, faults=parse_faults("malformed@router"))
    ran = await run(provider, pattern="routing")

    failed = [e for e in ran.of("call.failed") if e.agent == "router"]
    assert failed[-1].final and failed[-1].error_type == "invalid_output"
    [note] = notes(ran)
    assert (note["outcome"], note["handled_by"], note["cause"]) == ("fallback", "general", "router_failed")
    assert [e.assigned_to for e in ran.of("step.started")] == ["router", "general"]
    assert ran.finished.status == "completed"


async def test_low_confidence_fault_escalates_the_simulated_route():
    provider = SimulatedProvider(seed=4, speed=0, faults=parse_faults("low_confidence@router"))
    ran = await run(provider, pattern="routing")

    assert ran.of("escalation.requested")[0].trigger == "low_confidence"
    assert [n["outcome"] for n in notes(ran)] == ["escalated", "approved"]
    assert ran.finished.status == "completed"


async def test_a_failing_specialist_hands_the_task_to_the_general_agent():
    provider = ScriptedProvider(routed(ROUTE, failing=("security",)))
    ran = await run(provider, pattern="routing")

    assert ran.finished.status == "completed"
    assert ran.finished.result == "general answers"
    outcome = {e.step_id: e.status for e in ran.of("step.finished")}
    assert outcome == {"route": "done", "answer": "error", "answer:general": "done"}
    assert notes(ran)[-1]["cause"] == "specialist_failed"


async def test_a_failing_general_agent_fails_the_session_with_the_route_kept():
    provider = ScriptedProvider(routed({**ROUTE, "specialist": "general"}, failing=("general",)))
    ran = await run(provider, pattern="routing")
    assert ran.finished.status == "failed" and ran.finished.partial
    assert "route · router" in ran.finished.result


def _team_without_general() -> TeamSpec:
    return TeamSpec(
        name="small", lead="router",
        agents=(
            AgentSpec(name="router", role="router"),
            AgentSpec(name="billing", role="billing specialist"),
            AgentSpec(name="technical", role="technical support engineer"),
        ),
    )


@pytest.mark.parametrize("mode", ["approve", "reject"])
async def test_without_a_general_agent_an_unknown_route_escalates_and_stops_unless_edited(mode):
    provider = ScriptedProvider(routed({**ROUTE, "specialist": "ghost"}))
    ran = await run(provider, pattern="routing", team=_team_without_general(), policy=ApprovalPolicy(default=mode))

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "invalid_output" and escalation.options == ["edit", "reject"]
    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "no specialist named 'ghost' and none was chosen instead" in ran.finished.reason
    assert answerers(provider) == []


async def test_without_a_general_agent_rejecting_a_doubtful_route_stops():
    provider = ScriptedProvider(routed({**ROUTE, "specialist": "billing", "confidence": 0.4}))
    ran = await run(provider, pattern="routing", team=_team_without_general(), policy=ApprovalPolicy(default="reject"))

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "low_confidence" and labels(escalation)["reject"] == "Stop the session"
    assert ran.finished.status == "stopped" and "route to billing rejected" in ran.finished.reason
    assert notes(ran)[-1]["outcome"] == "stopped" and answerers(provider) == []


async def test_without_a_general_agent_an_edit_chooses_the_specialist():
    provider = ScriptedProvider(routed({**ROUTE, "specialist": "ghost"}))
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ran = await run(provider, pattern="routing", team=_team_without_general(), gate=gate, policy=gate.policy,
                    on_event=answering(gate, Decision("edit", edited={"specialist": "billing"})))
    assert answerers(provider) == ["billing"]
    assert ran.finished.status == "completed"


async def test_a_team_without_specialists_sends_everything_to_the_general_agent():
    team = TeamSpec(name="tiny", agents=(AgentSpec(name="router", role="router"), AgentSpec(name="general", role="generalist")))
    provider = ScriptedProvider(routed(ROUTE))
    ran = await run(provider, pattern="routing", team=team)
    assert [r.agent for r in provider.requests] == ["general"]  # no lead named: the first agent routes
    assert notes(ran)[0]["cause"] == "no_specialists"


async def test_a_named_general_agent_must_be_on_the_team():
    ran = await run(ScriptedProvider(routed(ROUTE)), pattern="routing", options={"general": "nobody"})
    assert ran.finished.status == "failed"
    assert "no agent named 'nobody'" in ran.finished.reason


async def test_turn_budget_stops_with_the_route_as_partial_result():
    ran = await run(
        ScriptedProvider(routed(ROUTE)), pattern="routing",
        policy=ApprovalPolicy(default="reject"), limits=Limits(turns=1),
    )
    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "turns budget" in ran.finished.reason
    assert "route · router" in ran.finished.result and "security (90%)" in ran.finished.result
    assert [e.step_id for e in ran.of("step.started")] == ["route"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_default_demo_completes_and_routes_the_demo_task_to_technical(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="routing", seed=seed)
    assert ran.finished.status == "completed"
    assert ran.finished.result.startswith("## ")
    [note] = notes(ran)
    assert note["outcome"] == "routed" and note["handled_by"] == "technical"
    assert "technical" in note["reason"]


@pytest.mark.parametrize(
    ("task", "specialist"),
    [
        ("I was charged twice on my last invoice and want a refund", "billing"),
        ("Build a dashboard of weekly metrics from our SQL warehouse", "data"),
        ("Someone reported a vulnerability in our authentication flow", "security"),
    ],
)
async def test_the_simulated_router_matches_the_task_to_capabilities(task, specialist):
    ran = await run(SimulatedProvider(seed=5, speed=0), pattern="routing", task=task)
    assert notes(ran)[0]["handled_by"] == specialist


def test_headless_cli_runs_the_routing_pattern(capsys):
    from tui.cli import main

    code = main(["run", "--headless", "--pattern", "routing", "--approve", "approve", "--speed", "0",
                 "--seed", "2", "My invoice shows a charge I do not recognise"])
    out = capsys.readouterr().out
    assert code == 0
    assert "· router route: → billing" in out
    assert "result (completed)" in out

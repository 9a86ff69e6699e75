"""Moderated discussion: turn order, what each panelist sees, the verdicts, each way it stops."""

from __future__ import annotations

import re

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.budgets import Limits
from engine.notes import AbsentNote, DiscussionNote, RoundNote
from engine.patterns import get_pattern
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import ScriptedProvider, fields_of, run

PANEL = ["security", "product", "sre"]


def verdict(consensus, agreement=0.8, open_points=()):
    return {
        "consensus": consensus, "agreement": agreement, "summary": f"consensus={consensus}",
        "open_points": list(open_points),
    }


def round_of(request):
    found = re.search(r"round:(\d+)", request.call_key)
    return int(found.group(1)) if found else None


def panel(verdicts=None, *, failing=(), failing_verdicts=()):
    """A script: the moderator's verdict for round n is verdicts[n - 1] (no consensus by
    default); a panelist says "<agent> in round <n>"; the summary is "SUMMARY"."""
    verdicts = verdicts or []

    def script(request):
        n = round_of(request)
        if request.agent in failing:
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        if request.tool is not None:
            if n in failing_verdicts:
                return ProviderError("auth", "invalid API key", retryable=False, status=401)
            return verdicts[n - 1] if n <= len(verdicts) else verdict(False, open_points=["who owns it"])
        if request.agent == "moderator":
            return "SUMMARY"
        return f"{request.agent} in round {n}"

    return script


def notes(ran, kind):
    return [fields_of(n) for n in ran.of(kind)]


def spoken(ran):
    return [e.title for e in ran.of("step.started")]


async def test_panelists_speak_one_at_a_time_each_seeing_the_discussion_so_far():
    provider = ScriptedProvider(panel([verdict(False, 0.4, ["cost"]), verdict(True, 0.9)]), delay=0.01)
    ran = await run(provider, pattern="discussion", task="Should we adopt GraphQL? TOPIC-MARKER")

    assert ran.finished.status == "completed"
    assert ran.finished.result == "SUMMARY"
    # Rotating order: whoever spoke first in round 1 speaks last in round 2.
    assert spoken(ran) == [
        "round 1: security", "round 1: product", "round 1: sre",
        "round 2: product", "round 2: sre", "round 2: security",
    ]
    started, finished = ran.of("step.started"), ran.of("step.finished")
    for done, following in zip(finished, started[1:]):
        assert done.seq < following.seq  # no one speaks while another is speaking
    verdict_calls = [e for e in ran.of("call.started") if e.structured]
    assert verdict_calls[0].seq > finished[2].seq and verdict_calls[1].seq > finished[5].seq

    prompts = {(round_of(r), r.agent): r.messages[-1].text for r in provider.requests if r.tool is None}
    assert "<agent_output" not in prompts[(1, "security")] and "You speak first" in prompts[(1, "security")]
    assert '<agent_output source="security"' in prompts[(1, "product")]
    assert "security in round 1" in prompts[(1, "sre")] and "product in round 1" in prompts[(1, "sre")]
    round_two = prompts[(2, "product")]
    assert "sre in round 1" in round_two and '<agent_output source="moderator"' in round_two
    assert "- cost" in round_two  # the moderator's open points reach the next round
    assert all("TOPIC-MARKER" in prompt for prompt in prompts.values())
    assert all("in round" not in r.system for r in provider.requests)  # never in a system prompt

    rounds = notes(ran, RoundNote)
    assert [(r["round"], r["consensus"], r["agreement"]) for r in rounds] == [(1, False, 0.4), (2, True, 0.9)]
    assert rounds[0]["open_points"] == ["cost"] and rounds[0]["speakers"] == PANEL
    assert notes(ran, DiscussionNote) == [{"stopped": "consensus", "rounds": 2}]
    summary = next(r for r in provider.requests if r.agent == "moderator" and r.tool is None)
    assert "reached consensus after 2 rounds" in summary.messages[-1].text
    assert ran.finished.turns == 6


async def test_round_limit_without_consensus_is_not_an_error_and_the_summary_says_so():
    provider = ScriptedProvider(panel())
    ran = await run(provider, pattern="discussion", options={"max_rounds": 2, "order": "fixed"})

    assert ran.finished.status == "completed" and not ran.finished.partial
    assert spoken(ran) == [f"round {n}: {agent}" for n in (1, 2) for agent in PANEL]
    assert [r["consensus"] for r in notes(ran, RoundNote)] == [False, False]
    assert notes(ran, DiscussionNote) == [{"stopped": "round_limit", "rounds": 2}]
    summary = provider.requests[-1]
    assert summary.agent == "moderator" and "did not reach consensus within 2 rounds" in summary.messages[-1].text
    assert "where it still disagrees" in summary.messages[-1].text


async def test_consensus_in_the_first_round_stops_at_once():
    ran = await run(ScriptedProvider(panel([verdict(True)])), pattern="discussion", options={"max_rounds": 5})
    assert len(ran.of("step.started")) == 3
    assert notes(ran, DiscussionNote) == [{"stopped": "consensus", "rounds": 1}]


async def test_a_failing_panelist_sits_the_round_out_and_the_others_go_on():
    provider = ScriptedProvider(panel([verdict(True)], failing=("product",)))
    ran = await run(provider, pattern="discussion")

    assert ran.finished.status == "completed"
    outcome = {e.step_id: (e.agent, e.status) for e in ran.of("step.finished")}
    assert outcome == {"r1.1": ("security", "done"), "r1.2": ("product", "error"), "r1.3": ("sre", "done")}
    [absent] = ran.of(AbsentNote)
    assert absent.agent == "product" and absent.round == 1 and "invalid API key" in absent.error
    assert notes(ran, RoundNote)[0]["speakers"] == ["security", "sre"]
    sre = next(r for r in provider.requests if r.agent == "sre")
    assert '<agent_output source="product"' not in sre.messages[-1].text


async def test_a_failed_verdict_counts_as_no_consensus_and_the_discussion_goes_on():
    provider = ScriptedProvider(panel([verdict(True), verdict(True)], failing_verdicts=(1,)))
    ran = await run(provider, pattern="discussion")

    rounds = notes(ran, RoundNote)
    assert rounds[0]["consensus"] is False and rounds[0]["agreement"] is None
    assert "invalid API key" in rounds[0]["error"]
    assert rounds[1]["consensus"] is True and rounds[1]["error"] is None
    assert notes(ran, DiscussionNote) == [{"stopped": "consensus", "rounds": 2}]
    assert ran.finished.status == "completed"


async def test_when_no_panelist_can_speak_the_session_fails_clearly():
    ran = await run(ScriptedProvider(panel(failing=tuple(PANEL))), pattern="discussion")
    assert ran.finished.status == "failed"
    assert "no panelist could contribute" in ran.finished.reason
    assert not [e for e in ran.of("call.started") if e.agent == "moderator"]


async def test_the_reject_fault_keeps_the_simulated_panel_from_agreeing_until_the_round_limit():
    provider = SimulatedProvider(seed=3, speed=0, faults=parse_faults("reject@moderator"))
    ran = await run(provider, pattern="discussion", task="Should we move our monolith to microservices?")

    rounds = notes(ran, RoundNote)
    assert [r["consensus"] for r in rounds] == [False, False, False]
    assert all(r["agreement"] < 0.5 for r in rounds)
    assert notes(ran, DiscussionNote) == [{"stopped": "round_limit", "rounds": 3}]
    assert ran.finished.status == "completed"


async def test_a_panelist_that_keeps_failing_trips_the_breaker_and_keeps_what_was_said():
    provider = SimulatedProvider(seed=1, speed=0, faults=parse_faults("overload@sre,reject@moderator"))
    ran = await run(provider, pattern="discussion")

    assert ran.finished.status == "failed" and ran.finished.partial
    assert "circuit breaker" in ran.finished.reason
    assert [e.trigger for e in ran.of("escalation.requested")][:1] == ["repeated_failure"]
    assert "round 1 · security" in ran.finished.result and "round 1 · moderator's verdict" in ran.finished.result


async def test_a_turn_budget_stops_the_discussion_with_what_was_said():
    ran = await run(
        ScriptedProvider(panel()), pattern="discussion",
        limits=Limits(turns=4), policy=ApprovalPolicy(default="approve", triggers={"budget": "reject"}),
    )
    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "turns budget" in ran.finished.reason
    assert len(ran.of("step.started")) == 4
    assert "round 1 · sre" in ran.finished.result and "round 2 · product" in ran.finished.result


async def test_a_team_without_panelists_fails_clearly():
    alone = TeamSpec(name="solo", lead="moderator", agents=(AgentSpec(name="moderator", role="moderator"),))
    ran = await run(ScriptedProvider(panel()), pattern="discussion", team=alone)
    assert ran.finished.status == "failed"
    assert "at least one panelist" in ran.finished.reason


@pytest.mark.parametrize("raw", [{"max_rounds": 0}, {"max_rounds": 11}, {"order": "random"}, {"rounds": 2}])
def test_bad_options_are_refused(raw):
    with pytest.raises(ValueError, match=next(iter(raw))):
        get_pattern("discussion").parse_options(raw)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_default_demo_completes(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="discussion")

    assert ran.finished.status == "completed"
    assert ran.finished.result.startswith("## ")
    rounds = notes(ran, RoundNote)
    [ending] = notes(ran, DiscussionNote)
    assert ending["rounds"] == len(rounds) and 1 <= len(rounds) <= 3
    assert (ending["stopped"] == "consensus") == rounds[-1]["consensus"]
    assert all(0 <= r["agreement"] <= 1 for r in rounds)
    team = get_pattern("discussion").team()
    assert team.get("moderator").model != team.get("security").model  # the moderator is the stronger model


def test_headless_cli_runs_the_discussion(capsys):
    from tui.cli import main

    code = main(["run", "--headless", "--pattern", "discussion", "--approve", "approve", "--speed", "0",
                 "--seed", "1", "Should we move our monolith to microservices?"])
    out = capsys.readouterr().out
    assert code == 0
    assert "▶ security r1.1: round 1: security" in out
    assert "· moderator round: round 1:" in out and "· moderator discussion: discussion ends:" in out
    assert "result (completed)" in out

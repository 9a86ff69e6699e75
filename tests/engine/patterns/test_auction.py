"""Auction: concurrent bids, the award rule, lots in parallel, no-bid escalations, fallbacks, stops."""

from __future__ import annotations

import asyncio
import re

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.budgets import Limits
from engine.notes import AwardNote, BidNote, LotsNote
from engine.patterns import get_pattern
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import ScriptedProvider, fields_of, labels, run

TASK = "Design a rate limiter for our public REST API"
BIDDERS = ["researcher", "engineer", "writer", "architect"]
BROKEN = ProviderError("auth", "invalid API key", retryable=False, status=401)


def bid(capability, cost, willing=True):
    return {"willing": willing, "capability": capability, "cost_estimate": cost, "rationale": "because"}


# cost / capability: researcher 2.0, engineer 1.0, writer 0.5, architect 2.0
PRICES = {"researcher": bid(0.5, 1.0), "engineer": bid(0.8, 0.8), "writer": bid(0.4, 0.2), "architect": bid(0.9, 1.8)}


def lot_of(request):
    found = re.search(r"lot:(\d+)", request.call_key)
    return int(found.group(1)) if found else None


def market(bids=None, *, split=None, failing_bids=(), failing_work=(), failing_split=False):
    """A script: bidder `a` bids bids[(lot, a)] or bids[a] or PRICES[a]; the auctioneer splits
    into `split` lots of {title, instructions}; work returns "<agent> did lot <n>"; the
    combination is "COMBINED". Bids in failing_bids ((lot, agent)) and work by agents in
    failing_work fail for good."""
    bids = bids or {}

    def script(request):
        n, agent = lot_of(request), request.agent
        if request.tool is not None and agent == "auctioneer":
            if failing_split:
                return BROKEN
            return {"lots": split or [{"title": "Everything", "instructions": "all of it"}]}
        if request.tool is not None:
            if (n, agent) in failing_bids:
                return BROKEN
            return bids.get((n, agent), bids.get(agent, PRICES[agent]))
        if "/combine" in request.call_key:
            return "COMBINED"
        return BROKEN if agent in failing_work else f"{agent} did lot {n}"

    return script


def notes(ran, kind):
    return [fields_of(n) for n in ran.of(kind)]


def bids_of(ran):
    """Each bid's fields, with the bidder (the note's agent) as "agent"."""
    return [{"agent": n.agent, **fields_of(n)} for n in ran.of(BidNote)]


def answering(gate, decide):
    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decide(event))

    return hook


async def test_bids_come_in_at_once_and_the_lowest_cost_per_capability_wins():
    provider = ScriptedProvider(market(), delay=0.02)
    ran = await run(provider, pattern="auction", options={"lots": ["LOT-ONE: write the limiter"]})

    assert ran.finished.status == "completed"
    assert ran.finished.result == "writer did lot 1"  # one lot: the winner's result is the answer
    bid_calls = [e for e in ran.of("call.started") if "/bid:" in e.span_id]
    bid_done = [e for e in ran.of("call.finished") if "/bid:" in e.span_id]
    assert len(bid_calls) == 4 and max(e.seq for e in bid_calls) < min(e.seq for e in bid_done)

    bids = {b["agent"]: b for b in bids_of(ran)}
    assert set(bids) == set(BIDDERS) and all(b["valid"] and b["reason"] is None for b in bids.values())
    assert bids["writer"]["score"] == pytest.approx(0.5) and bids["engineer"]["cost"] == 0.8
    [award] = notes(ran, AwardNote)
    assert award == {"lot": 1, "title": "LOT-ONE: write the limiter", "winner": "writer", "score": pytest.approx(0.5),
                     "via": "bid", "reason": None}
    [step] = ran.of("step.started")
    assert (step.step_id, step.assigned_to) == ("lot1", "writer") and step.seq > max(e.seq for e in bid_done)
    work = next(r for r in provider.requests if r.agent == "writer" and r.tool is None)
    assert "LOT-ONE: write the limiter" in work.messages[-1].content
    assert notes(ran, LotsNote) == [{"lots": [{"lot": 1, "title": "LOT-ONE: write the limiter"}], "source": "options"}]
    assert not [r for r in provider.requests if r.agent == "auctioneer"]
    assert ran.finished.turns == 5


async def test_invalid_bids_are_noted_with_their_reason_and_never_win():
    bids = {"researcher": bid(0.5, 0.0), "engineer": bid(0.9, 0.01, willing=False), "architect": bid(0.1, 0.01)}
    ran = await run(ScriptedProvider(market(bids)), pattern="auction", options={"lots": ["x"], "min_capability": 0.2})

    reasons = {b["agent"]: (b["valid"], b["reason"], b["score"]) for b in bids_of(ran)}
    assert reasons == {
        "researcher": (False, "a cost estimate must be more than zero", None),
        "engineer": (False, "declined", None),
        "writer": (True, None, pytest.approx(0.5)),
        "architect": (False, "capability 0.10 is not above the minimum 0.20", None),
    }
    assert notes(ran, AwardNote)[0]["winner"] == "writer"


async def test_a_tie_goes_to_the_name_that_sorts_first():
    bids = {"researcher": bid(0.5, 0.1), "architect": bid(1.0, 0.2), "writer": bid(0.5, 1.0)}
    ran = await run(ScriptedProvider(market(bids)), pattern="auction", options={"lots": ["x"]})
    assert notes(ran, AwardNote)[0]["winner"] == "architect"


async def test_bids_and_scores_under_a_dollar_show_as_money():
    bids = {"writer": bid(0.8, 0.004), "engineer": bid(0.5, 0.004)}
    ran = await run(ScriptedProvider(market(bids)), pattern="auction", options={"lots": ["x"]})

    texts = {n.agent: n.text for n in ran.of(BidNote)}
    assert texts["writer"] == "lot 1: writer bids capability 0.80, $0.0040 → $0.0050 per unit"
    [award] = [n.text for n in ran.of(AwardNote)]
    assert award == "lot 1 → writer (lowest cost per unit, $0.0050)"


async def test_a_bidder_whose_call_fails_has_no_bid_and_the_auction_goes_on():
    ran = await run(ScriptedProvider(market(failing_bids={(1, "writer")})), pattern="auction", options={"lots": ["x"]})
    writer = next(b for b in bids_of(ran) if b["agent"] == "writer")
    assert writer["valid"] is False and writer["willing"] is None and "no bid: invalid API key" in writer["reason"]
    assert notes(ran, AwardNote)[0]["winner"] == "engineer"
    assert ran.finished.status == "completed"


async def test_the_auctioneer_splits_the_task_lots_run_at_once_and_it_combines_them():
    split = [
        {"title": "Research", "instructions": "find prior art"},
        {"title": "research", "instructions": "the same again"},
        {"title": "Build", "instructions": "write the code"},
    ]
    bids = {(2, "engineer"): bid(0.9, 0.1)}
    provider = ScriptedProvider(market(bids, split=split), delay=0.02)
    ran = await run(provider, pattern="auction", task=TASK)

    [lots] = notes(ran, LotsNote)
    assert lots == {"lots": [{"lot": 1, "title": "Research"}, {"lot": 2, "title": "Build"}], "source": "auctioneer"}
    awards = {a["lot"]: a["winner"] for a in notes(ran, AwardNote)}
    assert awards == {1: "writer", 2: "engineer"}
    started = {e.step_id: e.seq for e in ran.of("step.started")}
    finished = {e.step_id: e.seq for e in ran.of("step.finished")}
    assert max(started.values()) < min(finished.values())  # the lots are worked on at the same time
    combine = provider.requests[-1]
    assert combine.agent == "auctioneer" and "/combine" in combine.call_key
    data = combine.messages[-1].context
    assert '<agent_output source="writer" step="lot1" title="Research">\nwriter did lot 1' in data
    assert "engineer did lot 2" in data
    assert "did lot" not in combine.messages[-1].content
    assert ran.finished.result == "COMBINED"


@pytest.mark.parametrize("failing_split", [False, True])
async def test_a_task_that_does_not_split_is_auctioned_whole(failing_split):
    ran = await run(ScriptedProvider(market(failing_split=failing_split)), pattern="auction", task=TASK)

    [lots] = notes(ran, LotsNote)
    assert lots == {"lots": [{"lot": 1, "title": TASK}], "source": "whole_task"}
    assert ran.finished.result == "writer did lot 1"
    assert ran.finished.status == "completed"


async def test_no_valid_bid_approved_goes_to_the_auctioneer():
    ran = await run(ScriptedProvider(market({a: bid(0.5, 1.0, willing=False) for a in BIDDERS})),
                    pattern="auction", options={"lots": ["x"]})

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "no_bid" and "4 declined" in escalation.reason
    assert labels(escalation) == {
        "approve": "Give the lot to auctioneer", "edit": "Assign a bidder", "reject": "Fail the lot",
    }
    awards = notes(ran, AwardNote)
    assert awards[0]["winner"] is None and "4 declined" in awards[0]["reason"]
    assert (awards[1]["winner"], awards[1]["via"]) == ("auctioneer", "auctioneer")
    assert ran.finished.result == "auctioneer did lot 1"


async def test_no_valid_bid_edited_assigns_the_chosen_bidder_and_bad_choices_are_refused():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    refused = []

    def decide(event):
        for bad in ({"agent": "ghost"}, {"agent": "auctioneer"}, {"agent": 3}, {"who": "engineer"}):
            try:
                gate.resolve(event.escalation_id, Decision("edit", edited=bad))
            except DecisionError as error:
                refused.append(str(error))
        return Decision("edit", edited={**event.payload, "agent": "engineer"})

    ran = await run(
        ScriptedProvider(market({a: bid(0.0, 1.0) for a in BIDDERS})), pattern="auction", options={"lots": ["x"]},
        gate=gate, policy=gate.policy, on_event=answering(gate, decide),
    )
    assert len(refused) == 4 and "one of the bidders: researcher, engineer, writer, architect" in refused[0]
    assert notes(ran, AwardNote)[-1]["via"] == "chosen"
    assert ran.finished.result == "engineer did lot 1"


async def test_no_valid_bid_rejected_fails_that_lot_and_the_others_are_combined():
    bids = {(1, a): bid(0.5, 1.0, willing=False) for a in BIDDERS}
    provider = ScriptedProvider(market(bids))
    ran = await run(provider, pattern="auction", options={"lots": ["first", "second"]},
                    policy=ApprovalPolicy(default="approve", triggers={"no_bid": "reject"}))

    outcome = {e.step_id: e.status for e in ran.of("step.finished")}
    assert outcome == {"lot1": "error", "lot2": "done"}
    assert ran.finished.status == "completed"
    combine = provider.requests[-1].messages[-1]
    assert "These lots did not finish" in combine.content
    assert "- lot 1 (first): lot 1 failed: no valid bid" in combine.content


async def test_when_every_lot_fails_the_session_fails_clearly():
    ran = await run(ScriptedProvider(market({a: bid(0.5, 1.0, willing=False) for a in BIDDERS})),
                    pattern="auction", options={"lots": ["first", "second"]}, policy=ApprovalPolicy(default="reject"))
    assert ran.finished.status == "failed"
    reason = ran.finished.reason
    assert "every lot failed" in reason and "lot 1:" in reason and "lot 2:" in reason


async def test_a_winner_that_fails_hands_the_lot_to_the_next_best_bid():
    ran = await run(ScriptedProvider(market(failing_work=("writer",))), pattern="auction", options={"lots": ["x"]})

    awards = [(a["winner"], a["via"]) for a in notes(ran, AwardNote)]
    assert awards == [("writer", "bid"), ("engineer", "runner_up")]
    assert "writer could not do it" in notes(ran, AwardNote)[1]["reason"]
    assert [(e.step_id, e.agent, e.status) for e in ran.of("step.finished")] == [
        ("lot1", "writer", "error"), ("lot1.2", "engineer", "done"),
    ]
    assert ran.finished.result == "engineer did lot 1"


async def test_a_token_budget_stops_before_the_combination_and_keeps_the_lots():
    ran = await run(ScriptedProvider(market()), pattern="auction", options={"lots": ["first", "second"]},
                    limits=Limits(tokens=1500), policy=ApprovalPolicy(default="approve", triggers={"budget": "reject"}))
    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "tokens budget" in ran.finished.reason
    assert "writer did lot 1" in ran.finished.result and "writer did lot 2" in ran.finished.result


async def test_a_high_minimum_capability_leaves_the_simulated_lots_to_the_auctioneer():
    ran = await run(SimulatedProvider(seed=2, speed=0), pattern="auction", task=TASK, options={"min_capability": 0.99})

    lots = notes(ran, LotsNote)[0]["lots"]
    escalations = ran.of("escalation.requested")
    assert len(escalations) == len(lots) and {e.trigger for e in escalations} == {"no_bid"}
    assert {a["winner"] for a in notes(ran, AwardNote) if a["winner"]} == {"auctioneer"}
    assert ran.finished.status == "completed"


async def test_a_malformed_bidder_makes_no_bid_and_the_simulated_auction_completes():
    provider = SimulatedProvider(seed=5, speed=0, faults=parse_faults("malformed@architect"))
    ran = await run(provider, pattern="auction", task=TASK)

    architect = [b for b in bids_of(ran) if b["agent"] == "architect"]
    assert architect and all(not b["valid"] and b["reason"].startswith("no bid:") for b in architect)
    assert all(a["winner"] != "architect" for a in notes(ran, AwardNote))
    assert ran.finished.status == "completed"


async def test_a_team_without_bidders_fails_clearly():
    alone = TeamSpec(name="solo", lead="auctioneer", agents=(AgentSpec(name="auctioneer", role="auctioneer"),))
    provider = ScriptedProvider(market())
    ran = await run(provider, pattern="auction", team=alone)
    assert ran.finished.status == "failed" and "at least one bidder" in ran.finished.reason
    [error] = ran.of("error")
    assert error.error_type == "bad_request" and error.fatal and "at least one bidder" in error.message
    assert not provider.requests


@pytest.mark.parametrize(
    ("raw", "problem"),
    [({"lots": []}, "lots: "), ({"lots": ["  "]}, r"lots\[0\]: "), ({"min_capability": 1.0}, "min_capability: "),
     ({"min_capability": -0.1}, "min_capability: "), ({"bidders": 2}, "bidders: Extra inputs")],
)
def test_bad_options_are_refused(raw, problem):
    with pytest.raises(ValueError, match=problem):
        get_pattern("auction").parse_options(raw)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_default_demo_completes(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="auction", task=TASK)

    assert ran.finished.status == "completed"
    assert ran.finished.result.startswith("## ")
    lots = notes(ran, LotsNote)[0]["lots"]
    assert 1 <= len(lots) <= 4
    assert len(bids_of(ran)) == 4 * len(lots)
    winners = {a["lot"]: a["winner"] for a in notes(ran, AwardNote) if a["winner"]}
    assert sorted(winners) == [lot["lot"] for lot in lots]  # every lot found someone
    team = get_pattern("auction").team()
    assert len({team.get(name).model for name in BIDDERS}) > 1  # bidders differ in price


def test_headless_cli_runs_the_auction(capsys):
    from tui.cli import main

    code = main(["run", "--headless", "--pattern", "auction", "--approve", "approve", "--speed", "0",
                 "--seed", "3", TASK])
    out = capsys.readouterr().out
    assert code == 0
    assert "· auctioneer lots:" in out and " bid: lot 1:" in out and " award: lot 1 →" in out
    assert "result (completed)" in out

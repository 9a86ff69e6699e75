"""Producer and reviewer: the revise loop, the handoff of reviews, the deadlock and its decisions."""

from __future__ import annotations

import asyncio

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.budgets import Limits
from engine.notes import OutcomeNote, ReviewNote
from engine.patterns import get_pattern
from engine.patterns.review import MAX_EXTRA_REVISIONS
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import ScriptedProvider, fields_of, labels, run


def verdict(approved, issues=(), confidence=0.9):
    return {"approved": approved, "issues": list(issues), "summary": f"approved={approved}", "confidence": confidence}


REJECT = verdict(False, ["ISSUE-A"])
APPROVE = verdict(True)
BROKEN = ProviderError("auth", "invalid API key", retryable=False, status=401)


def loop(reviews=(), *, failing_writes=(), failing_reviews=()):
    """A script: the engineer's n-th call (from 0) writes "draft n"; the reviewer's n-th call
    returns reviews[n] (a rejection after the list runs out). Listed calls fail for good."""
    count = {"engineer": 0, "reviewer": 0}

    def script(request):
        n = count[request.agent]
        count[request.agent] += 1
        if request.agent == "engineer":
            return BROKEN if n in failing_writes else f"draft {n}"
        if n in failing_reviews:
            return BROKEN
        return reviews[n] if n < len(reviews) else REJECT

    return script


def answering(gate, decide):
    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decide(event))

    return hook


def notes(ran, kind):
    return [fields_of(n) for n in ran.of(kind)]


def prompts(provider, agent):
    return [r.messages[-1] for r in provider.requests if r.agent == agent]


async def test_an_approved_first_draft_is_the_result():
    ran = await run(ScriptedProvider(loop([APPROVE])), pattern="review")
    assert ran.finished.status == "completed"
    assert ran.finished.result == "draft 0"
    assert [e.step_id for e in ran.of("step.started")] == ["d0", "r0"]
    assert notes(ran, OutcomeNote) == [{"status": "approved", "revisions": 0, "approved": True}]
    assert not ran.of("handoff") and not ran.of("escalation.requested")
    assert ran.finished.turns == 2


async def test_a_rejected_draft_is_revised_from_its_issues_until_approved():
    provider = ScriptedProvider(loop([REJECT, APPROVE]), delay=0.01)
    ran = await run(provider, pattern="review", task="Write a retry helper TASK-MARKER")

    assert ran.finished.result == "draft 1"
    started = {e.step_id: e.seq for e in ran.of("step.started")}
    finished = {e.step_id: e.seq for e in ran.of("step.finished")}
    order = ["d0", "r0", "d1", "r1"]
    assert list(started) == order
    for before, after in zip(order, order[1:]):
        assert finished[before] < started[after]  # strictly one after the other

    revision = prompts(provider, "engineer")[1]
    assert "Write revision 1" in revision.content and "TASK-MARKER" in revision.content
    assert '<agent_output source="engineer" step="d0" title="the first draft">\ndraft 0' in revision.context
    assert '<agent_output source="reviewer"' in revision.context and "- ISSUE-A" in revision.context
    assert "ISSUE-A" not in revision.content  # the review is data, not instructions
    second_review = prompts(provider, "reviewer")[1]
    assert "draft 1" in second_review.context and "your previous review" in second_review.context

    [handoff] = ran.of("handoff")
    assert (handoff.from_agent, handoff.to_agent, handoff.contract) == ("reviewer", "engineer", "review")
    assert handoff.verdict == "accepted"
    reviews = [(n["revision"], n["approved"], n["issues"]) for n in notes(ran, ReviewNote)]
    assert reviews == [(0, False, ["ISSUE-A"]), (1, True, [])]
    assert notes(ran, OutcomeNote) == [{"status": "approved", "revisions": 1, "approved": True}]


async def test_deadlock_after_the_last_revision_and_approve_accepts_the_draft_as_best_effort():
    ran = await run(ScriptedProvider(loop()), pattern="review", options={"max_revisions": 1})

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "reviewer_deadlock"
    assert labels(escalation) == {
        "approve": "Accept as best effort", "edit": "Allow one more revision", "reject": "Stop",
    }
    assert escalation.payload["issues"] == ["ISSUE-A"] and escalation.payload["revision"] == 1
    assert ran.finished.status == "completed"
    result = ran.finished.result
    assert result.startswith("> Not approved") and "> - ISSUE-A" in result and result.endswith("draft 1")
    assert notes(ran, OutcomeNote) == [{"status": "best_effort", "revisions": 1, "approved": False}]


async def test_deadlock_rejected_stops_with_the_last_draft_as_the_partial_result():
    ran = await run(
        ScriptedProvider(loop()), pattern="review",
        policy=ApprovalPolicy(default="approve", triggers={"reviewer_deadlock": "reject"}),
    )
    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "not approved" in ran.finished.reason
    assert "draft 2" in ran.finished.result and "ISSUE-A" in ran.finished.result
    assert "draft 0" not in ran.finished.result and "draft 1" not in ran.finished.result
    assert notes(ran, OutcomeNote)[-1]["status"] == "stopped"


async def test_one_more_revision_takes_guidance_and_a_still_rejected_draft_escalates_again():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    provider = ScriptedProvider(loop())
    refused, asked = [], []

    def decide(event):
        asked.append(event)
        if len(asked) == 1:
            try:  # a bad edit is refused before it is accepted, and the escalation keeps waiting
                gate.resolve(event.escalation_id, Decision("edit", edited={"guidance": 5}))
            except DecisionError as error:
                refused.append(str(error))
            return Decision("edit", edited={**event.payload, "guidance": "GUIDE-X"})
        return Decision("approve")

    ran = await run(
        provider, pattern="review", options={"max_revisions": 0}, gate=gate, policy=gate.policy,
        on_event=answering(gate, decide),
    )

    assert refused and "guidance" in refused[0]
    assert [e.trigger for e in ran.of("escalation.requested")] == ["reviewer_deadlock", "reviewer_deadlock"]
    assert [e.action for e in ran.of("escalation.resolved")] == ["edit", "approve"]
    extra = prompts(provider, "engineer")[1]
    assert "Guidance from the person supervising this session: GUIDE-X" in extra.content
    assert "- ISSUE-A" in extra.context
    assert [e.step_id for e in ran.of("step.started")] == ["d0", "r0", "d1", "r1"]
    assert ran.finished.status == "completed" and ran.finished.result.endswith("draft 1")


async def test_a_person_can_grant_only_so_many_extra_revisions():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))

    def decide(event):
        return Decision("edit", edited={"guidance": "try again"}) if "edit" in event.options else Decision("approve")

    provider = ScriptedProvider(loop())
    ran = await asyncio.wait_for(
        run(provider, pattern="review", options={"max_revisions": 0}, gate=gate, policy=gate.policy,
            on_event=answering(gate, decide)),
        timeout=10,
    )
    escalations = ran.of("escalation.requested")
    assert len(escalations) == MAX_EXTRA_REVISIONS + 1
    assert escalations[-1].options == ["approve", "reject"] and "edit" not in labels(escalations[-1])
    assert len(prompts(provider, "engineer")) == MAX_EXTRA_REVISIONS + 1
    assert ran.finished.status == "completed"


@pytest.mark.parametrize("mode", ["approve", "reject"])
async def test_an_unsure_rejection_escalates_on_its_way_to_the_producer(mode):
    unsure = verdict(False, ["ISSUE-B"], confidence=0.3)
    ran = await run(
        ScriptedProvider(loop([unsure, APPROVE])), pattern="review",
        policy=ApprovalPolicy(default="approve", triggers={"low_confidence": mode}),
    )
    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "low_confidence" and "30%" in escalation.reason
    assert ran.finished.status == "completed"
    if mode == "approve":
        assert ran.finished.result == "draft 1"
    else:  # the review is refused: the draft stands, marked as not approved
        assert ran.finished.result.startswith("> Not approved") and ran.finished.result.endswith("draft 0")
        assert "refused" in ran.finished.result
        assert notes(ran, OutcomeNote)[-1]["status"] == "set_aside"
        assert len(ran.of("step.started")) == 2


async def test_a_person_can_edit_an_unsure_review_into_an_approval():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    decide = lambda event: Decision("edit", edited={**event.payload, "approved": True, "issues": []})  # noqa: E731
    ran = await run(
        ScriptedProvider(loop([verdict(False, ["ISSUE-B"], confidence=0.3)])), pattern="review",
        gate=gate, policy=gate.policy, on_event=answering(gate, decide),
    )
    assert ran.finished.result == "draft 0"
    assert notes(ran, OutcomeNote) == [{"status": "approved", "revisions": 0, "approved": True}]


async def test_a_failed_review_escalates_with_the_draft_unreviewed():
    ran = await run(ScriptedProvider(loop(failing_reviews=(0,))), pattern="review")

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "reviewer_deadlock" and "unreviewed" in escalation.reason
    assert labels(escalation)["approve"] == "Accept the unreviewed draft"
    assert labels(escalation)["edit"] == "Review it again"
    assert ran.finished.result.startswith("> Unreviewed") and ran.finished.result.endswith("draft 0")
    assert notes(ran, ReviewNote)[0]["error"] and notes(ran, OutcomeNote)[-1]["status"] == "unreviewed"


async def test_review_it_again_asks_the_reviewer_once_more():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ran = await run(
        ScriptedProvider(loop([None, APPROVE], failing_reviews=(0,))), pattern="review",
        gate=gate, policy=gate.policy, on_event=answering(gate, lambda e: Decision("edit")),
    )
    assert ran.finished.result == "draft 0"
    assert [(e.step_id, e.status) for e in ran.of("step.finished")] == [("d0", "done"), ("r0", "error"), ("r1", "done")]


async def test_a_failed_revision_escalates_and_can_keep_the_last_draft():
    ran = await run(ScriptedProvider(loop(failing_writes=(1,))), pattern="review")

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "reviewer_deadlock" and "could not write revision 1" in escalation.reason
    assert ran.finished.status == "completed"
    assert ran.finished.result.startswith("> Not approved") and ran.finished.result.endswith("draft 0")
    assert ("d1", "error") in [(e.step_id, e.status) for e in ran.of("step.finished")]


async def test_a_failed_first_draft_fails_the_session():
    provider = ScriptedProvider(loop(failing_writes=(0,)))
    ran = await run(provider, pattern="review")
    assert ran.finished.status == "failed" and "invalid API key" in ran.finished.reason
    assert not prompts(provider, "reviewer")


async def test_the_reject_fault_deadlocks_the_simulated_reviewer():
    provider = SimulatedProvider(seed=4, speed=0, faults=parse_faults("reject@reviewer"))
    ran = await run(provider, pattern="review")

    reviews = notes(ran, ReviewNote)
    assert [r["approved"] for r in reviews] == [False, False, False]
    assert all(r["issues"] for r in reviews)
    assert [e.trigger for e in ran.of("escalation.requested")] == ["reviewer_deadlock"]
    assert ran.finished.status == "completed" and ran.finished.result.startswith("> Not approved")


async def test_a_turn_budget_stops_the_loop_with_the_newest_draft():
    ran = await run(
        ScriptedProvider(loop()), pattern="review",
        limits=Limits(turns=3), policy=ApprovalPolicy(default="approve", triggers={"budget": "reject"}),
    )
    assert ran.finished.status == "stopped" and "turns budget" in ran.finished.reason
    assert "draft 1" in ran.finished.result and "draft 0" not in ran.finished.result


async def test_a_team_of_one_cannot_review_itself():
    alone = TeamSpec(name="solo", agents=(AgentSpec(name="writer", role="writer"),))
    ran = await run(ScriptedProvider(loop()), pattern="review", team=alone)
    assert ran.finished.status == "failed" and "a producer and a reviewer" in ran.finished.reason


@pytest.mark.parametrize(
    ("raw", "problem"),
    [({"max_revisions": -1}, "max_revisions: "), ({"max_revisions": 11}, "max_revisions: "),
     ({"revisions": 1}, "revisions: Extra inputs")],
)
def test_bad_options_are_refused(raw, problem):
    with pytest.raises(ValueError, match=problem):
        get_pattern("review").parse_options(raw)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_default_demo_completes(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="review")

    assert ran.finished.status == "completed"
    assert ran.finished.result.startswith(("## ", "> Not approved"))
    reviews = notes(ran, ReviewNote)
    assert 1 <= len(reviews) <= 3
    assert [r["revision"] for r in reviews] == list(range(len(reviews)))
    [outcome] = notes(ran, OutcomeNote)
    assert outcome["approved"] == reviews[-1]["approved"]


def test_headless_cli_runs_the_review(capsys):
    from tui.cli import main

    code = main(["run", "--headless", "--pattern", "review", "--approve", "reject", "--speed", "0",
                 "--seed", "2", "--faults", "reject@reviewer", "Design a rate limiter for our public REST API"])
    out = capsys.readouterr().out
    assert code == 1
    assert "▶ engineer d0: the first draft" in out and "· reviewer review: the first draft: changes requested" in out
    assert "[reviewer_deadlock]" in out and "result (stopped, partial)" in out

"""Named choices: each escalation option has a name and a label, does exactly what the label
says, takes just the input it needs, and is recorded by name."""

from __future__ import annotations

import pytest

from engine.approvals import ApprovalGate, DecisionError, answer
from engine.events import DEFAULT_CHOICES, Choice, EscalationRequested
from engine.policy import ApprovalPolicy
from tests.engine.patterns.test_review import REJECT, answering, loop, prompts
from tests.helpers import ScriptedProvider, run

REVISE = Choice(
    id="revise", label="Allow one more revision", action="edit", input="text", field="guidance",
    prompt="guidance for the revision (optional)",
)


def test_each_kind_of_input_becomes_the_decision_it_says():
    assert answer(Choice(id="accept", label="Accept", action="approve")) == answer(
        Choice(id="accept", label="Accept", action="approve"), "ignored"
    )
    accepted = answer(Choice(id="accept", label="Accept", action="approve"))
    assert (accepted.action, accepted.option, accepted.edited) == ("approve", "accept", None)

    plain = answer(REVISE)  # nothing typed: allowed as it is, no edit of the payload
    assert (plain.action, plain.option, plain.edited) == ("edit", "revise", None)
    guided = answer(REVISE, "  test the edge cases  ")
    assert guided.edited == {"guidance": "test the edge cases"}

    reason = DEFAULT_CHOICES["reject"]
    assert answer(reason, "too vague").reason == "too vague"
    assert answer(reason).reason == "rejected without a reason"

    limit = Choice(id="set", label="Set another limit", action="edit", input="number", field="new_limit", required=True)
    assert answer(limit, "1,500").edited == {"new_limit": 1500}
    assert answer(limit, "$0.75").edited == {"new_limit": 0.75}
    with pytest.raises(DecisionError, match="must be a number"):
        answer(limit, "lots")
    with pytest.raises(DecisionError, match="is needed"):
        answer(limit, "")

    pick = Choice(id="assign", label="Assign a bidder", action="edit", input="pick", field="agent", picks=["a", "b"])
    assert answer(pick, "b").edited == {"agent": "b"}
    with pytest.raises(DecisionError, match="one of: a, b"):
        answer(pick, "c")

    edit = DEFAULT_CHOICES["edit"]
    assert answer(edit, '{"x": 1}').edited == {"x": 1}
    with pytest.raises(DecisionError, match="not valid JSON"):
        answer(edit, "{x")


def test_an_escalation_names_a_choice_for_each_option_and_reads_old_records():
    plain = EscalationRequested(
        session_id="s", seq=1, ts=0.0, escalation_id="e1", trigger="plan", reason="r",
        options=["approve", "edit", "reject"], rule="x",
    )
    assert [c.id for c in plain.choices] == ["approve", "edit", "reject"]
    assert plain.named() == {}  # the plain ones read as what they did ("approved")
    old = EscalationRequested.model_validate({
        "session_id": "s", "seq": 1, "ts": 0.0, "escalation_id": "e1", "trigger": "reviewer_deadlock",
        "reason": "r", "options": ["approve", "edit"], "labels": {"edit": "One more revision"}, "rule": "x",
    })
    assert [(c.action, c.label) for c in old.choices] == [("approve", "Approve"), ("edit", "One more revision")]
    assert old.named() == {"edit": "One more revision"}


async def deadlock(decide, **options):
    """A review whose reviewer never approves, its deadlock answered by `decide(event)`."""
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    provider = ScriptedProvider(loop())
    ran = await run(
        provider, pattern="review", gate=gate, on_event=answering(gate, decide),
        options={"max_revisions": 0, **options},
    )
    return ran, provider


def choose(option_id, text=""):
    def decide(event):
        [choice] = [c for c in event.choices if c.id == option_id]
        return answer(choice, text)

    return decide


async def test_allow_one_more_revision_allows_it_at_once_and_is_recorded_by_name():
    decided = []

    def once_then_accept(event):
        decided.append(event)
        return choose("revise" if len(decided) == 1 else "accept")(event)

    ran, provider = await deadlock(once_then_accept)
    first = ran.of("escalation.requested")[0]
    assert [(c.id, c.label, c.input) for c in first.choices] == [
        ("accept", "Accept as best effort", "none"),
        ("revise", "Allow one more revision", "text"),
        ("stop", "Stop", "none"),
    ]
    resolved = ran.of("escalation.resolved")
    assert [(e.action, e.option) for e in resolved] == [("edit", "revise"), ("approve", "accept")]
    drafts = prompts(provider, "engineer")
    assert len(drafts) == 2 and "Guidance from the person" not in drafts[1].content  # revised, no guidance asked
    assert ran.finished.result.endswith("draft 1")


async def test_guidance_typed_for_one_more_revision_reaches_the_writer():
    decided = []

    def guided_then_accept(event):
        decided.append(event)
        return choose("revise", "cover the empty input")(event) if len(decided) == 1 else choose("accept")(event)

    ran, provider = await deadlock(guided_then_accept)
    assert "cover the empty input" in prompts(provider, "engineer")[1].content
    assert ran.of("escalation.resolved")[0].option == "revise"


async def test_accept_and_stop_do_what_they_say():
    ran, _ = await deadlock(choose("accept"))
    assert ran.finished.status == "completed" and ran.finished.result.startswith("> Not approved")
    assert ran.of("escalation.resolved")[0].option == "accept"

    ran, _ = await deadlock(choose("stop"))
    assert ran.finished.status == "stopped" and ran.finished.partial
    assert ran.of("escalation.resolved")[0].option == "stop"


async def test_a_decision_by_policy_is_recorded_under_the_choice_it_took():
    ran = await run(
        ScriptedProvider(loop()), pattern="review", options={"max_revisions": 0},
        policy=ApprovalPolicy(default="approve"),
    )
    [resolved] = ran.of("escalation.resolved")
    assert (resolved.by, resolved.option) == ("policy", "accept")


async def test_a_choice_the_escalation_does_not_offer_is_refused():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    refused = []

    def wrong_then_right(event):
        from engine.approvals import Decision

        try:
            gate.resolve(event.escalation_id, Decision("edit", option="assign"))
        except DecisionError as error:
            refused.append(str(error))
        return answer(event.choice("approve"))

    await run(ScriptedProvider(loop()), pattern="review", gate=gate, on_event=answering(gate, wrong_then_right),
              options={"max_revisions": 0})
    assert refused and "assign is not a choice here" in refused[0]


async def test_a_budget_ran_out_offers_to_raise_it_to_set_a_number_or_to_stop():
    from engine.budgets import Limits

    policy = ApprovalPolicy(default="ask", triggers={"reviewer_deadlock": "approve"})
    gate = ApprovalGate(policy)
    seen = []

    def set_limit(event):
        seen.append(event)
        return answer(event.choice("edit"), "6")

    ran = await run(
        ScriptedProvider(lambda request: REJECT if request.tool else "draft"), pattern="review", gate=gate,
        on_event=answering(gate, set_limit), limits=Limits(turns=2), options={"max_revisions": 1}, policy=policy,
    )
    budget = [e for e in seen if e.trigger == "budget"][0]
    assert [(c.id, c.input) for c in budget.choices] == [("raise", "none"), ("set_limit", "number"), ("stop", "none")]
    assert budget.choices[0].label == "Raise it to 3"
    resolved = [e for e in ran.of("escalation.resolved") if e.trigger == "budget"][0]
    assert resolved.option == "set_limit" and resolved.edited["new_limit"] == 6
    assert [e.limits.turns for e in ran.of("budget.updated") if e.reason == "extended"] == [6]

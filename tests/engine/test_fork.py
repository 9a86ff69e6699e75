"""Fork: a new session that is a recorded one up to a moment (answered from its record, not
sent again), live from there, with what was changed at the fork: an edited plan, another
task, an edited reply."""

from __future__ import annotations

from typing import Any

from engine.bus import EventBus
from engine.events import CallFinished, EscalationRequested, EscalationResolved, EventBase, ForkOrigin
from engine.policy import ApprovalPolicy
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from tests.engine.test_resume import TASK, finished_keys, sent_keys, simulated
from tests.helpers import FAST_RETRY, Ran, run

APPROVE = ApprovalPolicy(default="approve")
SHORTER = {
    "steps": [
        {"id": "s1", "title": "Research", "instructions": "Survey rate limiting.", "assigned_to": "researcher", "depends_on": []},
        {"id": "s2", "title": "Build", "instructions": "Implement it.", "assigned_to": "coder", "depends_on": ["s1"]},
    ],
    "confidence": 0.9,
}
"""The plan as a person edits it at the fork: two steps where the team planned four."""


async def fork(record: Record, provider: Any, *, task: str = TASK) -> Ran:
    """A session forked from `record`'s session (cut where it was cut), on `provider`."""
    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    origin = ForkOrigin(session_id=record.session_id or "", at_seq=record.last_seq)
    finished = await run_session(
        SessionSpec(task=task, policy=APPROVE, seed=7, forked_from=origin), provider, bus=bus,
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5), record=record,
    )
    return Ran(finished, events)


def plan_decision(events: list[EventBase]) -> tuple[EscalationRequested, EscalationResolved]:
    asked = next(e for e in events if isinstance(e, EscalationRequested) and e.trigger == "plan")
    decided = next(e for e in events if isinstance(e, EscalationResolved) and e.escalation_id == asked.escalation_id)
    return asked, decided


async def test_a_fork_at_the_plan_with_an_edited_plan_replays_the_planning_and_runs_the_new_plan_live():
    parent_provider = simulated()
    parent = await run(parent_provider, policy=APPROVE, seed=7)
    asked, decided = plan_decision(parent.events)
    edit = decided.model_copy(update={"action": "edit", "edited": SHORTER, "by": "human", "rule": "changed at the fork", "option": "edit"})
    record = Record.from_events(parent.events, up_to_seq=decided.seq).with_decision(asked, edit)
    before = {e.call_key for e in parent.events if isinstance(e, CallFinished) and e.seq <= decided.seq}

    provider = simulated()
    forked = await fork(record, provider)

    assert forked.finished.status == "completed"
    started = forked.of("session.started")[0]
    assert (started.forked_from.session_id, started.forked_from.at_seq) == (parent.finished.session_id, decided.seq)
    assert started.session_id != parent.finished.session_id
    assert before and not before & set(sent_keys(provider))  # the planning call: from the record, not sent
    replayed = [e for e in forked.of("call.finished") if e.recorded]
    assert {e.call_key for e in replayed} == before
    [revised] = [e for e in forked.of("plan.made") if e.revision == 1]
    assert [step["id"] for step in revised.plan["steps"]] == ["s1", "s2"]
    steps = {e.step_id for e in forked.of("step.started")}
    assert steps == {"s1", "s2"}  # the edited plan ran, not the recorded one
    live = [e for e in forked.of("call.finished") if not e.recorded]
    assert len(live) == len(sent_keys(provider)) == 3  # two steps and the synthesis, each sent once
    assert finished_keys(parent.events) - finished_keys(forked.events)  # the parent's later steps did not run


async def test_a_fork_with_another_task_reuses_no_call_of_its_parent():
    parent = await run(simulated(), policy=APPROVE, seed=7)
    record = Record.from_events(parent.events, up_to_seq=parent.finished.seq - 1)

    provider = simulated()
    forked = await fork(record, provider, task="Design a job queue for our billing service")

    assert forked.finished.status == "completed"
    assert not any(e.recorded for e in forked.of("call.finished"))
    assert len(sent_keys(provider)) == forked.finished.calls > 0


async def test_a_fork_with_an_edited_reply_hands_the_edit_on_and_runs_what_follows_live():
    parent = await run(simulated(), policy=APPROVE, seed=7)
    research = next(e for e in parent.of("call.finished") if e.agent == "researcher")
    record = Record.from_events(parent.events, up_to_seq=research.seq)
    edited = record.with_reply(research.call_key, "Use a token bucket per API key. MARKER-42", None)

    provider = simulated()
    forked = await fork(edited, provider)

    assert forked.finished.status == "completed"
    [again] = [e for e in forked.of("call.finished") if e.call_key == research.call_key]
    assert again.recorded and again.text.endswith("MARKER-42")
    assert research.call_key not in sent_keys(provider)
    later = [r for r in provider.requests if "MARKER-42" in str(r.messages)]
    assert later  # a step that builds on the research was asked with the edited reply
    assert record.calls[research.call_key].finished.text == research.text  # the cut record is unchanged


async def test_a_decision_taken_again_at_the_fork_is_asked_by_the_policy():
    parent = await run(simulated(), policy=APPROVE, seed=7)
    asked, decided = plan_decision(parent.events)
    record = Record.from_events(parent.events, up_to_seq=decided.seq).with_decision(asked, None)

    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    reject = ApprovalPolicy(default="approve", triggers={"plan": "reject"})
    await run_session(
        SessionSpec(task=TASK, policy=reject, seed=7), simulated(), bus=bus,
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5), record=record,
    )

    resolved = [e for e in events if isinstance(e, EscalationResolved) and e.trigger == "plan"]
    assert resolved[0].action == "reject" and resolved[0].rule == "policy: plan=reject"  # asked, not as recorded

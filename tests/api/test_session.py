"""`huddle.Session`: follow a session's events and answer its escalations from Python."""

from __future__ import annotations

import pytest

import huddle
from huddle.events import CallStarted, EscalationRequested, EscalationResolved, PlanMade, SessionFinished, StepStarted
from tests.api.helpers import TASK, team

ONE_STEP = {
    "steps": [{"id": "all", "title": "Do it all", "instructions": "Write it and test it.", "assigned_to": "coder"}],
    "confidence": 0.9,
}


async def test_every_event_comes_in_order_from_started_to_finished():
    async with huddle.Session(TASK, team=team(), policy="approve") as session:
        events = [event async for event in session]
        result = await session.wait()
    assert [event.seq for event in events] == list(range(events[0].seq, events[0].seq + len(events)))
    assert events[0].kind == "session.started" and events[-1] is result
    assert {event.session_id for event in events} == {session.id} == {result.session_id}
    assert isinstance(result, SessionFinished) and result.status == "completed"
    assert {"plan.made", "step.started", "call.delta", "call.finished", "escalation.resolved"} <= {e.kind for e in events}


async def test_a_plan_escalation_waits_for_you_and_approving_runs_the_plan():
    async with huddle.Session(TASK, team=team()) as session:
        asked, plans, steps = [], [], []
        async for event in session:
            if isinstance(event, EscalationRequested) and event.human:
                asked.append(event)
                await session.approve(event)
            elif isinstance(event, PlanMade):
                plans.append(event.plan)
            elif isinstance(event, StepStarted):
                steps.append(event.step_id)
            elif isinstance(event, EscalationResolved):
                resolved = event
    assert [e.trigger for e in asked] == ["plan"]
    assert (resolved.action, resolved.by) == ("approve", "human")
    assert steps == [step["id"] for step in plans[0]["steps"]] and len(plans) == 1
    assert (await session.wait()).status == "completed"


async def test_an_edited_plan_is_the_one_that_runs():
    async with huddle.Session(TASK, team=team()) as session:
        steps, plans = [], []
        async for event in session:
            if isinstance(event, EscalationRequested) and event.human:
                await session.edit(event, ONE_STEP)
            elif isinstance(event, PlanMade):
                plans.append((event.revision, event.plan))
            elif isinstance(event, StepStarted):
                steps.append((event.step_id, event.assigned_to))
    assert plans[-1][0] == 1 and plans[-1][1]["steps"][0]["title"] == "Do it all"
    assert steps == [("all", "coder")]
    assert (await session.wait()).status == "completed"


async def test_an_edit_that_does_not_validate_is_refused_and_the_escalation_still_waits():
    async with huddle.Session(TASK, team=team()) as session:
        async for event in session:
            if isinstance(event, EscalationRequested) and event.human:
                bad = {**ONE_STEP, "steps": [{**ONE_STEP["steps"][0], "assigned_to": "nobody"}]}
                with pytest.raises(huddle.DecisionError, match="no worker named 'nobody'"):
                    await session.edit(event, bad)
                await session.edit(event.escalation_id, ONE_STEP)  # by its id, too
    result = await session.wait()
    assert result.status == "completed" and result.calls == 3  # the plan, the one step, the answer


async def test_a_rejected_plan_is_planned_again_with_your_reason():
    reason = "Cover abuse by a single API key before anything else."
    async with huddle.Session(TASK, team=team()) as session:
        asked, planning = 0, []
        async for event in session:
            if isinstance(event, EscalationRequested) and event.human:
                asked += 1
                if asked == 1:
                    await session.reject(event, reason)
                else:
                    await session.approve(event)
            elif isinstance(event, CallStarted) and event.purpose == "plan":
                planning.append(event.prompt)
            elif isinstance(event, EscalationResolved) and event.action == "reject":
                rejected = event
    assert rejected.reason == reason and rejected.by == "human"
    assert len(planning) == 2 and reason not in planning[0] and reason in planning[1]
    assert (await session.wait()).status == "completed"


async def test_leaving_the_block_early_cancels_the_session_and_keeps_what_was_done():
    async with huddle.Session(TASK, team=team()) as session:
        async for event in session:
            if isinstance(event, EscalationRequested):
                break
    result = await session.wait()
    assert result.status == "cancelled" and result.partial
    with pytest.raises(huddle.DecisionError, match="not waiting"):
        await session.approve(event)


async def test_cancel_stops_a_running_session():
    async with huddle.Session(TASK, team=team(), speed=1) as session:
        async for event in session:
            if event.kind == "call.delta":
                session.cancel()
        result = await session.wait()
    assert result.status == "cancelled" and result.reason == "cancelled by the user"


async def test_a_session_answers_only_inside_its_block_and_runs_once():
    session = huddle.Session(TASK, team=team(), policy="approve")
    with pytest.raises(RuntimeError, match="async with huddle.Session"):
        await session.approve("e1")
    with pytest.raises(RuntimeError, match="async with huddle.Session"):
        session.__aiter__()
    async with session:
        await session.wait()
    with pytest.raises(RuntimeError, match="runs once"):
        async with session:
            pass

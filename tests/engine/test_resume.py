"""Resume: a session that ended stopped, cancelled, failed or interrupted carries on in its
own record. Its finished calls are answered from the record and never sent again, its
decisions stand, its seqs go on with no gap, and folding every event of all its runs tells
the same totals its last `session.finished` does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from engine.approvals import ApprovalGate, Decision
from engine.budgets import Limits
from engine.bus import EventBus
from engine.events import EventBase, SessionFinished, SessionResumed, Usage
from engine.formats import period
from engine.narration import narrate
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError, ProviderEvent, ProviderRequest
from engine.providers.simulated import SimulatedProvider
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from engine.state import SessionState
from tests.helpers import FAST_RETRY, Ran, ScriptedProvider, orchestrated, plan_of

TASK = "Design a rate limiter for our public REST API"
POLICY = ApprovalPolicy(default="approve", triggers={"plan": "ask", "budget": "reject"})
"""A person approves the plan; a used-up budget stops the session (nobody raises it)."""


class Counting:
    """A provider that passes every request on to `inner` and keeps it: what was sent."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[ProviderRequest] = []

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        async for event in self.inner.stream(request):
            yield event


class Session:
    """One session run after run: every event of all its runs, and the person asked its plans."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self.spec = {"task": TASK, "policy": POLICY, "seed": 7, **(spec or {})}
        self.events: list[EventBase] = []
        self.asked: list[str] = []

    async def run(
        self, provider: Any, *, resume: bool = False, on_event: Callable[[EventBase], None] | None = None,
        config: EngineConfig | None = None, **spec: Any,
    ) -> Ran:
        """Run it (carry it on from its record, with `resume`), with `spec` over its spec."""
        gate = ApprovalGate(POLICY)
        bus = EventBus()
        events: list[EventBase] = []
        bus.listen(events.append)

        def person(event: EventBase) -> None:
            if event.kind == "escalation.requested" and event.human:
                self.asked.append(event.trigger)
                asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, Decision("approve"))

        bus.listen(person)
        if on_event is not None:
            bus.listen(on_event)
        record = Record.from_events(self.events) if resume else None
        try:
            finished = await run_session(
                SessionSpec(**{**self.spec, **spec}), provider, bus=bus, gate=gate,
                config=config or EngineConfig(retry=FAST_RETRY, call_timeout=5), resume=record,
            )
        finally:
            self.events += events
        return Ran(finished, events)


def simulated() -> Counting:
    return Counting(SimulatedProvider(seed=7, speed=0))


def finished_keys(events: list[EventBase]) -> set[str]:
    return {e.call_key for e in events if e.kind == "call.finished"}


def sent_keys(provider: Counting) -> list[str]:
    """The calls sent, once each however many attempts and rounds they took."""
    return list(dict.fromkeys(r.call_key for r in provider.requests))


def used(events: list[EventBase]) -> Usage:
    """What every reply and failed attempt in `events` used, summed event by event."""
    return sum((e.usage for e in events if e.kind in ("call.finished", "call.failed")), Usage())


def assert_one_record(session: Session, last: SessionFinished) -> SessionState:
    """The runs make one record: seqs 1, 2, 3... with one start, a resume after each end,
    each call finished once; folded, it tells the totals the last run finished with."""
    events = session.events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.session_id for e in events} == {last.session_id}
    assert [e.kind for e in events].count("session.started") == 1 and events[0].kind == "session.started"
    for resumed in (e for e in events if isinstance(e, SessionResumed)):
        assert resumed.after_seq == resumed.seq - 1
    finished_calls = [e.call_key for e in events if e.kind == "call.finished"]
    assert len(finished_calls) == len(set(finished_calls)) == last.calls  # none made twice, none lost
    asked = [e.escalation_id for e in events if e.kind == "escalation.requested"]
    assert len(asked) == len(set(asked))  # a resume takes escalation ids its record does not use
    assert used(events) == last.usage  # what every run used, counted once
    state = SessionState()
    for event in events:
        state.apply(event)
    assert state.finished and state.status == last.status and state.result == last.result
    totals = state.totals
    assert (totals.tokens_in, totals.tokens_out, totals.calls) == (last.usage.tokens_in, last.usage.output_tokens, last.calls)
    assert totals.cost == pytest.approx(last.cost)
    return state


# -- after a budget was used up --------------------------------------------------------------


async def test_a_session_stopped_by_its_budget_resumes_with_a_larger_one_and_ends_as_if_never_stopped():
    whole = await Session().run(simulated())
    assert whole.finished.status == "completed"
    session = Session()
    first_provider = simulated()
    first = await session.run(first_provider, limits=Limits(tokens=whole.finished.usage.total // 2))
    assert first.finished.status == "stopped" and "tokens budget" in (first.finished.reason or "")
    assert session.asked == ["plan"]
    done_before = finished_keys(first.events)
    assert done_before  # some calls finished before the stop

    provider = simulated()
    again = await session.run(provider, resume=True)
    assert again.finished.status == "completed"
    assert not done_before & set(sent_keys(provider))  # no finished call is sent again
    assert set(sent_keys(first_provider)) | set(sent_keys(provider)) == {r.call_key for r in whole.events if r.kind == "call.started"}
    assert session.asked == ["plan"]  # the plan's decision stands
    assert not [e for e in again.events if e.kind.startswith("escalation.")]
    assert again.events[0].kind == "session.resumed" and "session.started" not in {e.kind for e in again.events}
    assert again.finished.result == whole.finished.result
    assert again.finished.calls == whole.finished.calls
    assert_one_record(session, again.finished)


async def test_the_resume_says_how_it_ended_and_what_the_record_answers():
    session = Session({"task": TASK})
    first = await session.run(ScriptedProvider(orchestrated(plan_of(("s1", "coder", [])))), limits=Limits(tokens=200))
    assert first.finished.status == "stopped"
    record = Record.from_events(session.events)
    assert (record.ended, record.reason, record.last_seq) == ("stopped", first.finished.reason, first.events[-1].seq)
    assert record.worked_s == first.finished.duration_s
    again = await session.run(ScriptedProvider(orchestrated(plan_of(("s1", "coder", [])))), resume=True)
    resumed = again.events[0]
    assert isinstance(resumed, SessionResumed)
    assert (resumed.previous_status, resumed.previous_reason) == ("stopped", first.finished.reason)
    assert (resumed.calls, resumed.decisions) == (record.answers, 2) and record.answers >= 1  # the plan's, the budget's
    state = SessionState()
    lines = []
    for event in session.events:
        state.apply(event)
        if event is resumed:
            lines.append(narrate(state, event))
            assert state.status == "running" and not state.finished and state.result is None
            assert "stopped" not in {step.status for step in state.steps.values()}
    assert lines[0].text == (
        f"resumed after {period(state.resumes[0].away_s)} away; it was stopped ({first.finished.reason}); "
        f"{record.answers} call{'s' * (record.answers != 1)} and 2 decisions answered from the record"
    )
    assert again.finished.duration_s >= first.finished.duration_s  # it goes on from the time worked


# -- after a cancel, twice, after an outage --------------------------------------------------


async def test_a_session_cancelled_midway_resumes_and_completes():
    whole = await Session().run(simulated())
    session = Session()
    provider = simulated()
    task: asyncio.Task[Any] | None = None
    finished_calls = 0

    def cancel_at_the_third_reply(event: EventBase) -> None:
        nonlocal finished_calls
        if event.kind == "call.finished":
            finished_calls += 1
            if finished_calls == 3 and task is not None:
                task.cancel()

    task = asyncio.ensure_future(session.run(provider, on_event=cancel_at_the_third_reply))
    with pytest.raises(asyncio.CancelledError):
        await task
    ended = session.events[-1]
    assert isinstance(ended, SessionFinished) and ended.status == "cancelled"
    done_before = finished_keys(session.events)
    assert len(done_before) >= 3

    again_provider = simulated()
    again = await session.run(again_provider, resume=True)
    assert again.finished.status == "completed" and again.finished.result == whole.finished.result
    assert again.events[0].previous_status == "cancelled"
    assert not done_before & set(sent_keys(again_provider))
    assert_one_record(session, again.finished)


async def test_a_resumed_session_stopped_again_resumes_again_and_completes():
    whole = await Session().run(simulated())
    total = whole.finished.usage.total
    session = Session()
    first = await session.run(simulated(), limits=Limits(tokens=total // 3))
    second_provider = simulated()
    second = await session.run(second_provider, resume=True, limits=Limits(tokens=2 * total // 3))
    assert (first.finished.status, second.finished.status) == ("stopped", "stopped")
    assert second.finished.calls > first.finished.calls  # the second run got further
    assert not finished_keys(first.events) & set(sent_keys(second_provider))
    third_provider = simulated()
    third = await session.run(third_provider, resume=True)
    assert third.finished.status == "completed" and third.finished.result == whole.finished.result
    assert not finished_keys(session.events[: -len(third.events)]) & set(sent_keys(third_provider))
    resumes = [e for e in session.events if isinstance(e, SessionResumed)]
    assert [e.previous_status for e in resumes] == ["stopped", "stopped"]
    assert resumes[1].calls > resumes[0].calls and resumes[1].worked_s >= second.finished.duration_s - 0.001
    assert session.asked == ["plan"]
    assert_one_record(session, third.finished)


async def test_a_session_failed_in_a_provider_outage_resumes_with_a_working_provider():
    plan = plan_of(("s1", "researcher", []), ("s2", "coder", []), ("s3", "reviewer", ["s1", "s2"]))
    answers = orchestrated(plan)

    def outage(request: ProviderRequest) -> Any:
        if request.tool is not None:
            return answers(request)  # the plan is written before the outage
        return ProviderError("overloaded", "the provider is overloaded", retryable=True)

    session = Session()
    config = EngineConfig(retry=FAST_RETRY, call_timeout=5, breaker_threshold=2)
    down = ScriptedProvider(outage)
    first = await session.run(down, config=config)
    assert first.finished.status == "failed" and "circuit breaker open" in (first.finished.reason or "")
    assert first.of("call.failed") and len(finished_keys(first.events)) == 1  # the plan only

    up = ScriptedProvider(answers)
    again = await session.run(up, resume=True, config=config)
    assert again.finished.status == "completed" and not again.finished.failed_steps
    assert [r.call_key for r in up.requests if r.tool is not None] == []  # the plan is not asked again
    assert session.asked == ["plan"]
    assert again.events[0].previous_status == "failed"
    state = assert_one_record(session, again.finished)
    assert {step.status for step in state.steps.values()} == {"done"}


async def test_a_session_whose_process_died_mid_reply_resumes_from_what_was_recorded():
    whole = await Session().run(simulated())
    streaming = [e for e in whole.events if e.kind == "call.delta"][-3]  # a later call, mid-reply
    session = Session()
    session.events = [e for e in whole.events if e.seq <= streaming.seq]  # what the store held when it died
    record = Record.from_events(session.events)
    assert record.ended == "interrupted" and record.reason is None
    assert record.worked_s == pytest.approx(streaming.ts - whole.events[0].ts)

    provider = simulated()
    again = await session.run(provider, resume=True)
    assert again.events[0].previous_status == "interrupted"
    assert sent_keys(provider)[0] == streaming.call_key  # the reply cut short is asked again, first
    assert not finished_keys(session.events[: streaming.seq]) & set(sent_keys(provider))
    assert again.finished.status == "completed" and again.finished.result == whole.finished.result
    state = SessionState()
    for event in session.events:
        state.apply(event)
        if event.kind == "session.resumed":  # what the dead process left streaming is not shown as going on
            assert not any(agent.open_calls or agent.live for agent in state.agents.values())
            assert "running" not in {step.status for step in state.steps.values()}
    assert state.finished and state.totals.calls == again.finished.calls
    # What the cut call had used by its last report was billed: counted once, in both accounts.
    [*_, cut] = [e for e in session.events[: streaming.seq] if e.kind == "call.progress" and e.call_key == streaming.call_key]
    assert cut.usage.total and again.finished.usage == used(session.events) + cut.usage
    assert (state.totals.tokens_in, state.totals.tokens_out) == (again.finished.usage.tokens_in, again.finished.usage.output_tokens)
    assert state.totals.cost == pytest.approx(again.finished.cost)


# -- what cannot be resumed ------------------------------------------------------------------


async def test_a_completed_session_or_an_empty_record_cannot_be_resumed():
    session = Session()
    done = await session.run(ScriptedProvider(orchestrated(plan_of(("s1", "coder", [])))))
    assert done.finished.status == "completed"
    with pytest.raises(ValueError, match="completed: there is nothing to resume"):
        await session.run(ScriptedProvider(orchestrated(plan_of(("s1", "coder", [])))), resume=True)
    with pytest.raises(ValueError, match="nothing to resume"):
        await run_session(SessionSpec(task=TASK), ScriptedProvider(orchestrated(plan_of())), resume=Record())

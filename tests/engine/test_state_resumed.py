"""A resumed session as the one reading of its record tells it (`engine.state`,
`engine.narration`): one session, however many runs, with the time it was away said
once, at the resume.

A resumed run goes through its pattern from the top: the calls and decisions the record
holds are answered from it without being told again, but the plan, the steps that were
done, the notes and the handoffs are told again. These tests run real sessions, stop them
with their budget, resume them two hours later (by the engine's clock), and read the
record back."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from engine.approvals import ApprovalGate, Decision
from engine.budgets import Limits
from engine.bus import EventBus
from engine.events import EventBase, PlanMade, SessionFinished, SessionResumed
from engine.formats import period
from engine.narration import narrate
from engine.patterns import PATTERNS
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from engine.state import SessionState
from tests.helpers import FAST_RETRY, ScriptedProvider, orchestrated, plan_of

TASK = "Design a rate limiter for our public REST API"
STOP = ApprovalPolicy(default="approve", triggers={"budget": "reject"})
"""Everything is approved, except raising a budget that is used up: the session stops."""
AWAY = 2 * 3600 + 3 * 60 + 20
"""How long a resumed session waits before it carries on: 2h 3m (and some seconds)."""
THE_STOP = {"call.failed", "escalation.requested", "escalation.resolved", "session.finished", "session.resumed"}
"""What a story told in two runs says that one run does not: the attempt the budget cut,
the budget's question and its answer, the stop, and the resume."""


async def run(
    provider: Any, pattern: str = "orchestrator", *, resume: list[EventBase] | None = None, away: float = 0.0,
    gate: ApprovalGate | None = None, policy: ApprovalPolicy = STOP, **spec: Any,
) -> list[EventBase]:
    """A session's events: a run of its own, or (`resume`) the run carrying on that record,
    `away` seconds after it ended by the engine's clock."""
    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    clock: Callable[[], float] = lambda: time.time() + away  # noqa: E731
    await run_session(
        SessionSpec(task=TASK, pattern=pattern, policy=policy, seed=3, **spec), provider, bus=bus,
        gate=gate or ApprovalGate(policy), config=EngineConfig(retry=FAST_RETRY, call_timeout=5, clock=clock),
        resume=Record.from_events(resume) if resume is not None else None,
    )
    return events


def simulated() -> SimulatedProvider:
    return SimulatedProvider(seed=3, speed=0)


async def whole_and_resumed(pattern: str) -> tuple[list[EventBase], list[EventBase]]:
    """The events of a run of `pattern` that nothing stopped, and the record of the same
    session stopped halfway by its token budget, then resumed `AWAY` later."""
    whole = await run(simulated(), pattern)
    used = whole[-1]
    assert isinstance(used, SessionFinished) and used.status == "completed"
    first = await run(simulated(), pattern, limits=Limits(tokens=used.usage.total // 2))
    assert first[-1].kind == "session.finished" and first[-1].status == "stopped"  # type: ignore[attr-defined]
    again = await run(simulated(), pattern, resume=first, away=AWAY)
    assert again[0].kind == "session.resumed" and again[-1].status == "completed"  # type: ignore[attr-defined]
    return whole, first + again


def story(events: list[EventBase]) -> tuple[SessionState, list[tuple[str, str]]]:
    """The events folded, and the story's lines as (kind, words)."""
    state = SessionState()
    lines = []
    for event in events:
        state.apply(event)
        line = narrate(state, event)
        if line is not None:
            lines.append((event.kind, line.text))
    return state, lines


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
async def test_a_resumed_session_reads_as_one_session(pattern: str) -> None:
    whole, record = await whole_and_resumed(pattern)
    once, told_once = story(whole)
    resumed, told = story(record)

    assert not Counter(told_once) - Counter(told)  # everything one run tells is told
    extra = Counter(told) - Counter(told_once)
    stopped = story([e for e in record if e.seq < next(e.seq for e in record if e.kind == "session.resumed")])[0]
    cut = {f"{step.step_id}: {step.title}" for step in stopped.steps.values() if step.status == "stopped"}
    for kind, text in extra.elements():  # and besides, only the stop, the resume, and the steps the stop cut
        assert kind in THE_STOP or (kind == "step.started" and text in cut), (kind, text)
    assert sum(kind == "session.resumed" for kind, _ in extra.elements()) == 1

    assert {s.step_id: s.status for s in resumed.steps.values()} == {s.step_id: s.status for s in once.steps.values()}
    assert Counter(note.text for note in resumed.notes) == Counter(note.text for note in once.notes)
    assert resumed.revisions.keys() == once.revisions.keys() and resumed.plans == once.plans
    assert resumed.result == once.result


async def test_the_resume_says_how_long_it_was_away_and_the_clock_leaves_that_out() -> None:
    _, record = await whole_and_resumed("pipeline")
    state = SessionState()
    for event in record:
        before = state.last_ts
        state.apply(event)
        if isinstance(event, SessionResumed):
            line = narrate(state, event)
            resumed = event
            assert before is not None and state.resumes[0].away_s == event.ts - before
    assert state.resumes[0].away_s == pytest.approx(AWAY, abs=1)
    answered = f"{resumed.calls} calls and 1 decision answered from the record"  # the budget's
    assert line is not None and line.text == (
        f"resumed after 2h 3m away; it was stopped (tokens budget used up); {answered}"
    ) and line.icon == "◆"

    finished = record[-1]
    assert isinstance(finished, SessionFinished)
    # Offsets are time worked: they go on from where the first run ended, not two hours later.
    assert state.offset(resumed.ts) == pytest.approx(resumed.worked_s, abs=1e-6)
    assert state.offset(finished.ts) == pytest.approx(finished.duration_s, abs=0.05)
    first_end = next(e for e in record if e.kind == "session.finished")
    assert state.offset(first_end.ts) == pytest.approx(first_end.ts - record[0].ts)  # before it, unchanged


async def test_events_told_again_after_a_resume_change_nothing_as_they_come() -> None:
    """The plan stays its latest revision, and a step done before stays done, at every event
    of the resumed run (a screen shows each of them), not only at the end."""
    plan = plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]), ("s3", "reviewer", ["s2"]))
    asks_plan = ApprovalPolicy(default="approve", triggers={"plan": "ask", "budget": "reject"})
    answers: list[str] = []

    def person(gate: ApprovalGate) -> Callable[[EventBase], None]:
        """Rejects the first plan, approves the revision."""
        def decide(event: EventBase) -> None:
            if event.kind == "escalation.requested" and event.human:  # type: ignore[attr-defined]
                action = "reject" if not answers else "approve"
                answers.append(action)
                asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, Decision(action, reason="too vague"))  # type: ignore[attr-defined]
        return decide

    gate = ApprovalGate(asks_plan)
    bus_events: list[EventBase] = []

    async def first_run() -> list[EventBase]:
        bus = EventBus()
        bus.listen(bus_events.append)
        bus.listen(person(gate))
        await run_session(
            SessionSpec(task=TASK, policy=asks_plan, seed=3, limits=Limits(tokens=520)),
            ScriptedProvider(orchestrated(plan)), bus=bus, gate=gate,
            config=EngineConfig(retry=FAST_RETRY, call_timeout=5),
        )
        return bus_events

    first = await first_run()
    assert answers == ["reject", "approve"]
    assert [e.revision for e in first if isinstance(e, PlanMade)] == [0, 1]
    assert first[-1].status == "stopped"  # type: ignore[attr-defined]
    again = await run(ScriptedProvider(orchestrated(plan)), policy=asks_plan, resume=first, away=AWAY)
    assert answers == ["reject", "approve"]  # nobody is asked again
    assert [e.revision for e in again if isinstance(e, PlanMade)] == [0, 1]  # but both plans are told again

    state = SessionState()
    for event in first:
        state.apply(event)
    done = {s.step_id for s in state.steps.values() if s.status == "done"}
    assert done and len(done) < 3
    revisions, plan_now = dict(state.revisions), state.plan
    for event in again:
        state.apply(event)
        assert state.plan_revision == 1 and state.plan is plan_now and state.revisions == revisions
        assert all(state.steps[step].status == "done" for step in done)
        if isinstance(event, PlanMade) or (event.kind == "step.started" and event.step_id in done):  # type: ignore[attr-defined]
            assert state.retold and narrate(state, event) is None
    assert not state.retold and state.status == "completed"
    assert {s.status for s in state.steps.values()} == {"done"}


async def test_a_second_resume_tells_again_only_what_was_told_before_it() -> None:
    whole = await run(simulated(), "discussion")
    total = whole[-1].usage.total  # type: ignore[attr-defined]
    first = await run(simulated(), "discussion", limits=Limits(tokens=total // 3))
    second = await run(simulated(), "discussion", resume=first, away=60, limits=Limits(tokens=2 * total // 3))
    third = await run(simulated(), "discussion", resume=first + second, away=60 + AWAY)  # by the same clock
    assert [e[-1].status for e in (first, second, third)] == ["stopped", "stopped", "completed"]  # type: ignore[attr-defined]

    once, told_once = story(whole)
    state, told = story(first + second + third)
    assert [resume.away_s for resume in state.resumes] == [pytest.approx(60, abs=1), pytest.approx(AWAY, abs=1)]
    resumes = [text for kind, text in told if kind == "session.resumed"]
    assert [text.split(";")[0] for text in resumes] == ["resumed after 1m 0s away", "resumed after 2h 3m away"]
    assert Counter(kind for kind, _ in told if kind.startswith("pattern.")) == Counter(
        kind for kind, _ in told_once if kind.startswith("pattern.")
    )
    assert [note.text for note in state.notes] == [note.text for note in once.notes]


@pytest.mark.parametrize(("seconds", "said"), [
    (0.4, "0s"), (12, "12s"), (65, "1m 5s"), (3600, "1h 0m"), (7380, "2h 3m"), (93_600, "1d 2h"),
])
def test_a_time_away_reads_in_its_two_largest_units(seconds: float, said: str) -> None:
    assert period(seconds) == said

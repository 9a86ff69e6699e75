"""A resumed session on the session screen and in its replay: the resume is one line
saying how long the session was away, the clock leaves that time out, what the dead
process left streaming says it was cut off, and what the resumed run tells again (the
plan, the steps done before, the notes) shows once."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from engine.approvals import ApprovalGate
from engine.budgets import Limits
from engine.bus import EventBus
from engine.events import BudgetUpdated, EventBase, SessionResumed
from engine.notes import RoundNote
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from tests.helpers import FAST_RETRY
from tests.tui.helpers import fake_clock, until
from tui.app import HuddleApp
from tui.bridge import EventsArrived
from tui.screens.replay import ReplayScreen
from tui.screens.session import SessionScreen
from tui.widgets.pattern_pane import PatternPane
from tui.widgets.timeline import Timeline

SIZE = (200, 50)
AWAY = 2 * 3600 + 3 * 60
POLICY = ApprovalPolicy(default="approve", triggers={"budget": "reject"})


async def run(
    pattern: str, *, start: float = 1_800_000_000.0, resume: list[EventBase] | None = None, **spec: Any,
) -> list[EventBase]:
    """A session's events, its clock from `start` on, 50 ms an event; with `resume`, the
    run that carries that record on."""
    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    await run_session(
        SessionSpec(task="Design a rate limiter", pattern=pattern, policy=POLICY, seed=5, **spec),
        SimulatedProvider(seed=5, speed=0), bus=bus, gate=ApprovalGate(POLICY),
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5, clock=fake_clock(start=start, step=0.05)),
        resume=Record.from_events(resume) if resume is not None else None,
    )
    return events


async def died_then_resumed() -> tuple[list[EventBase], EventBase]:
    """An orchestrator session whose process died while a step's reply streamed, carried on
    `AWAY` later: its record, and the reply's last delta before it died."""
    whole = await run("orchestrator")
    deltas = [e for e in whole if e.kind == "call.delta" and e.span_id.startswith("root/step:")]
    streaming = deltas[len(deltas) // 2]
    died = [e for e in whole if e.seq <= streaming.seq]
    again = await run("orchestrator", start=died[-1].ts + AWAY, resume=died)
    return died + again, streaming


def loader(events: list[EventBase]):
    async def load(after: int, limit: int) -> list[EventBase]:
        return events[after : after + limit]

    return load


async def open_replay(pilot, events: list[EventBase]) -> ReplayScreen:
    screen = ReplayScreen(loader(events), len(events), playing=False)
    await pilot.app.push_screen(screen)
    await until(pilot, lambda: screen.replay.complete and screen._shown > 0, what="loaded")
    return screen


def timeline_texts(screen: SessionScreen) -> list[str]:
    timeline = screen.query_one(Timeline)
    return [timeline.entry_at(i).text for i in range(timeline.option_count)]


async def test_the_replay_of_a_resumed_session_shows_the_gap_and_the_resume_once():
    record, streaming = await died_then_resumed()
    resumed = next(e for e in record if isinstance(e, SessionResumed))
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, record)
        await pilot.press("end")
        await pilot.pause()
        texts = timeline_texts(screen)
        said = (
            f"resumed after 2h 3m away; it was interrupted; {resumed.calls} calls and "
            f"{resumed.decisions} decision answered from the record"
        )
        assert texts.count(said) == 1
        assert sum(text.startswith("plan: ") for text in texts) == 1  # told again by the resumed run, shown once
        assert all(texts.count(text) == 1 for text in texts if text.endswith(" done"))
        entries = list(screen.view.timeline)
        at_resume = next(entry for entry in entries if entry.kind == "session.resumed")
        assert at_resume.offset == screen.view.offset(resumed.ts) < 60  # time worked: the two hours left out
        assert all(entry.offset < 60 for entry in entries)
        assert screen.view.status == "completed"

        # At the resume: what was streaming when the process died says it was cut off.
        await screen._move_to(resumed.seq)
        await pilot.pause()
        assert timeline_texts(screen)[-1] == said
        panel = screen.panels[streaming.agent]
        assert panel.stream.text_lines[-1] == "⋯ cut off when the session ended"
        assert screen.view.agents[streaming.agent].status == "idle" and screen.view.status == "running"
        assert "running" not in {step.status for step in screen.view.steps.values()}

        # One entry on from it, the replay is past it: "[" comes back to it.
        await pilot.press("]")
        assert screen._shown > resumed.seq
        await pilot.press("[")
        assert screen._shown == resumed.seq


async def test_a_pattern_pane_shows_each_round_once_after_a_resume():
    whole = await run("discussion")
    note = next(e for e in whole if isinstance(e, RoundNote))
    used = [e.tokens for e in whole if isinstance(e, BudgetUpdated) and e.seq < note.seq][-1]
    first = await run("discussion", limits=Limits(tokens=used + 50))  # stopped after round 1
    assert first[-1].status == "stopped" and any(isinstance(e, RoundNote) for e in first)  # type: ignore[attr-defined]
    record = first + await run("discussion", start=first[-1].ts + AWAY, resume=first)
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, record)
        await pilot.press("end")
        await pilot.pause()
        pane = str(screen.query_one(PatternPane).query_one(Static).render())
        rounds = [e.round for e in whole if isinstance(e, RoundNote)]
        for number in rounds:
            assert pane.count(f"Round {number}:") == 1, pane
        assert screen.view.status == "completed"


async def test_the_live_pattern_pane_shows_a_note_as_it_comes():
    """A note on its own (no step, no plan with it) is drawn when it arrives."""
    events = await run("discussion")
    note = next(e for e in events if isinstance(e, RoundNote))
    assert events[note.seq - 2].kind not in ("step.started", "step.finished", "plan.made")
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        live = SessionScreen()
        await app.push_screen(live)
        live.post_message(EventsArrived(events[: note.seq - 1]))
        await until(pilot, lambda: live.view.seq == note.seq - 1, what="the events before the note")
        pane = live.query_one(PatternPane).query_one(Static)
        assert "Round 1:" not in str(pane.render())
        live.post_message(EventsArrived([note]))
        await until(pilot, lambda: live.view.seq == note.seq, what="the note")
        await pilot.pause()
        assert "Round 1: " in str(pane.render())

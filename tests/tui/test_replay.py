"""Replay: play, pause, speed, step both ways, jump; the screen after event N is the live screen after N."""

from __future__ import annotations

import asyncio
import random

import pytest
from textual.widgets import Static

from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig
from tests.helpers import FAST_RETRY, run
from tests.tui.helpers import Leaving, fake_clock, until
from tui.app import HuddleApp
from tui.bridge import EventsArrived
from tui.screens import replay as replay_module
from tui.screens.jump import JumpScreen
from tui.screens.replay import CHECKPOINT, ReplayScreen
from tui.screens.session import SessionScreen
from tui.widgets.budget_bar import BudgetBar
from tui.widgets.pattern_pane import PatternPane
from tui.widgets.timeline import Timeline

SIZE = (200, 50)


async def recorded():
    """A session whose events are 50 ms apart, as if it had streamed in real time."""
    config = EngineConfig(retry=FAST_RETRY, call_timeout=5, clock=fake_clock(step=0.05))
    ran = await run(SimulatedProvider(seed=5, speed=0, faults=parse_faults("rate_limit:0.3"), retry_after=0), config=config)
    return ran.events


def loader(events):
    async def load(after: int, limit: int):
        return events[after : after + limit]

    return load


def screen_state(screen: SessionScreen) -> dict:
    """Everything a person sees on the session screen, as plain data."""
    panels = {
        name: (
            panel._status,
            str(panel.border_subtitle),
            str(panel.query_one("#stats").render()),
            panel.stream.text_lines,
            panel.stream._partial,
        )
        for name, panel in screen.panels.items()
    }
    timeline = screen.query_one(Timeline)
    return {
        "panels": panels,
        "timeline": [timeline.entry_at(i).text for i in range(timeline.option_count)],
        "header": str(screen.query_one("#state").render()).rsplit("·", 1)[0],
        "budget": str(screen.query_one(BudgetBar).render()),
        "pattern": str(screen.query_one(PatternPane).query_one(Static).render()),
        "pending": list(screen.view.pending),
    }


async def open_replay(pilot, events, **options) -> ReplayScreen:
    screen = ReplayScreen(loader(events), len(events), **options)
    await pilot.app.push_screen(screen)
    await until(pilot, lambda: screen.replay.complete and screen._shown > 0, what="loaded")
    return screen


async def test_play_pause_and_speeds():
    events = await recorded()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, speed=1.0, playing=False)
        assert screen._shown == 1
        await pilot.pause(0.3)
        assert screen._shown == 1  # paused: nothing moves
        await pilot.press("space")
        assert screen.playing
        await pilot.pause(0.5)
        at_1x = screen._shown
        assert 1 < at_1x < len(events) // 2  # 0.5 s of a session whose events are 50 ms apart
        await pilot.press("space")
        paused_at = screen._shown
        await pilot.pause(0.3)
        assert screen._shown == paused_at and not screen.playing
        await pilot.press("space")
        await pilot.press("s", "s", "s")  # 1x -> 4x -> 16x -> instant
        assert screen.speed is None
        await until(pilot, lambda: screen.replay.at_end, what="the end")
        assert not screen.playing and screen.view.status == "completed"
        assert "end" in str(screen.query_one("#replay").render())


async def test_step_forward_and_back_one_event_at_a_time():
    events = await recorded()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, playing=False)
        await screen._move_to(40)
        await pilot.press("right")
        assert screen._shown == 41
        await pilot.press("left", "left", "left")
        assert screen._shown == 38
        assert screen.view.seq == 38


async def test_stepping_back_over_an_entry_drops_it_and_keeps_the_rest_of_the_timeline():
    events = await recorded()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, playing=False)
        await screen._move_to(len(events) // 2)
        timeline = screen.query_one(Timeline)
        last = timeline.entry_at(timeline.option_count - 1)
        kept = list(timeline.options[:-1])
        await screen._move_to(last.seq)
        await pilot.press("left")
        assert [timeline.entry_at(i) for i in range(timeline.option_count)] == list(screen.view.timeline)
        assert list(timeline.options) == kept  # the same options: nothing was built again


async def test_jump_to_any_entry_and_to_the_ends():
    events = await recorded()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, playing=False)
        await pilot.press("end")
        assert screen._shown == len(events)
        await pilot.press("j")
        assert isinstance(app.screen, JumpScreen)
        plan_index = next(i for i, e in enumerate(screen._whole.timeline) if "plan:" in e.text)
        options = app.screen.query_one("OptionList")
        options.highlighted = plan_index
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and screen._shown == screen._whole.timeline[plan_index].seq, what="jump")
        assert screen.view.plan is not None and not screen.view.steps["s1"].status == "done"
        await pilot.press("[")
        assert screen._shown < screen._whole.timeline[plan_index].seq
        await pilot.press("]", "]")
        assert screen._shown > screen._whole.timeline[plan_index].seq
        await pilot.press("home")
        assert screen._shown == 1


async def test_in_the_timeline_home_and_end_go_to_its_ends_and_enter_keeps_the_entry_highlighted():
    events = await recorded()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, playing=False)
        await pilot.press("end")  # on a panel: the replay's end
        assert screen._shown == len(events)
        timeline = screen.query_one(Timeline)
        await pilot.press("t")
        await pilot.press("home")
        assert timeline.highlighted == 0 and screen._shown == len(events)  # the list's first entry
        await pilot.press("end")
        assert timeline.highlighted == timeline.option_count - 1 and screen._shown == len(events)
        chosen = next(i for i in range(timeline.option_count) if timeline.entry_at(i).text.startswith("s3: "))
        entry = timeline.entry_at(chosen)
        timeline.highlighted = chosen
        await pilot.press("enter")
        await until(pilot, lambda: screen._shown == entry.seq, what="the replay at the entry")
        await pilot.pause()
        assert timeline.has_focus and timeline.entry_at(timeline.highlighted) == entry
        assert screen.panels["coder"].region.height > 0  # its agent's panel in view
        await pilot.press("up", "enter")  # on to the entry before it, from the keyboard
        before = timeline.entry_at(chosen - 1)
        await until(pilot, lambda: screen._shown == before.seq, what="the entry before")
        assert timeline.has_focus and timeline.entry_at(timeline.highlighted) == before


async def test_escalations_show_the_decision_taken_by_whom_and_when():
    events = await recorded()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, playing=False)
        requested = next(e for e in events if e.kind == "escalation.requested")
        await screen._move_to(requested.seq)
        await pilot.pause()
        timeline = screen.query_one(Timeline)
        await pilot.press("t")
        timeline.highlighted = timeline.option_count - 1
        await pilot.pause()
        details = str(screen.query_one("#details").query_one(Static).render())
        assert "Decision: approved by policy at +" in details  # decided later in the run, shown now


@pytest.mark.parametrize("checkpoint", [25, CHECKPOINT], ids=["from-copies", "from-the-start"])
async def test_the_screen_after_jumping_to_event_n_is_the_live_screen_after_n(checkpoint, monkeypatch):
    monkeypatch.setattr("tui.screens.replay.CHECKPOINT", checkpoint)
    events = await recorded()
    rng = random.Random(3)
    for n in (1, 25, len(events) // 2, len(events) - 5, len(events)):
        live_app = HuddleApp(start=None)
        async with live_app.run_test(size=SIZE) as pilot:
            live = SessionScreen()
            await live_app.push_screen(live)
            # The bridge hands a live screen events in batches of any size.
            position = 0
            while position < n:
                size = min(n - position, rng.randint(1, 40))
                live.post_message(EventsArrived(events[position : position + size]))
                position += size
                await pilot.pause()
            await until(pilot, lambda: live.view.seq == n, what="live screen caught up")
            await pilot.pause(0.1)
            expected = screen_state(live)
        replay_app = HuddleApp(start=None)
        async with replay_app.run_test(size=SIZE) as pilot:
            screen = await open_replay(pilot, events, playing=False)
            await screen._move_to(len(events))  # from the end, back to N: the rebuild path
            await screen._move_to(n)
            await pilot.pause(0.1)
            assert screen_state(screen) == expected, f"after event {n}"
            await screen._move_to(1)  # and on from the start
            await screen._move_to(n)
            await pilot.pause(0.1)
            assert screen_state(screen) == expected, f"after event {n}, from the start"


async def test_replay_never_calls_a_model(monkeypatch):
    from engine.providers.anthropic import AnthropicProvider

    events = await recorded()

    def forbidden(self, request):
        raise AssertionError("replay called a model")

    monkeypatch.setattr(SimulatedProvider, "stream", forbidden)
    monkeypatch.setattr(AnthropicProvider, "stream", forbidden)
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_replay(pilot, events, speed=None)
        await until(pilot, lambda: screen.replay.at_end, what="played")
        assert screen.live is None and screen.view.status == "completed"


@pytest.mark.parametrize("how", ["back", "quit"])
async def test_leaving_while_events_load_stops_the_loading_before_any_widget_goes(monkeypatch, how):
    events = await recorded()
    monkeypatch.setattr(replay_module, "FIRST_PAGE", 10)
    loading, release = asyncio.Event(), asyncio.Event()

    async def load(after: int, limit: int):
        if after:  # the second page: held until the screen has gone
            loading.set()
            await release.wait()
        return events[after : after + limit]

    watch = Leaving()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE, message_hook=watch) as pilot:
        screen = ReplayScreen(load, len(events), speed=1.0)
        app.call_later(app.push_screen, screen)  # from the app, so the hook sees the screen's widgets
        await loading.wait()
        watch.leaving(screen)
        if how == "back":
            await app.pop_screen()
            await until(pilot, lambda: not screen.is_attached, what="gone")
            release.set()
            await pilot.pause()
            assert screen.replay.loaded == 10  # the page never arrived
    release.set()  # quitting: the app has closed with the page still held
    assert watch.stopped_first and all(watch.stopped_first)

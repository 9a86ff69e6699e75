"""Searching (/) and filtering (f) the timeline, live and in a replay, and the replay's jump list."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from engine.policy import ApprovalPolicy
from tests.tui.helpers import app_for, live, screen_of, until
from tests.tui.scenes import recorded_session
from tui.app import HuddleApp, make_app
from tui.screens.filter import FilterScreen
from tui.screens.jump import JumpScreen
from tui.screens.replay import ReplayScreen
from tui.timeline_filter import PROBLEMS, TimelineFilter
from tui.view import Entry
from tui.widgets.search_bar import SearchBar
from tui.widgets.timeline import Timeline

SIZE = (200, 50)


@pytest.fixture
def events():
    return list(recorded_session())


def shown(screen) -> list[Entry]:
    timeline = screen.query_one(Timeline)
    return [timeline.entry_at(i) for i in range(timeline.option_count)]


def entry(agent: str | None, text: str, kind: str = "step.started", style: str = "") -> Entry:
    return Entry(1, 0.0, agent, "▶", text, style, kind=kind)


# -- what matches -------------------------------------------------------------------


def test_a_search_matches_agent_and_text_in_any_case():
    entries = [entry("coder", "s3: Implement"), entry("lead", "plan: 4 steps", "plan.made"), entry(None, "Rate LIMIT")]
    assert TimelineFilter(text="CODER").apply(entries) == entries[:1]
    assert TimelineFilter(text="rate limit").apply(entries) == entries[2:]
    assert TimelineFilter(text="  ").apply(entries) is entries  # nothing filtered: the same list


def test_an_agent_a_kind_and_problems_narrow_together():
    entries = [
        entry("coder", "s3 started"), entry("coder", "s3 error", "step.finished", "error"),
        entry("lead", "asked", "escalation.requested", "warning"), entry("lead", "approved", "escalation.resolved", "success"),
    ]
    assert TimelineFilter(agent="lead").apply(entries) == entries[2:]
    assert TimelineFilter(kind="escalation").apply(entries) == entries[2:]
    assert TimelineFilter(kind="step", agent="coder", text="error").apply(entries) == entries[1:2]
    assert TimelineFilter(kind=PROBLEMS).apply(entries) == entries[1:3]
    assert TimelineFilter(agent="coder", kind="step", text="s3").describe() == 'agent coder · steps · "s3"'


# -- the session screen --------------------------------------------------------------


async def test_slash_searches_the_timeline_as_you_type_and_escape_clears_it(events):
    app = make_app(events=events)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        everything = shown(screen)
        await pilot.press("slash")
        search = screen.query_one(SearchBar)
        assert search.display and search.has_focus
        await pilot.press(*"CODER")
        matches = shown(screen)
        assert matches and len(matches) < len(everything)
        assert all("coder" in f"{e.agent} {e.text}".lower() for e in matches)
        assert matches == [e for e in everything if "coder" in f"{e.agent} {e.text}".lower()]
        timeline = screen.query_one(Timeline)
        assert str(timeline.border_subtitle).startswith(f"{len(matches)} of {len(everything)}")
        await pilot.press("enter")
        assert timeline.has_focus and timeline.highlighted == len(matches) - 1
        await pilot.press("n")
        assert timeline.highlighted == 0  # the next match, from the last back to the first
        await pilot.press("N")
        assert timeline.highlighted == len(matches) - 1
        assert screen.query_one("#details").entry == matches[-1]
        await pilot.press("slash", "escape")
        assert not search.display and search.value == ""
        assert shown(screen) == everything and not str(timeline.border_subtitle)


async def test_f_filters_by_agent_and_by_kind_and_everything_undoes_it(events):
    app = make_app(events=events)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        everything = shown(screen)

        async def choose(option_id: str) -> None:
            await pilot.press("f")
            assert isinstance(app.screen, FilterScreen)
            options = app.screen.query_one(OptionList)
            options.highlighted = options.get_option_index(option_id)
            await pilot.press("enter")
            assert app.screen is screen

        await choose("agent:coder")
        assert shown(screen) and {e.agent for e in shown(screen)} == {"coder"}
        await choose("kind:step")
        assert shown(screen) == [e for e in everything if e.agent == "coder" and e.kind.startswith("step.")]
        await choose("agent:")
        assert shown(screen) == [e for e in everything if e.kind.startswith("step.")]
        await choose(f"kind:{PROBLEMS}")
        assert shown(screen) and all(e.style in ("error", "warning") for e in shown(screen))
        await choose("all")
        assert shown(screen) == everything


async def test_n_without_a_search_says_how_to_search(events):
    app = make_app(events=events)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        await pilot.press("n")
        assert "Search (/) or filter (f) the timeline first." in [str(n.message) for n in app._notifications]


async def test_a_live_timeline_stays_searched_as_entries_arrive():
    session = live(policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("slash", *"done")
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.pause()
        expected = [e for e in screen.view.timeline if "done" in f"{e.agent} {e.text}".lower()]
        assert len(expected) >= 4  # the steps finished after the search began
        assert shown(screen) == expected


# -- replay and its jump list -------------------------------------------------------------


def loader(events):
    async def load(after: int, limit: int):
        return events[after : after + limit]

    return load


async def test_a_replay_keeps_its_filter_moving_back_and_forth(events):
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = ReplayScreen(loader(events), len(events), playing=False)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.replay.complete and screen._shown > 0, what="loaded")
        await pilot.press("slash", *"s3")
        await pilot.press("end")
        at_end = shown(screen)
        assert at_end and at_end == [e for e in screen.view.timeline if "s3" in f"{e.agent} {e.text}".lower()]
        await pilot.press("home")
        assert shown(screen) == [e for e in screen.view.timeline if "s3" in e.text.lower()] == []
        await pilot.press("end")
        assert shown(screen) == at_end


async def test_the_jump_list_narrows_as_you_type_and_jumps_to_a_match(events):
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = ReplayScreen(loader(events), len(events), playing=False)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.replay.complete and screen._shown > 0, what="loaded")
        await pilot.press("j")
        jump = app.screen
        assert isinstance(jump, JumpScreen)
        options = jump.query_one(OptionList)
        total = options.option_count
        await pilot.press(*"review")  # typed on the list: it goes to the search
        search = jump.query_one(SearchBar)
        assert search.value == "review" and search.has_focus
        matches = [e for e in screen._whole.timeline if "review" in f"{e.agent} {e.text}".lower()]
        assert 0 < options.option_count == len(matches) < total
        assert "of" in str(jump.query_one("Vertical").border_subtitle)
        await pilot.press("escape")  # empties the search, back on the list
        assert options.option_count == total and options.has_focus
        await pilot.press("slash", *"review", "enter")
        assert options.has_focus
        options.highlighted = 0
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and screen._shown == screen.replay.index_of_seq(matches[0].seq), what="jump")

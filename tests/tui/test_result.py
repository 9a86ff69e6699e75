"""The result (R): from the live screen, a replay and the browser; partial results say so;
the model's Markdown is rendered but cannot run an action or reach the terminal."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable, Markdown, Static
from textual.widgets._markdown import MarkdownParagraph

from sessions.store import SessionStore
from tests.sessions.helpers import publish
from tests.tui.endings import ended, stopped_partial
from tests.tui.helpers import app_for, live, screen_of, until
from tui.app import HuddleApp, make_app
from tui.screens.approval import ApprovalScreen
from tui.screens.browser import BrowserScreen
from tui.screens.replay import ReplayScreen
from tui.screens.result import ResultScreen
from tui.screens.session import SessionScreen

SIZE = (200, 50)


@pytest.fixture
def partial():
    """The recorded session, stopped by its budget with a partial, hostile result (see `endings`)."""
    return stopped_partial()


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def banner(app) -> str:
    return str(app.screen.query_one("#banner", Static).render())


async def test_live_screen_no_result_until_the_end_then_the_result():
    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the plan's approval")
        await pilot.press("escape")  # hide the dialog: the session waits on the plan
        assert app.screen is screen
        await pilot.press("R")
        assert app.screen is screen
        assert "No result yet: the session has not finished." in notices(app)
        await pilot.press("a", "enter")
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.press("R")
        assert isinstance(app.screen, ResultScreen)
        assert "✓ completed" in banner(app) and "Partial" not in banner(app)
        assert app.screen.query_one(Markdown).source == screen.view.result
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_partial_result_says_so_with_its_status_failed_steps_and_reason(partial):
    app = make_app(events=partial)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="the events shown")
        await pilot.press("R")
        assert isinstance(app.screen, ResultScreen)
        text = banner(app)
        assert "stopped with 1 failed step" in text
        assert "Partial result: built from the work done before the session ended." in text
        assert "Why: cost budget used up ($0.05 of $0.05)" in text


async def test_the_result_is_markdown_whose_markup_and_links_do_nothing(partial):
    app = make_app(events=partial)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="the events shown")
        await pilot.press("R")
        result = app.screen
        source = result.query_one(Markdown).source
        assert "\x1b" not in source and "\x07" not in source
        assert "[@click=app.quit]do not click[/]" in source
        paragraphs = [str(p._content) for p in result.query(MarkdownParagraph)]
        assert any("[@click=app.quit]do not click[/] and [bold]not bold[/bold]" in p for p in paragraphs)
        literal = next(p for p in result.query(MarkdownParagraph) if "do not click" in str(p._content))
        await pilot.click(literal, offset=(3, 0))  # on the text "[@click=app.quit]"
        link = next(p for p in result.query(MarkdownParagraph) if "the design" in str(p._content))
        await link.run_action("link('app.quit')")  # what clicking the link does
        await pilot.pause()
        assert app.is_running and app.screen is result
        assert "Link (not opened): app.quit" in notices(app)


def loader(events, gate: asyncio.Event | None = None):
    async def load(after: int, limit: int):
        if after and gate is not None:
            await gate.wait()  # the first page now, the rest when the test says so
        return events[after : after + min(limit, 20)]  # a few pages, however short the session

    return load


async def test_replay_shows_the_final_result_wherever_it_is_once_loaded(partial):
    events = partial
    gate = asyncio.Event()
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = ReplayScreen(loader(events, gate), len(events), playing=False)
        await app.push_screen(screen)
        await until(pilot, lambda: screen._shown > 0, what="first page")
        await pilot.press("R")
        assert app.screen is screen
        assert "Still loading the session; its result shows once it is all here." in notices(app)
        gate.set()
        await until(pilot, lambda: screen.replay.complete, what="whole session")
        assert screen._shown == 1  # still at the start
        await pilot.press("R")
        assert isinstance(app.screen, ResultScreen)
        assert "stopped with 1 failed step" in banner(app) and "Partial result" in banner(app)
        assert "token bucket" in app.screen.query_one(Markdown).source


@pytest.fixture
def cut_short():
    """The recorded session without its session.finished: its recording process died."""
    return ended()[:-1]


async def test_replay_of_a_recording_cut_short_has_no_result(cut_short):
    events = cut_short
    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = ReplayScreen(loader(events), len(events), playing=False)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.replay.complete, what="whole session")
        await pilot.press("R")
        assert app.screen is screen
        assert "No result: the recording ends before the session finished." in notices(app)


@pytest.fixture
def two_sessions():
    """A finished session with a partial result, and a later one still being recorded."""
    partial = stopped_partial("5e55000000a1")
    running = [e.model_copy(update={"ts": e.ts + 3600}) for e in ended("5e55000000b2")[:60]]
    return partial, running


async def test_browser_shows_a_stored_result_or_says_there_is_none(tmp_path, two_sessions):
    partial, running = two_sessions
    store = await SessionStore.open(tmp_path / "results.db")
    await publish(store, partial)
    await publish(store, running)
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and len(app.screen.rows) == 2, what="rows")
        browser = app.screen
        assert browser.current().id == "5e55000000b2"  # newest first: the running one
        await pilot.press("R")
        await until(pilot, lambda: any("No result yet" in n for n in notices(app)), what="notice")
        assert app.screen is browser
        assert "No result yet: the session is running." in notices(app)
        browser.query_one(DataTable).move_cursor(row=1)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), what="result screen")
        assert "stopped with 1 failed step" in banner(app) and "Partial result" in banner(app)
        assert app.screen.query_one(Markdown).source.startswith("# Rate limiter")
        assert "\x1b" not in app.screen.query_one(Markdown).source
        await pilot.press("escape")
        assert app.screen is browser
    await store.close()


async def test_r_key_is_free_on_every_screen_it_opens_from():
    """`R` does one thing on each screen that has it, and no dialog uses it."""
    for screen_type in (SessionScreen, ReplayScreen, BrowserScreen):
        keys = [key for key, binding in screen_type._merged_bindings if binding.action == "result"]
        clashing = [b for key, b in screen_type._merged_bindings if key == "R" and b.action != "result"]
        assert keys == ["R"] and not clashing, screen_type

"""The session browser: newest first, search, filters, delete, export, paging, open for replay."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from textual.widgets import DataTable, Input, Select

from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from sessions.store import SessionStore
from tests.bench.bench_store import many_sessions
from tests.sessions.helpers import record
from tests.tui.helpers import until
from tui.app import make_app
from tui.screens.browser import PAGE, BrowserScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.replay import ReplayScreen

SIZE = (200, 50)


@pytest.fixture
async def store(tmp_path):
    store = await SessionStore.open(tmp_path / "browse.db")
    await record(store, task="Migrate billing to PostgreSQL")
    await record(store, task="Write the on-call runbook", pattern="review")
    await record(store, task="Plan the data retention policy", pattern="discussion",
                 provider=SimulatedProvider(seed=1, speed=0, faults=parse_faults("overload")))
    yield store
    await store.close()


async def browser(pilot) -> BrowserScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, BrowserScreen) and pilot.app.screen.rows, what="rows")
    return pilot.app.screen


def titles(screen: BrowserScreen) -> list[str]:
    table = screen.query_one(DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def test_rows_newest_first_with_status_tokens_and_cost(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        assert titles(screen) == ["Plan the data retention policy", "Write the on-call runbook", "Migrate billing to PostgreSQL"]
        first = screen.query_one(DataTable).get_row_at(0)
        assert "failed" in str(first[3]) and "✗" in str(first[3])
        assert first[2] == "discussion"
        assert "task:" in str(screen.query_one("#preview").render())


async def test_incremental_search_over_task_and_agent_output(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        await pilot.press("slash")
        await pilot.press(*"runbook")
        await until(pilot, lambda: titles(screen) == ["Write the on-call runbook"], what="search result")
        screen.query_one("#search", Input).value = "PostgreSQL"
        await until(pilot, lambda: titles(screen) == ["Migrate billing to PostgreSQL"], what="second search")
        assert "1" in str(screen.query_one("#title").render())


async def test_filters_by_pattern_and_status(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        screen.query_one("#pattern", Select).value = "review"
        await until(pilot, lambda: titles(screen) == ["Write the on-call runbook"], what="pattern filter")
        screen.query_one("#pattern", Select).clear()
        screen.query_one("#status", Select).value = "failed"
        await until(pilot, lambda: titles(screen) == ["Plan the data retention policy"], what="status filter")


async def test_delete_asks_first(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert len(titles(screen)) == 3
        await pilot.press("d")
        await pilot.press("y")
        await until(pilot, lambda: len(titles(screen)) == 2, what="deleted")
        assert await store.count_sessions() == 2


async def test_export_writes_markdown_and_json_and_shows_the_path(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await browser(pilot)
        await pilot.press("e")
        await until(pilot, lambda: list(tmp_path.glob("huddle-*.md")), what="markdown export")
        await pilot.press("E")
        await until(pilot, lambda: list(tmp_path.glob("huddle-*.json")), what="json export")
        messages = [str(n.message) for n in app._notifications]
        assert any(str(tmp_path) in m and m.endswith(".md") for m in messages)
    markdown = next(tmp_path.glob("huddle-*.md")).read_text()
    assert "Plan the data retention policy" in markdown
    exported = json.loads(next(tmp_path.glob("huddle-*.json")).read_text())
    assert exported["events"][0]["kind"] == "session.started"
    assert oct(os.stat(next(tmp_path.glob("huddle-*.json"))).st_mode & 0o777) == "0o600"


async def test_enter_opens_the_session_for_replay(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await browser(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="replay")
        await until(pilot, lambda: app.screen.view.task == "Plan the data retention policy", what="replayed task")
        await pilot.press("q")
        assert isinstance(app.screen, BrowserScreen)


async def test_rows_load_in_pages_as_the_cursor_moves(tmp_path):
    await asyncio.to_thread(many_sessions, tmp_path / "many.db", 1_000)
    store = await SessionStore.open(tmp_path / "many.db")
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        assert len(screen.rows) == PAGE and screen.total == 1_000
        table = screen.query_one(DataTable)
        for _ in range(3):
            table.move_cursor(row=table.row_count - 1)
            await until(pilot, lambda: table.row_count > PAGE, what="next page")
        assert len(screen.rows) == table.row_count >= 2 * PAGE
        assert len(set(screen.rows)) == len(screen.rows)  # no row twice
        assert "of 1,000" in str(screen.query_one("#title").render())
    await store.close()

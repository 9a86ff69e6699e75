"""The session browser: newest first, search, filters, delete, export, paging, open for replay."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from textual.widgets import DataTable, Input, Select
from textual.widgets.data_table import ColumnKey

from engine.patterns import PATTERNS, short_name
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from sessions.store import SessionStore
from tests.bench.bench_store import many_sessions
from tests.sessions.helpers import record
from tests.tui.focus import shows_focus, tab_stops
from tests.tui.helpers import Leaving, until
from tui.app import make_app
from tui.screens.browser import PAGE, BrowserScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.launch import LaunchScreen
from tui.screens.replay import ReplayScreen
from tui.widgets.scroll_box import ScrollBox

SIZE = (200, 50)


@pytest.fixture
async def store(tmp_path):
    async with await SessionStore.open(tmp_path / "browse.db") as store:
        await record(store, task="Migrate billing to PostgreSQL")
        await record(store, task="Write the on-call runbook", pattern="review")
        await record(store, task="Plan the data retention policy", pattern="discussion",
                     provider=SimulatedProvider(seed=1, speed=0, faults=parse_faults("overload")))
        yield store


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


@pytest.fixture
async def many(tmp_path):
    """A store of 1,000 sessions: ten pages."""
    await asyncio.to_thread(many_sessions, tmp_path / "many.db", 1_000)
    async with await SessionStore.open(tmp_path / "many.db") as store:
        yield store


async def test_rows_load_in_pages_as_the_cursor_moves(many):
    app = make_app(store=many, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        assert len(screen.rows) == PAGE and screen.total == 1_000
        table = screen.query_one(DataTable)
        for page in range(2, 5):
            table.move_cursor(row=table.row_count - 1)
            await until(pilot, lambda: table.row_count == page * PAGE, what=f"page {page}")
        assert len(screen.rows) == table.row_count == 4 * PAGE
        assert len(set(screen.rows)) == len(screen.rows)  # no row twice
        assert "400 of 1,000" in str(screen.query_one("#title").render())


@pytest.mark.parametrize("how", ["back", "quit"])
async def test_leaving_while_a_page_loads_stops_the_loading_before_any_widget_goes(many, monkeypatch, how):
    loading, release = asyncio.Event(), asyncio.Event()
    list_sessions = many.list_sessions

    async def held(**query):
        rows = await list_sessions(**query)
        if query.get("offset"):  # a next page: read, then held until the screen has gone
            loading.set()
            await release.wait()
        return rows

    monkeypatch.setattr(many, "list_sessions", held)
    watch = Leaving()
    app = make_app(store=many)
    async with app.run_test(size=SIZE, message_hook=watch) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="launch screen")
        await pilot.press("ctrl+o")
        screen = await browser(pilot)
        table = screen.query_one(DataTable)
        table.move_cursor(row=table.row_count - 1)
        await loading.wait()
        watch.leaving(screen)
        if how == "back":
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, LaunchScreen) and not screen.is_attached, what="back")
            release.set()
            await pilot.pause()
            assert table.row_count == PAGE  # the page never arrived
    release.set()  # quitting: the app has closed with the page still held
    assert watch.stopped_first and all(watch.stopped_first)


# -- at 80 columns, sorting, the preview, search while typing, focus ----------------------


def test_every_pattern_has_a_short_name_of_its_own():
    names = [short_name(pattern) for pattern in PATTERNS]
    assert len(set(names)) == len(names) and all(0 < len(name) <= 6 for name in names)
    assert short_name("a-pattern-from-a-plugin") == "a-patt"  # one huddle does not know: cut


async def test_at_80_columns_the_pattern_column_stays_in_short(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await browser(pilot)
        table = screen.query_one(DataTable)
        assert "Pattern" in [str(column.label) for column in table.columns.values()]
        assert [str(table.get_cell_at((i, 2))) for i in range(3)] == ["disc", "review", "orch"]
        assert sum(column.get_render_width(table) for column in table.columns.values()) <= 80 - 2  # no sideways scroll


def test_every_column_sorts_by_a_key_the_store_knows():
    from sessions.store import SORT_KEYS
    from tui.screens.browser import COLUMNS, COMPACT, SORTS

    assert {label.lower() for label, _ in (*COLUMNS, *COMPACT)} == set(SORTS)
    assert set(SORTS.values()) <= set(SORT_KEYS)


def header(screen: BrowserScreen, key: str) -> str:
    return str(screen.query_one(DataTable).columns[ColumnKey(key)].label)


async def test_s_sorts_by_the_next_column_and_shift_s_flips_the_order(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        assert header(screen, "started") == "Started ▼"
        await pilot.press("s")  # the title, A to Z
        await until(pilot, lambda: header(screen, "title") == "Title ▲", what="sorted by title")
        assert titles(screen) == ["Migrate billing to PostgreSQL", "Plan the data retention policy", "Write the on-call runbook"]
        assert header(screen, "started") == "Started"
        await pilot.press("S")
        await until(pilot, lambda: header(screen, "title") == "Title ▼", what="flipped")
        assert titles(screen) == ["Write the on-call runbook", "Plan the data retention policy", "Migrate billing to PostgreSQL"]
        await pilot.press("s")  # the pattern, A to Z
        await until(pilot, lambda: header(screen, "pattern") == "Pattern ▲", what="sorted by pattern")
        assert [str(screen.query_one(DataTable).get_cell_at((i, 2))) for i in range(3)] == ["discussion", "orchestrator", "review"]


async def test_a_click_on_a_header_sorts_by_its_column_and_a_second_flips_it(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        table = screen.query_one(DataTable)
        columns = list(table.columns.values())
        assert str(columns[6].label) == "Cost"
        x = sum(column.get_render_width(table) for column in columns[:6]) + 2  # inside its header
        costs = sorted((row.cost for row in screen.rows.values()), reverse=True)
        await pilot.click(DataTable, offset=(x, 0))
        await until(pilot, lambda: header(screen, "cost") == "Cost ▼", what="sorted by cost")
        assert [row.cost for row in (screen.rows[key] for key in screen.rows)] == costs
        await pilot.click(DataTable, offset=(x, 0))
        await until(pilot, lambda: header(screen, "cost") == "Cost ▲", what="flipped")
        assert [screen.rows[key].cost for key in screen.rows] == costs[::-1]


async def test_sorted_rows_load_in_pages_in_the_same_order(many):
    app = make_app(store=many, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        await pilot.press("s")  # the title, A to Z: not the order the rows were recorded in
        await until(pilot, lambda: header(screen, "title") == "Title ▲", what="sorted by title")
        table = screen.query_one(DataTable)
        table.move_cursor(row=table.row_count - 1)
        await until(pilot, lambda: table.row_count == 2 * PAGE, what="page 2")
        everything = sorted((f"Task number {i}" for i in range(1_000)), key=str.lower)
        assert titles(screen) == everything[: 2 * PAGE]


async def test_the_preview_shows_the_whole_task(tmp_path):
    task = "Migrate billing to PostgreSQL.\n" + "Keep every invoice and its history, " * 20 + "and finish by THE END."
    async with await SessionStore.open(tmp_path / "long.db") as store:
        await record(store, task=task)
        app = make_app(store=store, start="browser")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browser(pilot)
            await pilot.pause()
            shown = str(screen.query_one("#preview").render())
            assert " ".join(task.split()) in " ".join(shown.split())
            box = screen.query_one("#preview-box", ScrollBox)
            assert box.max_scroll_y > 0 and box.focusable  # more than fits: it scrolls, from the keyboard too


async def test_search_shows_each_key_at_once_and_asks_the_store_once_typing_pauses(store, monkeypatch):
    asked: list[str | None] = []
    list_sessions = store.list_sessions

    async def counted(**query):
        asked.append(query.get("search"))
        return await list_sessions(**query)

    monkeypatch.setattr(store, "list_sessions", counted)
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        screen.search_delay = 30  # far longer than this test types for
        asked.clear()
        await pilot.press("slash")
        search = screen.query_one("#search", Input)
        for typed in ("r", "ru", "run", "runb"):
            # A screen that waits out the delay in its handler would hold the key here.
            await asyncio.wait_for(pilot.press(typed[-1]), timeout=5)
            assert search.value == typed and typed in search.render_line(0).text
            assert asked == [] and len(titles(screen)) == 3  # no query yet, the rows as they were
        await pilot.press("enter")  # enter searches now
        await until(pilot, lambda: titles(screen) == ["Write the on-call runbook"], what="search result")
        assert asked == ["runb"] and screen.query_one(DataTable).has_focus


@pytest.mark.parametrize("size", [(200, 50), (80, 24)])
async def test_tab_stops_each_show_their_focus(tmp_path, size):
    task = "Plan the data retention policy. " + "Say what is kept, where and for how long. " * 12
    async with await SessionStore.open(tmp_path / "tab.db") as store:
        await record(store, task=task)
        app = make_app(store=store, start="browser")
        async with app.run_test(size=size) as pilot:
            screen = await browser(pilot)
            stops = await tab_stops(pilot, screen.query_one("#search"))
            expected = ["search", "pattern", "status", "sessions"]
            if screen.query_one("#preview-box", ScrollBox).max_scroll_y > 0:
                expected.append("preview-box")
            assert [stop.id for stop in stops] == expected
            assert "preview-box" in expected or size != (80, 24)
            for stop in stops:
                assert await shows_focus(pilot, stop), f"{stop.id} shows no focus"

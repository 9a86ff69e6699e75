"""The browser and a session's scratch folder: the preview says how many files its code
left and where (`f` lists them), and deleting the session deletes the folder."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from sessions.scratch import scratch_folder
from sessions.store import SessionStore
from tests.hostile import SHORT, SHORT_VISIBLE, unsafe
from tests.sessions.helpers import record
from tests.tui.helpers import until
from tests.tui.test_browser import browser
from tests.tui.test_scratch_cli import write
from tui.app import make_app
from tui.screens.browser import BrowserScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.files import FilesScreen

SIZE = (200, 50)


@pytest.fixture
async def store(tmp_path, monkeypatch):
    """Two sessions: the newer (listed first) with a scratch folder of three files, the older with none."""
    monkeypatch.setenv("HUDDLE_SCRATCH", str(tmp_path / "scratch"))
    async with await SessionStore.open(tmp_path / "browse.db") as store:
        await record(store, task="Plan the data retention policy")
        await record(store, task="Write a CSV importer")
        yield store


def preview(screen: BrowserScreen) -> str:
    return str(screen.query_one("#preview").render())


async def newest(store: SessionStore) -> str:
    return (await store.list_sessions(limit=1))[0].id


async def test_the_preview_says_how_many_files_and_where(store):
    session_id = await newest(store)
    root = write(session_id, {"importer.py": b"x" * 1500, "tests/test_importer.py": b"y" * 600, f"{SHORT}.txt": b"z"})
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        line = f"scratch: 3 files (2.1 KB) in {root}  (f lists them)"
        await until(pilot, lambda: line in preview(screen), what="the files line")
        await pilot.press("down")  # the older session has no folder: no line
        await until(pilot, lambda: "task: Plan the data" in preview(screen), what="the older session")
        await until(pilot, lambda: screen.scratch is not None and screen.scratch[0] != session_id, what="its folder read")
        assert "scratch:" not in preview(screen)
        await pilot.press("up")
        await until(pilot, lambda: line in preview(screen), what="the files line again")


async def test_f_lists_the_files_names_shown_literally(store):
    session_id = await newest(store)
    root = write(session_id, {"importer.py": b"x" * 1500, f"{SHORT}.txt": b"z"})
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await browser(pilot)
        await pilot.press("f")
        assert isinstance(app.screen, FilesScreen)
        files = app.screen
        await until(pilot, lambda: files.scratch is not None, what="the folder read")
        assert str(files.query_one("#where").render()) == f"2 files (1.5 KB) in {root}"
        listed = str(files.query_one("#files").render())
        lines = listed.splitlines()
        assert len(lines) == 2 and any(line.startswith("importer.py ") and line.endswith(" 1.5 KB") for line in lines)
        assert all(visible in listed for visible in SHORT_VISIBLE) and unsafe(listed) == []
        assert app.is_running  # [@click=app.quit] in a file name did nothing
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen)


async def test_a_session_without_files_lists_none(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await browser(pilot)
        await pilot.press("f")
        files = app.screen
        assert isinstance(files, FilesScreen)
        await until(pilot, lambda: files.scratch is not None, what="the folder read")
        assert str(files.query_one("#where").render()).startswith("no files (no scratch folder at ")
        assert not files.query_one("#list").display


async def test_deleting_a_session_deletes_its_scratch_folder(store):
    session_id = await newest(store)
    root = write(session_id, {"importer.py": b"x"})
    older = write((await store.list_sessions())[1].id, {"keep.txt": b"k"})
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        screen = await browser(pilot)
        await until(pilot, lambda: "scratch: 1 file" in preview(screen), what="the files line")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        assert "and 1 file its code left" in str(app.screen.query_one("#detail").render())
        await pilot.press("y")
        await until(pilot, lambda: screen.query_one(DataTable).row_count == 1, what="deleted")
        await until(pilot, lambda: not root.exists(), what="the folder deleted")
    assert (older / "keep.txt").exists()
    assert not scratch_folder(session_id).exists()

"""Time to first paint: the browser on 10,000 sessions, and a 100,000-event session opened for replay.

Both run the real app under `App.run_test` on real databases; "first paint"
is the first frame drawn that shows the screen with its content (rows in the
browser; agent panels in the replay), timed from the moment the screen is
asked for. The app's own start-up is reported separately.

Each is measured against a bare Textual app in the same run, timed the same way:
- the browser, against a screen that reads the same number of rows with `sqlite3`
  into a `DataTable` (no store, no models, no filters);
- the replay, against a screen that reads the session's event rows with `sqlite3`,
  unparsed, and shows how many: the least a replay that reads its events does.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Static

from sessions.store import SessionStore
from tests.bench.bench_store import EVENTS, SESSION_ID, SESSIONS, many_sessions, recorder_case, session_events
from tests.bench.report import Report
from tui.app import HuddleApp
from tui.screens.browser import BrowserScreen
from tui.screens.replay import ReplayScreen


ROUNDS = 5
BROWSER_TIMES = 4.0
"""The browser's first paint, at most this many times the bare table's."""
REPLAY_TIMES = 1.5
"""The replay's first paint, at most this many times a bare read of the session's events."""


class BareRows(Screen[None]):
    """The browser's baseline: the newest `count` sessions read with sqlite3 into a DataTable."""

    def __init__(self, path: Path, count: int) -> None:
        super().__init__()
        self.path, self.count, self.filled = path, count, False

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("session", "status", "pattern", "title", "started")
        with sqlite3.connect(self.path) as db:
            sql = "SELECT id, status, pattern, title, created_at FROM sessions ORDER BY created_at DESC LIMIT ?"
            table.add_rows(db.execute(sql, (self.count,)))
        self.filled = True


class BareEvents(Screen[None]):
    """The replay's baseline: a session's event rows read with sqlite3, unparsed; their count shown."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.filled = path, False

    def compose(self) -> ComposeResult:
        yield Static()

    def on_mount(self) -> None:
        with sqlite3.connect(self.path) as db:
            sql = "SELECT seq, kind, agent, data FROM events WHERE session_id = ? ORDER BY seq"
            self.query_one(Static).update(f"{len(db.execute(sql, (SESSION_ID,)).fetchall()):,} events")
        self.filled = True


def bare_paint(make: Callable[[], BareRows | BareEvents]) -> float:
    """The best of `ROUNDS` first paints of a bare app opening a screen `make()` makes."""
    async def once() -> float:
        app, screen = App[None](), make()
        return await first_paint(app, lambda: app.push_screen(screen), lambda: app.screen is screen and screen.filled)

    return min(asyncio.run(once()) for _ in range(ROUNDS))


def against(report: Report, what: str, runs: list[float], bare_what: str, bare: float, limit: float) -> None:
    """huddle's first paints of a screen (best and worst of the rounds) beside the bare app's best."""
    report.figure(f"{what}: first paint (best of {ROUNDS})", min(runs), "ms")
    report.figure(f"  worst of the {ROUNDS}", max(runs), "ms")
    report.figure(f"  {bare_what} (best of {ROUNDS})", bare, "ms")
    report.target("  as a multiple of that", min(runs) / bare, limit)


async def first_paint(app: App[None], open_screen, ready) -> float:
    """Milliseconds from `open_screen()` to the first frame drawn once `ready()` holds."""
    painted: list[float] = []

    def on_display() -> None:
        if not painted and ready():
            painted.append(time.perf_counter())

    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.2)
        app.post_display_hook = on_display  # type: ignore[method-assign]
        started = time.perf_counter()
        open_screen()
        while not painted:
            await asyncio.sleep(0.001)
        await pilot.pause(0.2)
    return (painted[0] - started) * 1000


async def app_start(path: Path) -> float:
    started = time.perf_counter()
    store = await SessionStore.open(path)
    app = HuddleApp(store=store, start=None)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        elapsed = (time.perf_counter() - started) * 1000
    await store.close()
    return elapsed


async def browser_paint(path: Path) -> tuple[float, int]:
    store = await SessionStore.open(path)
    app = HuddleApp(store=store, start=None)
    screen = BrowserScreen()

    elapsed = await first_paint(app, lambda: app.push_screen(screen), lambda: app.screen is screen and bool(screen.rows))
    rows = len(screen.rows)
    await store.close()
    return elapsed, rows


async def replay_paint(path: Path) -> tuple[float, int]:
    store = await SessionStore.open(path)
    row = await store.get_session(SESSION_ID)
    app = HuddleApp(store=store, start=None)

    def ready() -> bool:
        screen = app.screen
        return isinstance(screen, ReplayScreen) and bool(screen.panels) and screen._shown > 0

    elapsed = await first_paint(app, lambda: app.open_replay(row), ready)
    await store.close()
    return elapsed, row.last_seq


def main() -> bool:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
        folder = Path(scratch)
        many_sessions(folder / "many.db", SESSIONS)
        events = asyncio.run(session_events(EVENTS))
        asyncio.run(recorder_case(events, folder / "replay.db"))

        report.figure("app start-up with its database, to the first frame", asyncio.run(app_start(folder / "many.db")), "ms")
        runs = [asyncio.run(browser_paint(folder / "many.db")) for _ in range(ROUNDS)]
        rows = runs[0][1]
        against(report, f"browser on {SESSIONS:,} sessions, {rows} rows loaded", [ms for ms, _ in runs],
                f"bare DataTable of the {rows} newest, by sqlite3", bare_paint(lambda: BareRows(folder / "many.db", rows)),
                BROWSER_TIMES)
        runs = [asyncio.run(replay_paint(folder / "replay.db")) for _ in range(ROUNDS)]
        against(report, f"replay of a {runs[0][1]:,}-event session", [ms for ms, _ in runs],
                "bare read of its event rows, by sqlite3", bare_paint(lambda: BareEvents(folder / "replay.db")), REPLAY_TIMES)
    return report.ok


if __name__ == "__main__":
    main()

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
        self.path, self.count, self.rows = path, count, 0

    def compose(self) -> ComposeResult:
        yield DataTable()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("session", "status", "pattern", "title", "started")
        with sqlite3.connect(self.path) as db:
            sql = "SELECT id, status, pattern, title, created_at FROM sessions ORDER BY created_at DESC LIMIT ?"
            self.rows = len(table.add_rows(db.execute(sql, (self.count,))))


class BareEvents(Screen[None]):
    """The replay's baseline: a session's event rows read with sqlite3, unparsed; their count shown."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.read = path, 0

    def compose(self) -> ComposeResult:
        yield Static()

    def on_mount(self) -> None:
        with sqlite3.connect(self.path) as db:
            sql = "SELECT seq, kind, agent, data FROM events WHERE session_id = ? ORDER BY seq"
            self.read = len(db.execute(sql, (SESSION_ID,)).fetchall())
        self.query_one(Static).update(f"{self.read:,} events")


async def bare_paint(screen: BareRows | BareEvents) -> float:
    app = App[None]()
    return await first_paint(app, lambda: app.push_screen(screen), lambda: app.screen is screen and bool(
        screen.rows if isinstance(screen, BareRows) else screen.read))


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
        browser, rows = min(ms for ms, _ in runs), runs[0][1]
        bare = min(asyncio.run(bare_paint(BareRows(folder / "many.db", rows))) for _ in range(ROUNDS))
        report.figure(f"browser on {SESSIONS:,} sessions: first paint with rows (best of {ROUNDS})", browser, "ms")
        report.figure(f"  worst of the {ROUNDS}", max(ms for ms, _ in runs), "ms")
        report.figure("  rows loaded for it", rows)
        report.figure(f"  bare DataTable of the {rows} newest rows, by sqlite3 (best of {ROUNDS})", bare, "ms")
        report.target("  browser as a multiple of the bare table", browser / bare, BROWSER_TIMES)
        runs = [asyncio.run(replay_paint(folder / "replay.db")) for _ in range(ROUNDS)]
        replay, events = min(ms for ms, _ in runs), runs[0][1]
        bare = min(asyncio.run(bare_paint(BareEvents(folder / "replay.db"))) for _ in range(ROUNDS))
        report.figure(f"replay of a {events:,}-event session: first paint (best of {ROUNDS})", replay, "ms")
        report.figure(f"  worst of the {ROUNDS}", max(ms for ms, _ in runs), "ms")
        report.figure(f"  bare read of its event rows, by sqlite3, shown (best of {ROUNDS})", bare, "ms")
        report.target("  replay as a multiple of the bare read", replay / bare, REPLAY_TIMES)
    return report.ok


if __name__ == "__main__":
    main()

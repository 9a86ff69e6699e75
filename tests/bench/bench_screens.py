"""Time to first paint: the browser on 10,000 sessions, and a 100,000-event session opened for replay.

Both run the real app under `App.run_test` on real databases; "first paint"
is the first frame drawn that shows the screen with its content (rows in the
browser; agent panels in the replay), timed from the moment the screen is
asked for. The app's own start-up is reported separately.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from sessions.store import SessionStore
from tests.bench.bench_store import EVENTS, SESSION_ID, SESSIONS, many_sessions, recorder_case, session_events
from tests.bench.report import Report
from tui.app import HuddleApp
from tui.screens.browser import BrowserScreen
from tui.screens.replay import ReplayScreen


async def first_paint(app: HuddleApp, open_screen, ready) -> float:
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
        runs = [asyncio.run(browser_paint(folder / "many.db")) for _ in range(3)]
        browser = min(ms for ms, _ in runs)
        report.target(f"browser on {SESSIONS:,} sessions: first paint with rows (best of 3)", browser, 300, unit="ms")
        report.figure("  worst of the three", max(ms for ms, _ in runs), "ms")
        report.figure("  rows loaded for it", runs[0][1])
        runs = [asyncio.run(replay_paint(folder / "replay.db")) for _ in range(3)]
        replay = min(ms for ms, _ in runs)
        report.target(f"replay of a {runs[0][1]:,}-event session: first paint (best of 3)", replay, 500, unit="ms")
        report.figure("  worst of the three", max(ms for ms, _ in runs), "ms")
    return report.ok


if __name__ == "__main__":
    main()

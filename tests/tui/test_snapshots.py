"""Snapshot tests: what the screen looks like. Each says what you should see.

Update with `pytest tests/tui/test_snapshots.py --snapshot-update` after a
deliberate change, and look at the report before committing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.providers.simulated import SimulatedProvider
from sessions.store import SessionStore
from tui.app import HuddleApp
from tui.screens.replay import ReplayScreen
from tests.tui.helpers import live, screen_of, until
from tests.tui.scenes import mid_run, recorded_session
from tui.app import make_app


def test_mid_run_screen(snap_compare):
    """You should see four agent panels in a 2x2 grid: lead done with its plan,
    researcher done, the coder streaming its implementation of s3 (status
    "streaming"), the reviewer idle; the timeline on the right with the
    session start, a retried rate limit, the plan, the approval and the
    delegations; budget gauges and key hints at the bottom."""
    assert snap_compare(make_app(events=mid_run()), terminal_size=(200, 50))


def test_approval_dialog(snap_compare):
    """You should see the approval dialog over the session: "Escalation: plan
    from lead", why, the policy rule, the plan as a tree with four steps, and the
    Approve / Reject / Edit / Always allow buttons."""
    session = live(seed=3, clock=lambda: 1_800_000_000.0, session_id="a99a0001dd0e",
                   provider=SimulatedProvider(seed=3, speed=0))

    async def wait_for_dialog(pilot):
        await until(pilot, lambda: getattr(pilot.app.screen, "current", None) is not None, what="dialog")
        await pilot.pause(0.1)

    assert snap_compare(make_app(session), terminal_size=(200, 50), run_before=wait_for_dialog)


def test_zoomed_panel(snap_compare):
    """You should see the coder's panel alone, full width, with its streamed
    text wrapped to the width, and no timeline."""
    async def zoom_coder(pilot):
        await pilot.pause(0.1)
        screen = screen_of(pilot.app)
        screen.focus_agent("coder")
        await pilot.press("z")
        await pilot.pause(0.1)

    assert snap_compare(make_app(events=mid_run()), terminal_size=(200, 50), run_before=zoom_coder)


def test_small_terminal(snap_compare):
    """You should see the same mid-run session fitted into 80x24: four narrow
    panels, the timeline beside them, one line each for budgets and keys."""
    assert snap_compare(make_app(events=mid_run()), terminal_size=(80, 24))


# -- launch, browser and replay -------------------------------------------------------

FIXED_CONFIG = "/nonexistent/huddle-config"


@pytest.fixture
def stable(monkeypatch):
    """Paths and times that do not change from run to run."""
    monkeypatch.setenv("HUDDLE_CONFIG_DIR", FIXED_CONFIG)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    time.tzset()


def browser_app():
    """A browser on three fixed sessions in a database at a fixed path."""
    folder = Path("/tmp/huddle-snapshots")  # a fixed path: the browser shows it
    folder.mkdir(exist_ok=True)
    path = folder / "browser.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)

    base = recorded_session()  # outside the loop below: it runs a session of its own

    async def fill() -> None:
        from tests.sessions.helpers import publish

        store = await SessionStore.open(path)
        for index, (task, status_events) in enumerate([
            ("Migrate billing to PostgreSQL", base),
            ("Write the on-call runbook", base[:60]),
            ("Plan the data retention policy", base),
        ]):
            session_id = f"5e55{index:08x}"
            shift = index * 3600.0
            events = [
                e.model_copy(update={"session_id": session_id, "ts": e.ts + shift,
                                     **({"task": task, "title": task} if e.kind == "session.started" else {})})
                for e in status_events
            ]
            await publish(store, events)
        await store.close()

    asyncio.run(fill())
    return path


def test_launch_screen(snap_compare, stable):
    """You should see the launch screen: the patterns on the left with orchestrator
    highlighted and its "use when"; its preset team (lead, researcher, coder,
    reviewer with their models) in the middle; on the right the task editor,
    the provider choice with Anthropic disabled and a hint, budgets prefilled
    from the preset ($2, 40 turns, 30 minutes), the escalation policy and Start."""
    assert snap_compare(make_app(), terminal_size=(200, 50))


def test_launch_screen_small(snap_compare, stable):
    """You should see the same launch screen squeezed into 80x24, still usable."""
    assert snap_compare(make_app(), terminal_size=(80, 24))


class BrowsingApp(HuddleApp):
    """Opens its own store on its own loop, and closes it when it ends."""

    CSS_PATH = str(Path(__file__).parents[2] / "tui" / "app.tcss")

    async def on_unmount(self) -> None:
        await self.store.close()


def opening_browser(path: Path):
    async def open_browser(pilot):
        pilot.app.store = await SessionStore.open(path)
        pilot.app.action_browse()
        await until(pilot, lambda: getattr(pilot.app.screen, "rows", None), what="rows")
        await pilot.pause(0.2)

    return open_browser


def test_browser(snap_compare, stable):
    """You should see three sessions, newest first: two completed and one still
    running in the recording (its process is this one), with start time, title,
    pattern, status glyph, agents, tokens, cost and duration; a preview of the
    highlighted session's task and result below."""
    path = browser_app()
    assert snap_compare(BrowsingApp(start=None), terminal_size=(200, 30), run_before=opening_browser(path))


def test_browser_small(snap_compare, stable):
    """You should see the same three sessions at 80x24: the title column shortest,
    start time, status and cost still readable."""
    path = browser_app()
    assert snap_compare(BrowsingApp(start=None), terminal_size=(80, 24), run_before=opening_browser(path))


def test_replay(snap_compare, stable):
    """You should see the mid-run session replayed and paused: the same panels,
    timeline and plan as the live screen at that moment, a "replay" badge, and
    the replay bar saying where playback is (event N of M, paused)."""
    events = list(recorded_session())
    position = len(mid_run())

    async def load(after: int, limit: int):
        return events[after : after + limit]

    async def open_replay(pilot):
        screen = ReplayScreen(load, len(events), playing=False)
        await pilot.app.push_screen(screen)
        await until(pilot, lambda: screen.replay.complete and screen._shown > 0, what="loaded")
        await screen._move_to(position)
        await pilot.pause(0.2)

    assert snap_compare(HuddleApp(start=None), terminal_size=(200, 50), run_before=open_replay)

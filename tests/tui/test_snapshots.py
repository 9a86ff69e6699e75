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


async def wait_for_dialog(pilot):
    """Until the escalation dialog is up, and a moment for it to settle."""
    await until(pilot, lambda: getattr(pilot.app.screen, "current", None) is not None, what="dialog")
    await pilot.pause(0.1)


def test_mid_run_screen(snap_compare):
    """You should see four agent panels in a 2x2 grid, each call's text under one
    rule line naming it ("── s3 · Implement rate limiter"), pinned on a panel's top
    row once scrolled past: lead done with its plan, researcher done, the coder
    streaming its implementation of s3 under its s2 reply (status "streaming"),
    the reviewer idle and empty; the timeline on the right with the session
    start, a retried rate limit, the plan, the approval and the delegations;
    budget gauges and key hints at the bottom."""
    assert snap_compare(make_app(events=mid_run()), terminal_size=(200, 50))


def test_approval_dialog(snap_compare):
    """You should see the approval dialog over the session: "Escalation: plan
    from lead", why, the policy rule, the plan as a tree with four steps, and the
    Approve / Reject / Edit / Always allow buttons."""
    session = live(seed=3, clock=lambda: 1_800_000_000.0, session_id="a99a0001dd0e",
                   provider=SimulatedProvider(seed=3, speed=0))

    assert snap_compare(make_app(session), terminal_size=(200, 50), run_before=wait_for_dialog)


SANDBOXED_CODE = """import csv
from pathlib import Path

rows = list(csv.DictReader(Path("orders.csv").open()))
total = sum(float(row["amount"]) for row in rows)
print(f"{len(rows)} orders, {total:.2f} in all")  # checked by the reviewer
"""


def test_code_approval_dialog(snap_compare, monkeypatch):
    """You should see the approval dialog for a tool use that runs code: "Escalation:
    tool_use from coder", "Tool: run_python · built in", the sandbox line "Sandbox:
    bubblewrap · no network · 30 s · 512 MB · 64 processes · 64 KB output", the tool's
    description, then "Code:" over the six lines of Python, highlighted (keywords, names,
    strings, numbers and the comment each in their colour), and the Run, Refuse and Always
    allow buttons."""
    from tests.tui.test_approval_code import BUBBLEWRAP, runs_code

    runs_code(monkeypatch, "run_python", BUBBLEWRAP, {"code": SANDBOXED_CODE})
    session = live(pattern="runs-code", clock=lambda: 1_800_000_000.0, session_id="c0de0001aa0e")

    assert snap_compare(make_app(session), terminal_size=(120, 40), run_before=wait_for_dialog)


def test_zoomed_panel(snap_compare):
    """You should see the coder's panel alone, full width, its s2 reply then its
    s3 reply streaming, each under its rule line, wrapped to the width; no timeline."""
    async def zoom_coder(pilot):
        await pilot.pause(0.1)
        screen = screen_of(pilot.app)
        screen.focus_agent("coder")
        await pilot.press("z")
        await pilot.pause(0.1)

    assert snap_compare(make_app(events=mid_run()), terminal_size=(200, 50), run_before=zoom_coder)


def test_small_terminal(snap_compare):
    """You should see the same mid-run session fitted into 80x24: a header led by
    the pattern ("orchestrator · 5e55100a1b2c · seed 3") with the status whole; four
    narrow panels whose rule lines are cut to one line; the timeline beside them;
    the budget line whole; the key hints that fit, ending "q Quit  ? keys  ctrl+p
    commands"."""
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

        async with await SessionStore.open(path) as store:
            for index, (task, status_events, pattern) in enumerate([
                ("Migrate billing to PostgreSQL", base, "orchestrator"),
                ("Write the on-call runbook", base[:60], "review"),
                ("Plan the data retention policy", base, "pipeline"),
            ]):
                session_id = f"5e55{index:08x}"
                shift = index * 3600.0
                started = {"task": task, "title": task, "pattern": pattern}
                events = [
                    e.model_copy(update={"session_id": session_id, "ts": e.ts + shift,
                                         **(started if e.kind == "session.started" else {})})
                    for e in status_events
                ]
                await publish(store, events)

    asyncio.run(fill())
    return path


def test_launch_screen(snap_compare, stable):
    """You should see the launch screen: the patterns on the left with orchestrator
    highlighted and its "use when"; its preset team (lead, researcher, coder,
    reviewer with their models) in the middle; on the right the task editor,
    focused, holding the example task "Design a rate limiter for our public REST
    API" selected (so typing replaces it), the provider choice with Anthropic
    disabled and a hint, budgets prefilled from the preset ($2, 40 turns, 30
    minutes), the escalation policy and Start."""
    assert snap_compare(make_app(), terminal_size=(200, 50))


def test_launch_screen_small(snap_compare, stable):
    """You should see the launch screen in one column at 80x24, and on this first
    screen everything from the pattern to the task: the pattern list with
    Orchestrator at its top, the team select, the first lines of the team in a
    box with a scrollbar (the rest scrolls), and the task box with the example
    task selected."""
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
    """You should see three sessions, newest first ("Started ▼" says the sort):
    two completed and one still running in the recording (its process is this
    one), with start time, title, pattern (pipeline, review, orchestrator),
    status glyph, agents, tokens, cost and duration, every column in view;
    below a rule, the highlighted session's whole task, its id, outcome,
    provider, calls, turns and tokens, and its result; the keys, "s Sort" and
    "S Flip order" among them."""
    path = browser_app()
    assert snap_compare(BrowsingApp(start=None), terminal_size=(200, 30), run_before=opening_browser(path))


def test_browser_small(snap_compare, stable):
    """You should see the same three sessions at 80x24, no column cut off: the
    start time without the year, the title, the pattern's short name ("pipe",
    "review", "orch": rows of different patterns look different), status and
    cost; the preview below with the whole task and the tokens."""
    path = browser_app()
    assert snap_compare(BrowsingApp(start=None), terminal_size=(80, 24), run_before=opening_browser(path))


def test_replay(snap_compare, stable):
    """You should see the mid-run session replayed and paused: the same panels
    (each call under its rule line), timeline and plan as the live screen at that
    moment, a "replay" badge, and the replay bar saying where playback is (event N
    of M, paused)."""
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


# -- the result and the keys ---------------------------------------------------------------


def test_result_screen(snap_compare):
    """You should see the result over the finished session: "Result · Design a rate
    limiter…" at the top; a banner saying "■ stopped with 1 failed step", "Partial
    result: built from the work done before the session ended." and "Why: cost
    budget used up ($0.05 of $0.05)"; then the result rendered as Markdown (a
    "Rate limiter" heading, bold "token bucket", a link, a two-item list) with
    `[@click=app.quit]do not click[/] and [bold]not bold[/bold]` shown literally
    and no escape codes; "y copies · escape closes" at the bottom."""
    from tests.tui.endings import stopped_partial

    async def open_result(pilot):
        await until(pilot, lambda: screen_of(pilot.app).view.finished, what="events shown")
        await pilot.press("R")
        await pilot.pause(0.2)

    assert snap_compare(make_app(events=stopped_partial()), terminal_size=(120, 36), run_before=open_result)


def test_help_screen(snap_compare):
    """You should see "Keys · session" over the session screen: under "This screen"
    each key of the session screen on a line of its own (tab, shift+tab, z, m, t,
    a, i, R, /, f, n, N, y, q...) with what it does and a longer hint; under
    "Everywhere" ctrl+q, ctrl+n, ctrl+o, ctrl+b, ? / f1 and ctrl+p; the first key
    highlighted."""

    async def open_help(pilot):
        await until(pilot, lambda: screen_of(pilot.app).view.finished, what="events shown")
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(make_app(events=list(recorded_session())), terminal_size=(140, 40), run_before=open_help)

"""Snapshot tests: what the screen looks like. Each says what you should see.

Update with `pytest tests/tui/test_snapshots.py --snapshot-update` after a
deliberate change, and look at the report before committing.
"""

from __future__ import annotations

from engine.providers.simulated import SimulatedProvider
from tests.tui.helpers import live, screen_of, until
from tests.tui.scenes import mid_run
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

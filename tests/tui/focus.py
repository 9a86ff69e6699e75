"""Focus as the user sees it: which widgets Tab stops at, and whether a stop shows."""

from __future__ import annotations

from typing import Any

from textual.geometry import Spacing
from textual.widget import Widget


def inside(widget: Widget) -> list[Any]:
    """The background of every cell inside the widget's edge, as it is on screen: what
    changes when focus is shown by more than the colour of a border."""
    screen = widget.screen
    region = widget.region.shrink(Spacing(1, 1, 1, 1)) if widget.region.height > 2 else widget.region
    return [screen.get_style_at(x, y).bgcolor for y in range(region.y, region.bottom) for x in range(region.x, region.right)]


async def tab_stops(pilot, start: Widget, limit: int = 30) -> list[Widget]:
    """Every widget Tab stops at, from `start` round to it again."""
    start.focus()
    await pilot.pause()
    stops = [start]
    for _ in range(limit):
        await pilot.press("tab")
        focused = pilot.app.focused
        if focused is start:
            return stops
        stops.append(focused)
    raise AssertionError(f"Tab did not come back to {start!r} in {limit} presses")


async def shows_focus(pilot, widget: Widget) -> bool:
    """Whether the inside of `widget` looks different focused and not."""
    widget.focus()
    await pilot.wait_for_scheduled_animations()  # focus scrolls the widget into view
    assert pilot.app.focused is widget
    focused = inside(widget)
    widget.screen.set_focus(None)
    await pilot.wait_for_scheduled_animations()
    return inside(widget) != focused

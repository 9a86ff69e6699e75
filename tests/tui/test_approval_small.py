"""The approval dialog in an 80x24 terminal: what is at stake takes the room there is,
and is read to its end with the keys, whatever button has the focus."""

from __future__ import annotations

from textual.widgets import Button

from tests.tui.helpers import app_for, live, until
from tui.screens.approval import ApprovalScreen


async def test_a_plan_taller_than_the_dialog_is_read_to_its_end_with_the_keys():
    app = app_for(live(seed=3))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current is not None,
                    what="the plan's dialog")
        dialog = app.screen
        stake, payload = dialog.query_one("#stake"), dialog.query_one("#payload")
        assert not dialog.query_one("#error").display  # nothing went wrong: the line takes no room
        assert dialog.query_one("#buttons").region.y == stake.region.bottom + 1  # the buttons' margin, no more

        def end_in_view() -> bool:
            return payload.virtual_region.bottom <= stake.scroll_y + stake.scrollable_content_region.height

        assert stake.max_scroll_y > 0 and not end_in_view()  # the plan is taller than the dialog
        for _ in range(10):  # the keys a person presses, with the Approve button focused
            if end_in_view():
                break
            await pilot.press("pagedown")
        assert end_in_view() and stake.scroll_y == stake.max_scroll_y
        assert isinstance(app.focused, Button) and app.focused.id == "approve"
        await pilot.press("up")
        assert stake.scroll_y == stake.max_scroll_y - 1
        await pilot.press("pageup", "pageup", "pageup")
        assert stake.scroll_y == 0

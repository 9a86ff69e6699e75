"""The approval dialog for a tool use: the server, the tool, its description and all of
its input; "always allow" of the tool, or of the tool with exactly this input."""

from __future__ import annotations

import pytest

from engine import patterns
from engine.run.tool_approval import ask_to_use
from tests.engine.test_tool_rules import FakeTool
from tests.helpers import pattern_info
from tests.tui.helpers import app_for, live, screen_of, until
from tui.screens.approval import ApprovalScreen

SIZE = (120, 40)
LONG = {"repo": ".", "paths": [f"src/file_{n:03}.py" for n in range(120)] + ["THE_LAST_PATH"]}
"""An input far taller than the dialog."""
DESCRIPTION = "Shows the working tree status: which files changed, which are staged."


def asking(app) -> bool:
    return isinstance(app.screen, ApprovalScreen) and app.screen.current is not None and app.screen.mode == "choose"


@pytest.fixture
def three_uses(monkeypatch):
    """A pattern whose coder asks to use git.status with LONG, with LONG again, then with other input."""

    async def uses(ctx, task):
        tool = FakeTool(description=DESCRIPTION)
        inputs = (LONG, dict(LONG), {"repo": "src"})
        decisions = [await ask_to_use(ctx, "coder", "git.status", tool, payload) for payload in inputs]
        return ", ".join(f"{d.action} by {d.by}" for d in decisions)

    monkeypatch.setitem(patterns.PATTERNS, "three-uses", pattern_info("three-uses", uses))


async def test_the_dialog_shows_server_tool_description_and_the_whole_input(three_uses):
    session = live(pattern="three-uses")
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: asking(app), what="the tool use's dialog")
        dialog = app.screen
        tool_line = str(dialog.query_one("#tool").render())
        assert "Tool: status" in tool_line and "server: git" in tool_line
        assert DESCRIPTION in str(dialog.query_one("#about").render())
        payload = dialog.query_one("#payload")
        shown = str(payload.render())
        assert all(path in shown for path in LONG["paths"])  # nothing cut
        assert payload.outer_size.height >= len(LONG["paths"]) + 4  # every line laid out
        assert str(dialog.query_one("#why").render()) == "Why: coder wants to use git.status"
        stake = dialog.query_one("#stake")

        def last_line_in_view() -> bool:
            return payload.virtual_region.bottom <= stake.scroll_y + stake.scrollable_content_region.height

        assert stake.max_scroll_y > 0 and not last_line_in_view()  # taller than the dialog: it scrolls
        stake.scroll_end(animate=False)
        await pilot.pause()
        assert last_line_in_view()
        screen_rows = app.screen.region
        for button in ("#approve", "#edit", "#reject", "#allow"):  # the choices stay in view
            assert screen_rows.contains_region(dialog.query_one(button).region), button


async def test_always_allow_with_this_input_asks_again_for_other_input(three_uses):
    session = live(pattern="three-uses")
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: asking(app), what="the first use's dialog")
        await pilot.press("a")
        assert app.screen.mode == "scope"
        picks = app.screen.query_one("#picks")
        assert [str(picks.get_option_at_index(i).prompt) for i in range(2)] == [
            "git.status with any input", "git.status with exactly this input",
        ]
        await pilot.press("down", "enter")
        await until(pilot, lambda: asking(app) and app.screen.current.payload == {"repo": "src"}, what="the third use")
        assert len(screen.view.decisions) == 2  # the second, with the same input, was not asked
        rules = [d.rule for d in screen.view.decisions.values()]
        assert rules == ["always allowed by human: git.status with this input"] * 2
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.result == "approve by human, approve by policy, approve by human"


async def test_always_allow_the_tool_approves_any_input_and_escape_goes_back(three_uses):
    session = live(pattern="three-uses")
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: asking(app), what="the first use's dialog")
        await pilot.press("a")
        await pilot.press("escape")
        assert app.screen.mode == "choose" and not app.screen.query_one("#picks").display
        await pilot.press("a", "enter")
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert [d.rule for d in screen.view.decisions.values()] == ["always allowed by human: git.status"] * 3
        assert screen.view.result == "approve by human, approve by policy, approve by policy"

"""Model output is untrusted: markup, actions and escape sequences show literally and do nothing."""

from __future__ import annotations

from engine.policy import ApprovalPolicy
from tests.helpers import ScriptedProvider, orchestrated, plan_of
from tests.tui.helpers import app_for, live, screen_of, until
from tui.screens.reading import ReadingScreen
from tui.widgets.timeline import Timeline

NASTY = (
    "Look: [/ and [bold unclosed and [@click=app.quit]x[/] and [link=x]y[/link]\n"
    "clear screen \x1b[2J title \x1b]0;pwned\x07 bell \x07 back\rspace\n"
    "**markdown** [a link](http://example.com) [click](app.quit)\n"
)


def nasty_plan():
    plan = plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))
    plan["steps"][0]["title"] = "[@click=app.quit]boom[/] \x1b[31mred"
    return plan


async def test_agent_output_with_markup_and_escapes_shows_literally_and_does_nothing():
    provider = ScriptedProvider(orchestrated(nasty_plan(), answer=lambda r: NASTY))
    session = live(policy=ApprovalPolicy(default="approve"), provider=provider)
    app = app_for(session)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.pause(0.1)
        assert app.is_running
        lines = screen.panels["researcher"].stream.text_lines
        text = "\n".join(lines)
        assert "[@click=app.quit]x[/]" in text
        assert "[link=x]y[/link]" in text and "[/ and [bold unclosed" in text
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert "clear screen  title  bell  back" in text  # escapes removed, words kept

        # The step title (model output) in the panel, timeline and plan details.
        step_line = str(screen.panels["researcher"].query_one("#step").render())
        assert "[@click=app.quit]boom[/]" in step_line and "\x1b" not in step_line
        timeline = screen.query_one(Timeline)
        assert any("[@click=app.quit]boom[/]" in timeline.entry_at(i).text for i in range(timeline.option_count))

        # Clicking on the text runs no action.
        panel = screen.panels["researcher"]
        for y in range(2, 12):
            await pilot.click(panel.stream, offset=(20, y))
        assert app.is_running

        # The rendered reply as Markdown: no crash, links do not run actions.
        await pilot.press("tab")
        while screen.focused_panel().agent_name != "researcher":
            await pilot.press("tab")
        await pilot.press("m")
        assert isinstance(app.screen, ReadingScreen)
        await pilot.pause()
        for y in range(1, 8):
            await pilot.click("Markdown", offset=(10, y))
        assert app.is_running
        svg = app.export_screenshot()
        assert "pwned" not in svg or "\x1b]0;" not in svg
        await pilot.press("escape")
        assert app.is_running


async def test_nasty_text_in_an_escalation_payload_is_shown_as_data():
    provider = ScriptedProvider(orchestrated(nasty_plan()))
    session = live(provider=provider)
    app = app_for(session)
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: getattr(app.screen, "current", None) is not None, what="dialog")
        payload = str(app.screen.query_one("#payload").render())
        assert "[@click=app.quit]boom[/]" in payload and "\x1b" not in payload
        await pilot.press("e")
        editor_text = app.screen.query_one("#editor").text
        assert "\\u001b[31mred" in editor_text  # JSON-escaped, never raw
        await pilot.press("escape")
        await pilot.press("enter")
        assert app.is_running

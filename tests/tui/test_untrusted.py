"""Model output is untrusted: markup, actions and escape sequences show literally and do nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual import events
from textual.command import CommandList
from textual.content import Content
from textual.notifications import Notification, Notify
from textual.widgets import DataTable, Select, Static, TextArea
from textual.widgets._select import SelectOverlay

from engine.patterns import get_pattern
from engine.policy import ApprovalPolicy
from sessions.store import SessionStore
from tests.helpers import ScriptedProvider, orchestrated, plan_of
from tests.hostile import SHORT, unsafe
from tests.sessions.helpers import record
from tests.tui.helpers import app_for, live, screen_of, until
from tui.app import make_app
from tui.screens.browser import BrowserScreen
from tui.screens.launch import LaunchScreen
from tui.screens.reading import ReadingScreen
from tui.widgets.pattern_pane import PatternPane
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
        assert "clear screen  title ]0;pwned bell  back" in text  # controls removed, every word kept

        # The step title (model output) in the panel, timeline and plan details.
        step_line = next(line for line in lines if line.startswith("── s1"))
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
        assert '"[@click=app.quit]boom[/] red"' in editor_text  # the text, without its escape
        assert "\x1b" not in editor_text and "\\u001b" not in editor_text
        await pilot.press("escape")
        await pilot.press("enter")
        assert app.is_running


# -- stored and user text in the browser, the palette and the launch screen -------------

MARKUP = "[@click=app.quit]boom[/] [b]bold[/b] [/]"


class NastyStore:
    """A real store whose sessions come back with markup in every text column."""

    def __init__(self, store, **nasty) -> None:
        self._store, self._nasty = store, nasty
        self.path = store.path

    async def count_sessions(self, **filters):
        return await self._store.count_sessions(**filters)

    async def list_sessions(self, **filters):
        return [replace(row, **self._nasty) for row in await self._store.list_sessions(**filters)]

    async def waiting_escalations(self):  # the app's count of what waits in the inbox
        return await self._store.waiting_escalations()


@pytest.fixture
async def nasty_store(tmp_path):
    async with await SessionStore.open(tmp_path / "nasty.db") as store:
        await record(store, task="Migrate billing to PostgreSQL")
        yield NastyStore(store, title=MARKUP, pattern=MARKUP, task=MARKUP, result=MARKUP)


async def test_stored_text_in_the_browser_shows_literally(nasty_store):
    app = make_app(store=nasty_store, start="browser")  # type: ignore[arg-type]
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="rows")
        await pilot.pause(0.1)
        table = app.screen.query_one(DataTable)
        title, pattern = (table.get_row_at(0)[index] for index in (1, 2))
        assert isinstance(pattern, Content) and pattern.plain == MARKUP  # a str cell would be read as markup
        assert title.plain.startswith("[@click=app.quit]boom[/]")
        assert MARKUP in str(app.screen.query_one("#preview").render())
        assert app.is_running


async def test_stored_text_in_the_palette_shows_literally(nasty_store):
    app = make_app(store=nasty_store, start="browser")  # type: ignore[arg-type]
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="rows")
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"billing")
        await until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0, what="a hit")
        shown = str(app.screen.query_one(CommandList).get_option_at_index(0).prompt)
        assert "Session: [@click=app.quit]boom[/]" in shown and f"completed · {MARKUP}" in shown
        assert app.is_running


async def test_team_file_names_in_the_team_list_show_literally(user_config):
    from tui.userfiles import copy_team, teams_dir

    names = ["[@click=app.quit]x", "[b]mine", "[red]team"]  # no "/": it cannot be in a file name
    for name in names:
        path = copy_team("plain", "review", overwrite=True)
        path.rename(teams_dir() / f"{name}.toml")
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="launch screen")
        await pilot.pause(0.1)
        team = app.screen.query_one("#team", Select)
        for name in names:
            team.value = next(value for _, value in team._options if name in str(value))
            await pilot.pause()
            label = str(team.query_one("SelectCurrent #label").render())
            assert label == f"{name} (your team file)"
        team.action_show_overlay()
        await pilot.pause()
        prompts = [str(option.prompt) for option in team.query_one(SelectOverlay).options]
        assert [f"{name} (your team file)" for name in names] == prompts[1:]
        await pilot.press("escape")
        assert app.is_running


# -- what is approved is what is shown; names a model chose; notices; pastes --------------------


async def test_the_approval_dialog_shows_the_plan_it_approves_even_a_member_teams():
    """A member team's plan is asked about under the top-level one: the dialog shows
    the plan in the escalation, every step and its instructions, not the session's."""
    session = live(pattern="hierarchical", team=get_pattern("hierarchical").team())
    app = app_for(session)
    async with app.run_test(size=(200, 50)) as pilot:
        shown: dict[str, str] = {}
        while len(shown) < 2:
            await until(pilot, lambda: getattr(app.screen, "current", None) is not None
                        and app.screen.current.agent not in shown, what="the next plan", timeout=20)
            escalation = app.screen.current
            text = str(app.screen.query_one("#payload").render())
            for step in escalation.payload["steps"]:
                assert f"{step['id']} {step['assigned_to']}  {step['title']}" in text
                assert step["instructions"] in " ".join(text.replace("│", " ").split())
            shown[escalation.agent] = text
            await pilot.press("enter")
        assert list(shown) == ["lead", "eng-lead"]
        assert "eng-coder" in shown["eng-lead"] and "researcher" not in shown["eng-lead"]


async def test_names_a_model_chose_show_as_text_in_the_pattern_pane():
    def script(request):
        if request.tool is not None:  # the router's choice: a specialist nobody has
            return {"specialist": SHORT, "reason": SHORT, "confidence": 0.95}
        return "answered"

    session = live(pattern="routing", team=get_pattern("routing").team(), provider=ScriptedProvider(script),
                   policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.pause(0.1)
        pane = str(screen.query_one(PatternPane).query_one(Static).render())
        assert "Router chose: ]0;T[@click=app.quit]X[/]  HIDDEN rm -rf ~ ok" in pane
        assert unsafe(pane) == [] and app.is_running


async def test_notifications_are_plain_text_without_controls():
    app = make_app()
    notices: list[Notification] = []

    def keep(message: object) -> None:
        if isinstance(message, Notify):
            notices.append(message.notification)

    async with app.run_test(size=(120, 30), message_hook=keep) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="launch screen")
        app.screen.notify(SHORT, title=SHORT)  # a screen's (and a widget's) go through the app's
        await until(pilot, lambda: bool(notices), what="the notice")
    (notice,) = notices
    assert notice.message == notice.title == "]0;T[@click=app.quit]X[/]  HIDDEN rm -rf ~ ok"
    assert not notice.markup


async def test_pasted_text_arrives_without_controls():
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="launch screen")
        await pilot.pause(0.1)
        task = app.screen.query_one("#task", TextArea)
        task.text = ""
        task.focus()
        app.post_message(events.Paste(SHORT))
        await pilot.pause(0.1)
        assert task.text == "]0;T[@click=app.quit]X[/]  HIDDEN rm -rf ~ ok"

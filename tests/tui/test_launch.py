"""The launch screen: pick a pattern and a team, write the task, set budgets and approvals, start."""

from __future__ import annotations

import asyncio

import pytest
from textual import events
from textual.widgets import Input, OptionList, RadioButton, Select, Static, TextArea

from engine.patterns import PATTERNS
from engine.teams import preset
from tui.userfiles import copy_team
from sessions.store import SessionStore
from tests.sessions.helpers import record
from tests.tui.helpers import Leaving, until
from tui.app import make_app
from tui.screens.browser import BrowserScreen
from tests.tui.focus import shows_focus, tab_stops
from tui.screens.launch import EXAMPLE_TASK, LaunchScreen
from tui.widgets.scroll_box import ScrollBox
from tui.screens.session import SessionScreen

SIZE = (200, 50)


async def launch(pilot) -> LaunchScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="launch screen")
    await pilot.pause(0.1)
    return pilot.app.screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_patterns_show_what_they_do_and_when_to_use_them_and_bring_their_preset():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        patterns = screen.query_one("#patterns", OptionList)
        assert patterns.option_count == len(PATTERNS)
        assert "Orchestrator" in text_of(screen, "#about") and "Use when:" in text_of(screen, "#about")
        patterns.highlighted = list(PATTERNS).index("discussion")
        await pilot.pause()
        assert "Moderated discussion" in text_of(screen, "#about")
        assert screen.query_one("#team", Select).value == "preset:discussion"
        agents = text_of(screen, "#team-agents")
        assert "moderator" in agents and "claude-" in agents  # who, and on which model


async def test_an_empty_task_is_refused_and_nothing_starts():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        await pilot.press("backspace")  # the example task, selected, goes
        assert screen.query_one("#task", TextArea).text == ""
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "Write a task" in text_of(screen, "#error"), what="the error")
        assert app.screen is screen
        assert screen.query_one("#task", TextArea).has_focus


async def test_budgets_and_policy_from_the_preset_can_be_changed_and_reach_the_session():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        assert screen.query_one("#cost", Input).value == "2"  # the preset's dollar cap
        screen.query_one("#task", TextArea).text = "Design a rate limiter"
        screen.query_one("#tokens", Input).value = "50000"
        screen.query_one("#cost", Input).value = ""
        screen.query_one("#minutes", Input).value = "5"
        screen.query_one("#approve", Select).value = "approve"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session screen")
        spec = app.screen.live.spec
        assert spec.task == "Design a rate limiter" and spec.pattern == "orchestrator"
        assert (spec.limits.tokens, spec.limits.cost, spec.limits.turns, spec.limits.seconds) == (50000, None, 40, 300)
        assert spec.policy.default == "approve"
        assert app.screen.live.provider.name == "simulated"


def typed(text: str) -> list[events.Key]:
    return [events.Key("space", " ") if char == " " else events.Key(char, char) for char in text]


async def test_keys_typed_just_before_ctrl_s_reach_the_task_first():
    """A fast typist's keys arrive in one burst, ctrl+s last: the session starts on
    all of the task, never on a cut-off one or with "write a task" over a full box."""
    task = "Write the oncall runbook for the payments team"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        for key in [*typed(task), events.Key("ctrl+s", None)]:  # as the terminal driver posts them: no pause
            app.post_message(key)
        await until(pilot, lambda: isinstance(app.screen, SessionScreen) or text_of(screen, "#error"), what="a start")
        assert text_of(screen, "#error") == ""
        assert app.screen.live.spec.task == task


async def test_the_app_closing_as_a_session_screen_goes_up_is_no_internal_error():
    """The app closes (a test's end, a quit) in the moment after ctrl+s, before the session
    screen's widgets are all up: it closes cleanly, not on "No nodes match '#state'"."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        screen.query_one("#task", TextArea).text = "Design a rate limiter"
        app.post_message(events.Key("ctrl+s", None))
        for _ in range(10_000):  # no pause: leave the moment the screen is pushed
            if isinstance(app.screen, SessionScreen):
                break
            await asyncio.sleep(0)
        assert isinstance(app.screen, SessionScreen)  # and leaving raises nothing


@pytest.mark.parametrize("field", ["#patterns", "#team", "#task", "#provider", "#tokens", "#approve", "#start"])
async def test_ctrl_s_starts_from_every_field(field):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        screen.query_one("#task", TextArea).text = "Design a rate limiter"
        screen.query_one(field).focus()
        await pilot.pause()
        assert screen.focused is screen.query_one(field)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session screen")


async def test_a_bad_budget_is_explained():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        screen.query_one("#task", TextArea).text = "x"
        screen.query_one("#turns", Input).value = "0"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "turns must be more than zero" in text_of(screen, "#error"), what="the error")
        assert app.screen is screen


async def test_anthropic_is_offered_but_disabled_without_a_key(monkeypatch):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        assert screen.query_one("#provider-anthropic", RadioButton).disabled
        assert "ANTHROPIC_API_KEY" in text_of(screen, "#provider-hint")


async def test_with_a_key_anthropic_runs_against_its_base_url(monkeypatch):
    from tests.fakes.messages_api import MessagesAPI, Reply, text_events, tool_events
    from tests.helpers import plan_of

    def script(seen):
        if "tools" in seen.body:
            return Reply(events=tool_events(plan_of(("s1", "coder", []))))
        return Reply(events=text_events("Done by Claude."))

    with MessagesAPI(script) as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-launch-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await launch(pilot)
            anthropic = screen.query_one("#provider-anthropic", RadioButton)
            assert not anthropic.disabled
            anthropic.value = True
            screen.query_one("#task", TextArea).text = "Ship it"
            screen.query_one("#approve", Select).value = "approve"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, SessionScreen) and app.screen.view.finished, timeout=20, what="finished")
            assert app.screen.view.provider == "anthropic"
            assert app.screen.view.result == "Done by Claude."
    assert api.requests


async def test_the_users_team_files_are_offered(user_config):
    copy_team("mine", "review")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        team = screen.query_one("#team", Select)
        values = [value for _, value in team._options]
        mine = next(v for v in values if str(v).endswith("mine.toml"))
        team.value = mine
        await pilot.pause()
        assert "engineer" in text_of(screen, "#team-agents") and "reviewer" in text_of(screen, "#team-agents")


async def test_moving_through_patterns_keeps_what_was_typed_for_a_team_file(user_config, monkeypatch):
    import tui.screens.launch as launch_module

    copy_team("mine", "review")
    reads = []
    monkeypatch.setattr(launch_module, "load_team_file", lambda path: reads.append(path) or preset("review"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        team = screen.query_one("#team", Select)
        team.value = next(value for _, value in team._options if str(value).endswith("mine.toml"))
        await pilot.pause()
        screen.query_one("#cost", Input).value = "0.5"
        patterns = screen.query_one("#patterns", OptionList)
        for name in ("pipeline", "fanout", "discussion"):
            patterns.highlighted = list(PATTERNS).index(name)
            await pilot.pause()
        assert str(team.value).endswith("mine.toml")
        assert screen.query_one("#cost", Input).value == "0.5"
        assert len(reads) == 1  # read once, not on every move


@pytest.fixture
async def store(tmp_path):
    async with await SessionStore.open(tmp_path / "recent.db") as store:
        await record(store, task="Migrate billing to PostgreSQL")
        await record(store, task="Write the on-call runbook")
        yield store


async def test_recent_tasks_can_be_recalled(store):
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        await until(pilot, lambda: screen.query_one("#recent", OptionList).option_count == 2, what="recent tasks")
        await pilot.press("ctrl+r")
        await pilot.press("enter")
        assert screen.query_one("#task", TextArea).text == "Write the on-call runbook"


async def test_leaving_while_recent_tasks_load_stops_the_loading_before_any_widget_goes(store, monkeypatch):
    loading, release = asyncio.Event(), asyncio.Event()
    list_sessions = store.list_sessions

    async def held(**query):
        rows = await list_sessions(**query)
        if "offset" not in query:  # the launch screen's recent tasks (the browser pages from an offset)
            loading.set()
            await release.wait()
        return rows

    monkeypatch.setattr(store, "list_sessions", held)
    watch = Leaving()
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE, message_hook=watch) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen), what="browser")
        await pilot.press("ctrl+n")
        await loading.wait()
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        watch.leaving(screen)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and not screen.is_attached, what="back")
        release.set()
        await pilot.pause()
    assert watch.stopped_first and all(watch.stopped_first)


@pytest.mark.parametrize("pattern", ["routing", "blackboard"])
async def test_starting_another_pattern_runs_its_preset_team(pattern):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        screen.query_one("#patterns", OptionList).highlighted = list(PATTERNS).index(pattern)
        await pilot.pause()
        screen.query_one("#task", TextArea).text = "Design a rate limiter"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session")
        assert app.screen.live.spec.pattern == pattern
        assert app.screen.live.spec.team.names == preset(pattern).team().names


# -- what the user sees first, and where Tab goes -------------------------------------------


async def test_the_task_opens_as_a_selected_example_that_typing_replaces():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        task = screen.query_one("#task", TextArea)
        assert task.has_focus and task.text == EXAMPLE_TASK and task.selected_text == EXAMPLE_TASK
        await pilot.press(*"Plan a picnic")
        assert task.text == "Plan a picnic"


async def test_ctrl_s_right_away_runs_the_example():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await launch(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session screen")
        assert app.screen.live.spec.task == EXAMPLE_TASK


@pytest.mark.parametrize("size", [(200, 50), (120, 30), (80, 24)])
async def test_tab_stops_at_the_fields_in_order_and_each_shows_its_focus(size, tmp_path):
    from sessions.store import SessionStore
    from tests.sessions.helpers import record

    store = await SessionStore.open(tmp_path / "tab.db")
    try:
        await record(store, task="Write the on-call runbook")
        app = make_app(store=store)
        async with app.run_test(size=size) as pilot:
            screen = await launch(pilot)
            await until(pilot, lambda: screen.query_one("#recent", OptionList).option_count == 1, what="recent tasks")
            stops = await tab_stops(pilot, screen.query_one("#patterns"))
            # The recent tasks sit under the task they fill; a description box is a stop
            # where, and only where, it has more than it shows.
            assert [stop.id for stop in stops if not isinstance(stop, ScrollBox)] == [
                "patterns", "team", "task", "recent", "provider", "tokens", "cost", "turns", "minutes", "approve", "start",
            ]
            boxes = [box for box in screen.query(ScrollBox) if box.display]
            assert {stop for stop in stops if isinstance(stop, ScrollBox)} == {box for box in boxes if box.max_scroll_y > 0}
            if size == (80, 24):
                assert "team-box" in [stop.id for stop in stops]  # four agents do not fit there
            for stop in stops:
                await pilot.pause()
                assert await shows_focus(pilot, stop), f"{stop.id} shows no focus"
                assert stop.region.area, f"{stop.id} is a stop out of sight"
    finally:
        await store.close()


async def test_a_description_box_that_overflows_scrolls_from_the_keyboard_and_says_so():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await launch(pilot)
        box = screen.query_one("#team-box", ScrollBox)
        assert box.max_scroll_y > 0 and box.focusable
        box.focus()
        await pilot.pause()
        assert "scroll" in str(box.border_title)
        await pilot.press("down", "down")
        assert box.scroll_y == 2
        await pilot.press("tab")
        assert screen.query_one("#task", TextArea).has_focus and not box.border_title


def chosen_in_view(patterns: OptionList) -> bool:
    top = patterns._index_to_line[patterns.highlighted]
    bottom = top + patterns._heights[patterns.highlighted]
    return patterns.scroll_y <= top and bottom <= patterns.scroll_y + patterns.scrollable_content_region.height


async def test_the_chosen_pattern_stays_in_view_at_every_size():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await launch(pilot)
        for pattern in ("routing", "mesh", "auction"):  # the second, one in the middle, the last
            app.call_later(app.action_launch, pattern)  # as the palette does, over the first one
            await until(pilot, lambda: len(app.screen_stack) == 3, what="second launch screen")
            await pilot.pause(0.1)
            screen = app.screen
            patterns = screen.query_one("#patterns", OptionList)
            assert patterns.get_option_at_index(patterns.highlighted).id == pattern
            for size in [(200, 50), (120, 30), (80, 24), (100, 40)]:
                await pilot.resize_terminal(*size)
                await pilot.pause(0.1)
                assert chosen_in_view(patterns), (pattern, size)
                # ... and on the screen, with the task it will run on.
                assert patterns.region.height > 2 and screen.query_one("#task").region.height > 2, (pattern, size)
            await pilot.resize_terminal(80, 24)
            app.pop_screen()
            await until(pilot, lambda: len(app.screen_stack) == 2, what="back to the first")


async def test_configured_providers_are_offered_and_the_unready_say_what_they_need(user_config):
    user_config.mkdir(parents=True, exist_ok=True)
    (user_config / "config.toml").write_text(
        '[providers.ollama]\nkind = "openai"\nbase_url = "http://localhost:11434/v1"\nmodel = "llama3.2"\n'
        '[providers.gateway]\nkind = "openai"\nbase_url = "https://gw.example/v1"\napi_key_env = "GW_KEY_UNSET"\n'
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        ollama = screen.query_one("#provider-ollama", RadioButton)
        assert not ollama.disabled and "OpenAI-compatible at http://localhost:11434/v1 (llama3.2)" in str(ollama.label)
        assert screen.query_one("#provider-gateway", RadioButton).disabled
        hint = text_of(screen, "#provider-hint")
        assert "gateway: no API key: set GW_KEY_UNSET" in hint and "openai: no API key" in hint
        assert not screen.query_one("#as-the-team", RadioButton).display  # presets name no providers
        ollama.value = True
        await pilot.pause()
        assert screen.choices().provider == "ollama"


async def test_a_team_on_two_providers_runs_as_its_file_says(user_config, monkeypatch):
    from tests.fakes.messages_api import MessagesAPI, Reply, text_events

    user_config.mkdir(parents=True, exist_ok=True)
    (user_config / "teams").mkdir()
    (user_config / "teams" / "duo.toml").write_text(
        'name = "duo"\npattern = "review"\nprovider = "simulated"\n'
        '[[agents]]\nname = "writer"\nrole = "writer"\nprovider = "anthropic"\nmodel = "claude-haiku-5-5"\n'
        '[[agents]]\nname = "critic"\nrole = "reviewer"\n'
    )
    with MessagesAPI(lambda seen: Reply(events=text_events("A draft from Claude."))) as api:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-duo-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            screen = await launch(pilot)
            screen.query_one("#patterns", OptionList).highlighted = list(PATTERNS).index("review")
            await pilot.pause()
            team = screen.query_one("#team", Select)
            team.value = next(value for _, value in team._options if str(value).endswith("duo.toml"))
            await pilot.pause()
            as_the_team = screen.query_one("#as-the-team", RadioButton)
            assert as_the_team.display and as_the_team.value
            assert "anthropic, simulated" in str(as_the_team.label)
            assert screen.choices().provider is None
            screen.query_one("#task", TextArea).text = "Write it"
            screen.query_one("#approve", Select).value = "approve"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, SessionScreen) and app.screen.view.finished, timeout=20, what="finished")
            view = app.screen.view
            assert view.provider == "anthropic, simulated"
            assert (view.agents["writer"].provider, view.agents["critic"].provider) == ("anthropic", "simulated")
            titles = {name: str(panel.border_title) for name, panel in app.screen.panels.items()}
            assert "anthropic/claude-haiku-5-5" in titles["writer"] and "simulated/claude-sonnet-5-5" in titles["critic"]
    assert {request.body["model"] for request in api.requests} == {"claude-haiku-5-5"}  # only the writer called it


async def test_a_teams_mcp_servers_are_listed_with_their_tools(user_config):
    import sys
    from pathlib import Path

    stdio = str(Path(__file__).parents[1] / "fakes" / "mcp_stdio_server.py")
    (user_config / "teams").mkdir(parents=True)
    (user_config / "teams" / "tooled.toml").write_text(
        'name = "tooled"\n[[agents]]\nname = "a"\nrole = "r"\ntools = ["fake.*", "gone.*"]\n'
        f'[[mcp_servers]]\nname = "fake"\ncommand = [{sys.executable!r}, {stdio!r}]\n'
        '[[mcp_servers]]\nname = "gone"\ncommand = ["no-such-mcp-server-here"]\n'
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        team = screen.query_one("#team", Select)
        team.value = next(value for _, value in team._options if str(value).endswith("tooled.toml"))
        await pilot.pause()
        assert "MCP servers" in text_of(screen, "#team-agents")
        await until(pilot, lambda: "fake.echo" in text_of(screen, "#team-agents"), timeout=30, what="the tools listed")
        shown = text_of(screen, "#team-agents")
        assert "fake.fail" in shown and "gone · no-such-mcp-server-here" in shown
        assert "did not start: cannot run 'no-such-mcp-server-here'" in shown


CODERS = """
name = "coders"
pattern = "orchestrator"
lead = "lead"

[[agents]]
name = "lead"
role = "planner"

[[agents]]
name = "coder"
role = "python developer"
tools = ["run_python"]
"""


async def test_a_team_that_runs_code_is_checked_for_a_sandbox_off_the_loop(user_config, monkeypatch):
    """Finding a sandbox may start one or ask a daemon (seconds, the first time): the
    screen goes on answering meanwhile, and a second ctrl+s starts nothing more."""
    import threading

    from engine.sandbox import choice
    from tui.userfiles import teams_dir

    probing, answer = threading.Event(), threading.Event()

    def slow_probe(name: str) -> None:
        probing.set()
        answer.wait(10)

    monkeypatch.setattr(choice, "why_not", slow_probe)
    teams_dir().mkdir(parents=True, exist_ok=True)
    (teams_dir() / "coders.toml").write_text(CODERS)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        team = screen.query_one("#team", Select)
        team.value = next(value for _, value in team._options if str(value).endswith("coders.toml"))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, probing.is_set, what="the sandbox probe")
        await pilot.press("ctrl+s")
        await pilot.press("ctrl+s")
        assert app.screen is screen and not answer.is_set()  # the loop ran these keys while the probe waited
        answer.set()
        await until(pilot, lambda: isinstance(app.screen, SessionScreen), what="session screen")
        assert [type(s) for s in app.screen_stack].count(SessionScreen) == 1  # one session started, not three

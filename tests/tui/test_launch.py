"""The launch screen: pick a pattern and a team, write the task, set budgets and approvals, start."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList, RadioButton, Select, Static, TextArea

from engine.patterns import PATTERNS
from engine.providers.simulated import SimulatedProvider
from engine.teams import preset, write_team_file
from tests.helpers import run
from tests.tui.helpers import until
from tui.app import make_app
from tui.screens.launch import LaunchScreen
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
        await pilot.press("ctrl+s")
        assert "Write a task" in text_of(screen, "#error")
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


async def test_a_bad_budget_is_explained():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        screen.query_one("#task", TextArea).text = "x"
        screen.query_one("#turns", Input).value = "0"
        await pilot.press("ctrl+s")
        assert "turns must be more than zero" in text_of(screen, "#error")
        assert app.screen is screen


async def test_anthropic_is_offered_but_disabled_without_a_key(monkeypatch):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        assert screen.query_one("#anthropic", RadioButton).disabled
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
            anthropic = screen.query_one("#anthropic", RadioButton)
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
    write_team_file("mine", preset("review"))
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

    write_team_file("mine", preset("review"))
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


async def test_recent_tasks_can_be_recalled(tmp_path):
    from sessions.store import SessionStore
    from tests.sessions.helpers import record

    store = await SessionStore.open(tmp_path / "recent.db")
    await record(store, task="Migrate billing to PostgreSQL")
    await record(store, task="Write the on-call runbook")
    app = make_app(store=store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await launch(pilot)
        await until(pilot, lambda: screen.query_one("#recent", OptionList).option_count == 2, what="recent tasks")
        await pilot.press("ctrl+r")
        await pilot.press("enter")
        assert screen.query_one("#task", TextArea).text == "Write the on-call runbook"
    await store.close()


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

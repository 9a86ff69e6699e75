"""The command palette reaches patterns, presets and sessions; big teams still fit."""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.policy import ApprovalPolicy
from sessions.store import SessionStore
from tests.helpers import pattern_info
from tests.sessions.helpers import record
from tests.tui.helpers import live, screen_of, until
from tui.app import make_app
from tui.screens.launch import LaunchScreen
from tui.screens.replay import ReplayScreen
from tui.widgets.agent_grid import AgentGrid

SIZE = (200, 50)


async def palette(pilot, query: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause(0.2)
    await pilot.press(*query)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.3)


@pytest.fixture
async def store(tmp_path):
    async with await SessionStore.open(tmp_path / "p.db") as store:
        yield store


async def test_the_palette_starts_a_pattern_with_its_preset(store):
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await palette(pilot, "Pattern: Moderated")
        await until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="launch screen")
        screen = app.screen
        await pilot.pause(0.1)
        patterns = screen.query_one("#patterns", OptionList)
        assert patterns.get_option_at_index(patterns.highlighted).id == "discussion"


async def test_the_palette_finds_a_session_by_its_title(store):
    await record(store, task="Migrate billing to PostgreSQL")
    await record(store, task="Write the on-call runbook")
    app = make_app(store=store, start="browser")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await palette(pilot, "runbook")
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="replay")
        await until(pilot, lambda: app.screen.view.task == "Write the on-call runbook", what="the right session")


async def test_more_than_twelve_agents_scroll_in_rows(monkeypatch):
    team = TeamSpec(lead="a0", agents=tuple(AgentSpec(name=f"a{i}", role="analyst") for i in range(16)))

    async def everyone(ctx, task):
        for name in ctx.team.names[:2]:
            await ctx.span(name).call(name, task)
        return "done"

    monkeypatch.setitem(patterns.PATTERNS, "everyone-test", pattern_info("everyone-test", everyone))
    session = live(policy=ApprovalPolicy(default="approve"), team=team, pattern="everyone-test")
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="finished")
        await pilot.pause(0.2)
        grid = screen.query_one(AgentGrid)
        assert len(screen.panels) == 16 and grid.has_class("-many")
        assert grid.virtual_size.height > grid.size.height  # the rest scroll
        assert all(panel.size.height >= 10 for panel in screen.panels.values())
        for _ in range(15):
            await pilot.press("tab")
        assert screen.focused_panel().agent_name == "a15"


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (200, 50)])
async def test_the_header_budgets_and_keys_fit_the_terminal(size):
    """At any width: the header names the pattern and the session, the budget line shows
    every gauge's numbers and the calls, the key hints end with quit, help and palette."""
    from engine.budgets import Limits
    from tui.screens.approval import ApprovalScreen
    from tui.widgets.budget_bar import BudgetBar
    from tui.widgets.key_hints import KeyHints

    session = live(pattern="hierarchical", limits=Limits(tokens=200_000, cost=2.0, turns=40, seconds=1800))
    app = make_app(session)
    async with app.run_test(size=size) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the plan's escalation")
        await pilot.press("escape")  # it stays pending: the header says so
        await pilot.pause()
        width = size[0]
        where, state = (screen.query_one(f"#{part}") for part in ("where", "state"))
        header = str(where.render())
        assert "hierarchical" in header and screen.view.session_id in header
        assert len(header) <= where.region.width  # drawn whole, not cut
        assert "pending" in str(state.render())
        budget = screen.query_one(BudgetBar)
        line = str(budget.render())
        assert len(line) <= budget.content_region.width
        for shown in ("/200,000", "/$2.00", "/40", "/30:00", "call"):
            assert shown in line, (shown, line)
        keys = str(screen.query_one(KeyHints).render()).rstrip()
        assert len(keys) <= width and keys.endswith("q Quit  ? keys  ctrl+p commands")

"""On screen, a model with no price shows its cost as unknown: the agents' panels, the
budget gauge ("+?" on what the priced calls cost) and the timeline's notice that a
cost limit counts only priced calls."""

from __future__ import annotations

from engine.budgets import Limits
from engine.providers.simulated import SimulatedProvider
from tests.helpers import run, team_on
from tests.tui.helpers import screen_of, until
from tui.app import make_app
from tui.widgets.budget_bar import BudgetBar
from tui.widgets.timeline import Timeline

SIZE = (200, 50)


async def test_panels_gauge_and_timeline_say_what_is_unknown() -> None:
    ran = await run(
        SimulatedProvider(seed=1, speed=0), team=team_on("llama3.2", lead="claude-opus-5-5"), limits=Limits(cost=5.0),
    )
    app = make_app(events=ran.events)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        await pilot.pause()
        stats = {name: str(panel.query_one("#stats").render()) for name, panel in screen.panels.items()}
        assert " out · $" in stats["lead"] and "?" not in stats["lead"]
        for name in ("researcher", "coder", "reviewer"):
            assert " out · cost unknown · " in stats[name], stats[name]

        budget = str(screen.query_one(BudgetBar).render())
        spent = screen.view.spent
        assert spent.unpriced == ran.finished.unpriced > 0
        assert f"cost ${spent.cost:.3f}+?/$5.00" in budget, budget

        timeline = screen.query_one(Timeline)
        lines = [timeline.entry_at(i).text for i in range(timeline.option_count)]
        notices = [line for line in lines if "no price for llama3.2" in line]
        assert len(notices) == 1 and lines.index(notices[0]) == 1  # said once, as the session starts

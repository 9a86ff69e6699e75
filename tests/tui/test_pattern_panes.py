"""Each pattern's own view on the live screen: the route, stages, parts, rounds, reviews,
bids, requests between peers, the blackboard's keys, the (nested) plan."""

from __future__ import annotations


import pytest
from textual.widgets import Static

from engine.patterns import PATTERNS
from engine.providers.simulated import SimulatedProvider
from tests.helpers import run
from tui.app import make_app
from tui.widgets.pattern_pane import PatternPane

EXPECTED = {
    "orchestrator": ["Plan", "s1", "researcher"],
    "hierarchical": ["Member teams", "plan of engineering", "eng-coder"],
    "routing": ["Route →", "Reason:", "Outcome:"],
    "pipeline": ["Stages", "1. researcher", "contract ResearchNotes"],
    "fanout": ["parts", "at most 3 at once", "synthesis by"],
    "discussion": ["Round 1:", "agreement", "Stopped:"],
    "review": ["first draft", "Outcome:"],
    "auction": ["Lot 1", "capability", "→"],
    "mesh": ["Requests between peers", "asks"],
    "blackboard": ["Board", "recommendation", "by"],
}


def test_every_pattern_has_its_own_view():
    assert set(EXPECTED) == set(PATTERNS)


@pytest.mark.parametrize("pattern", sorted(EXPECTED))
async def test_the_pattern_pane_shows_what_is_particular(pattern):
    seed = 4 if pattern == "mesh" else 1
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern=pattern)
    assert ran.finished.status == "completed", ran.finished.reason
    app = make_app(events=ran.events)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.2)
        pane = app.screen.query_one(PatternPane)
        text = str(pane.query_one(Static).render())
        for expected in EXPECTED[pattern]:
            assert expected in text, f"{pattern}: {expected!r} not in\n{text}"
        assert PATTERNS[pattern].title in str(pane.border_title)


async def test_the_routing_view_shows_where_the_task_went_after_a_re_route():
    """A doubtful route to billing, re-routed by a person to technical: the view leads
    with technical, keeps the router's own choice, and lists both decisions in order."""
    from engine.approvals import ApprovalGate, Decision
    from engine.policy import ApprovalPolicy
    from tests.engine.patterns.test_routing import answering, routed
    from tests.helpers import ScriptedProvider

    route = {"specialist": "billing", "reason": "it mentions an invoice", "confidence": 0.4}
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ran = await run(ScriptedProvider(routed(route)), pattern="routing", gate=gate, policy=gate.policy,
                    on_event=answering(gate, Decision("edit", edited={"specialist": "technical"})))
    assert ran.finished.status == "completed", ran.finished.reason
    app = make_app(events=ran.events)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.2)
        lines = str(app.screen.query_one(PatternPane).query_one(Static).render()).splitlines()
        assert lines[:3] == ["Route → technical", "Outcome: edited", "Router chose: billing (40% sure)"]
        history = lines[lines.index("Route history") + 1:]
        assert [line.split(" ", 1)[1] for line in history if line] == [
            "doubtful route (billing at 40%, under 60%): escalated", "edited: → technical",
        ]

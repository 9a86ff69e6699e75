"""The live screen as its user sees it: named choices that do what they say, a plan edit
checked against the team, a session that says which steps did not get done or that its
result is partial, and an agent panel whose tokens move while its reply streams."""

from __future__ import annotations

from textual.content import Content

from engine.budgets import Limits
from engine.policy import ApprovalPolicy
from tests.engine.patterns.test_review import loop
from tests.helpers import ScriptedProvider
from tests.tui.helpers import app_for, fake_clock, live, screen_of, until
from tests.tui.test_session_screen import SIZE, approval_open
from tui.view import SessionView
from tui.widgets.agent_panel import stats_line
from tui.widgets.details import DetailsPane


def text(widget) -> str:
    return str(widget.render())


async def test_allow_one_more_revision_is_a_key_that_allows_it_with_optional_guidance():
    session = live(
        provider=ScriptedProvider(loop()), pattern="review", options={"max_revisions": 0},
        policy=ApprovalPolicy(default="ask"),
    )
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="deadlock dialog")
        dialog = app.screen
        labels = [Content.from_markup(b.label).plain if isinstance(b.label, str) else b.label.plain
                  for b in dialog.query("#buttons Button") if b.display]
        assert labels == ["Accept as best effort ⏎", "Stop (r)", "Allow one more revision (e)", "Always allow (a)"]
        await pilot.press("e")
        line = dialog.query_one("#reason")
        assert line.display and not dialog.query_one("#editor").display  # one line, no JSON
        assert "guidance for the revision (optional)" in line.placeholder
        await pilot.press(*"cover empty input", "enter")
        await until(pilot, lambda: "e2" in screen.view.pending or screen.view.finished, what="the next deadlock")
        decision = screen.view.decisions["e1"]
        assert (decision.action, decision.label, decision.by) == ("edit", "Allow one more revision", "human")
        assert "cover empty input" in session.provider.requests[2].messages[-1].content  # the revision's prompt
        timeline = [entry.text for entry in screen.view.timeline]
        assert "“Allow one more revision” by human (policy: default=ask)" in timeline
        assert not any(entry.startswith("edited by") for entry in timeline)
        await until(pilot, lambda: approval_open(app), what="the second deadlock")
        await pilot.press("enter")  # accept as best effort
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.decisions["e2"].label == "Accept as best effort"


async def test_a_plan_edit_that_gives_a_step_to_no_one_on_the_team_is_refused_and_the_text_kept():
    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="plan approval")
        await pilot.press("e")
        dialog = app.screen
        editor = dialog.query_one("#editor")
        wrong = editor.text.replace('"assigned_to": "researcher"', '"assigned_to": "intern"', 1)
        assert wrong != editor.text
        editor.text = wrong
        await pilot.press("ctrl+s")
        error = text(dialog.query_one("#error"))
        assert "no worker named 'intern'" in error
        assert approval_open(app) and editor.text == wrong and not screen.view.decisions
        editor.text = wrong.replace('"intern"', '"coder"')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.decisions["e1"].action == "edit"


async def test_a_session_whose_steps_failed_says_so_in_its_header():
    session = live(faults="mid_stream@coder", policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.pause(0.05)
        state = text(screen.query_one("#state"))
        assert "completed with 1 failed and 2 skipped steps" in state
        assert screen.view.timeline[-1].text.startswith("session completed with 1 failed")


async def test_after_a_rejected_budget_the_screen_shows_the_partial_result_and_says_it_is_partial():
    session = live(
        limits=Limits(turns=2), policy=ApprovalPolicy(default="approve", triggers={"budget": "reject"}),
    )
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.pause(0.05)
        assert screen.view.status == "stopped" and screen.view.partial
        assert "stopped · partial result" in text(screen.query_one("#state"))
        details = screen.query_one(DetailsPane)
        title = details.border_title.plain if isinstance(details.border_title, Content) else str(details.border_title)
        assert title == "Details · Partial result (stopped: turns budget used up)"
        shown = text(details.query_one("Static"))
        assert "Partial result (turns budget used up)" in shown and "What was finished" in shown


def test_an_agent_panel_counts_the_reply_as_it_streams_with_its_pace(monkeypatch):
    """Folded from a real session on a clock that moves 0.05 s a read: while the coder
    streams, its panel shows the input read, the output so far, the cost and tokens a
    second; when the call ends, the provider's count. (Each piece is its own delta, as
    from a model with latency: with none, the pieces would go as one.)"""
    import asyncio

    from engine.run import coalescing
    from engine.bus import EventBus
    from engine.providers.simulated import SimulatedProvider
    from engine.session import EngineConfig, SessionSpec, run_session
    from tests.helpers import FAST_RETRY

    async def record():
        bus, events = EventBus(), []
        bus.listen(events.append)
        spec = SessionSpec(task="Design a rate limiter", seed=3, policy=ApprovalPolicy(default="approve"))
        config = EngineConfig(retry=FAST_RETRY, clock=fake_clock(step=0.05))
        await run_session(spec, SimulatedProvider(seed=3, speed=0), bus=bus, config=config)
        return events

    monkeypatch.setattr(coalescing, "DELTA_EVERY", 0.0)
    events = asyncio.run(record())
    first_call = next(e.call_key for e in events if e.agent == "coder" and e.kind == "call.started")
    view = SessionView()
    lines = []
    for event in events:
        view.apply(event)
        if getattr(event, "call_key", None) == first_call and event.kind in ("call.progress", "call.finished"):
            lines.append(stats_line(view.agents["coder"]))
    streaming = [line for line in lines if "tok/s" in line]
    assert streaming, lines
    first = lines[0]
    assert first.startswith(tuple("123456789")) and " in · 0 out" in first  # the input, known at once
    assert all("0 calls" in line for line in streaming[:1])
    outs = [int(line.split(" in · ")[1].split(" out")[0].replace(",", "")) for line in lines]
    assert outs[:-1] == sorted(outs[:-1])  # the output grows as it streams (an estimate: ~4 characters a token)
    [finished] = [e for e in events if getattr(e, "call_key", None) == first_call and e.kind == "call.finished"]
    assert outs[-1] == finished.usage.output_tokens  # then the provider's own count
    assert "1 call" in lines[-1] and "tok/s" not in lines[-1]  # finished: latency instead

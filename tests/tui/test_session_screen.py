"""The live session screen, driven by keys the way a person uses it."""

from __future__ import annotations

import asyncio

import pytest
from textual.content import Content

from engine.policy import ApprovalPolicy
from tests.helpers import pattern_info
from tests.tui.helpers import app_for, live, screen_of, until
from tui.app import make_app
from tui.screens.approval import ApprovalScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.reading import ReadingScreen
from tui.widgets.agent_grid import AgentGrid
from tui.widgets.agent_panel import AgentPanel
from tui.widgets.details import DetailsPane
from tui.widgets.timeline import Timeline

SIZE = (200, 50)


def approval_open(app) -> bool:
    return isinstance(app.screen, ApprovalScreen) and app.screen.current is not None


async def test_panels_for_every_agent_stream_and_finish():
    session = live(policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="session end")
        await pilot.pause(0.1)
        assert set(screen.panels) == {"lead", "researcher", "coder", "reviewer"}
        coder = screen.panels["coder"]
        assert Content.from_markup(coder.border_subtitle).plain == "✓ done"
        assert any("```python" in line for line in coder.stream.text_lines)
        assert any(line.startswith("── s3 · Implement") for line in coder.stream.text_lines)
        assert screen.view.status == "completed"
        assert "completed" in str(app.screen.query_one("#state").render())


async def test_approve_with_enter_unblocks_the_plan():
    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        assert "plan" in str(app.screen.query_one("#dialog").border_title)
        assert "Why:" in str(app.screen.query_one("#why").render())
        assert "s1" in str(app.screen.query_one("#payload").render())
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.finished, what="session end")
        decision = next(iter(screen.view.decisions.values()))
        assert (decision.action, decision.by) == ("approve", "human")
        assert not approval_open(app)


async def test_reject_with_a_reason_goes_back_to_the_lead():
    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        await pilot.press("r")
        assert app.screen.query_one("#reason").display
        await pilot.press(*"add a load test")
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.plan_revision == 1, what="revised plan")
        first = screen.view.decisions["e1"]
        assert (first.action, first.reason) == ("reject", "add a load test")
        await until(pilot, lambda: approval_open(app), what="second approval")
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.finished)


async def test_invalid_edit_shows_the_error_and_keeps_the_text_then_a_valid_edit_is_taken():
    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        await pilot.press("e")
        dialog = app.screen
        editor = dialog.query_one("#editor")
        assert editor.display and '"steps"' in editor.text
        editor.text = '{"steps": [], "confidence": 0.9}'
        await pilot.press("ctrl+s")
        error = str(dialog.query_one("#error").render())
        assert "steps" in error and "at least 1" in error
        assert approval_open(app) and editor.text == '{"steps": [], "confidence": 0.9}'
        editor.text = '{"steps": [ broken'
        await pilot.press("ctrl+s")
        assert "not valid JSON" in str(dialog.query_one("#error").render())
        assert editor.text == '{"steps": [ broken'
        editor.text = (
            '{"steps": [{"id": "only", "title": "Do it all", "instructions": "everything",'
            ' "assigned_to": "coder", "depends_on": []}], "confidence": 1}'
        )
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.decisions["e1"].action == "edit"
        assert screen.view.steps["only"].status == "done"
        assert screen.view.steps["s1"].status == "planned"  # the lead's own plan never ran


async def test_escape_from_edit_keeps_the_draft():
    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        await pilot.press("e")
        app.screen.query_one("#editor").text = '{"draft": true}'
        await pilot.press("escape")
        assert app.screen.mode == "choose"
        await pilot.press("e")
        assert app.screen.query_one("#editor").text == '{"draft": true}'


async def test_allow_always_approves_this_trigger_for_the_session():
    session = live(faults="low_confidence@lead")
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        assert "low_confidence" in str(app.screen.query_one("#dialog").border_title)
        await pilot.press("a")
        await until(pilot, lambda: screen.view.finished)
        assert screen.view.decisions["e1"].rule == "human: always allow low_confidence"
        assert "low_confidence" in session.gate.route("low_confidence")[1]


async def test_several_pending_escalations_queue_with_a_count(monkeypatch):
    from engine import patterns

    async def three_questions(ctx, task):
        async def ask(n):
            return await ctx.span(f"q{n}").escalate("tool_use", f"question {n}", {"n": n}, agent="coder")

        decisions = await asyncio.gather(*(ask(n) for n in range(3)))
        return ", ".join(d.action for d in decisions)

    monkeypatch.setitem(patterns.PATTERNS, "three", pattern_info("three", three_questions))
    session = live(pattern="three")
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app) and len(screen.view.pending) == 3, what="three pending")
        assert "2 more waiting" in str(app.screen.query_one("#dialog").border_title)
        assert "3 pending" in str(screen.query_one("#state").render())
        await pilot.press("enter")
        await until(pilot, lambda: "1 more waiting" in str(app.screen.query_one("#dialog").border_title))
        await pilot.press("r", *"no", "enter")
        await pilot.pause(0.05)
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.finished)
        assert screen.view.result == "approve, reject, approve"
        assert not approval_open(app)


async def test_an_escalation_asked_as_the_dialog_closes_opens_it_again(monkeypatch):
    """The dialog closes when its last escalation is answered; one asked before it has
    closed (the agent asks again at once) is not lost with it: the dialog opens on it."""
    from engine import patterns
    from tui.screens.session import SessionScreen

    async def one_then_another(ctx, task):
        first = await ctx.span("q1").escalate("tool_use", "first question", {"n": 1}, agent="coder")
        second = await ctx.span("q2").escalate("tool_use", "second question", {"n": 2}, agent="coder")
        return f"{first.action}, {second.action}"

    closed = SessionScreen._approvals_closed

    def closed_late(self, hidden):  # the dialog's end heard only once the second question is in view
        if "e2" not in self.view.pending and not self.view.finished:
            self.set_timer(0.01, lambda: closed_late(self, hidden))
            return
        closed(self, hidden)

    monkeypatch.setattr(SessionScreen, "_approvals_closed", closed_late)
    monkeypatch.setitem(patterns.PATTERNS, "twice", pattern_info("twice", one_then_another))
    session = live(pattern="twice")
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app) and app.screen.current.escalation_id == "e1", what="the first")
        await pilot.press("enter")
        await until(pilot, lambda: approval_open(app) and app.screen.current.escalation_id == "e2", what="the second")
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.result == "approve, approve"
        assert not approval_open(app) and app.is_running


async def test_pending_escalation_times_out_to_its_default_with_a_countdown():
    session = live(policy=ApprovalPolicy(default="ask", timeout_s=1.0, timeout_default="reject"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        countdown = app.screen.query_one("#countdown")
        assert countdown.display and "Decides reject by itself in" in str(countdown.render())
        await until(pilot, lambda: "e1" in screen.view.decisions, timeout=5, what="timeout")
        assert screen.view.decisions["e1"].by == "timeout"
        assert screen.view.decisions["e1"].action == "reject"


async def test_other_agents_keep_streaming_while_a_dialog_is_open(monkeypatch):
    from engine import patterns

    async def ask_while_working(ctx, task):
        async def worker():
            return await ctx.span("work").call("researcher", "Research rate limiter")

        async def asker():
            return await ctx.span("ask").escalate("tool_use", "may I?", {"cmd": "ls"}, agent="coder")

        text, decision = await asyncio.gather(worker(), asker())
        return decision.action

    monkeypatch.setitem(patterns.PATTERNS, "mixed", pattern_info("mixed", ask_while_working))
    from engine.providers.simulated import SimulatedProvider

    session = live(pattern="mixed", provider=SimulatedProvider(seed=1, speed=20))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="dialog")
        researcher = screen.panels["researcher"]
        await until(pilot, lambda: screen.view.agents["researcher"].status == "done", what="researcher done")
        assert approval_open(app)
        assert any("rate limiter" in line.lower() for line in researcher.stream.text_lines)
        await pilot.press("enter")
        await until(pilot, lambda: screen.view.finished)


async def test_tab_cycles_panels_and_zoom_shows_one():
    session = live(policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished)
        await pilot.pause(0.1)
        order = []
        for _ in range(5):
            await pilot.press("tab")
            order.append(screen.focused_panel().agent_name)
        assert order == ["researcher", "coder", "reviewer", "lead", "researcher"]
        await pilot.press("z")
        grid = screen.query_one(AgentGrid)
        assert grid.zoomed is screen.panels["researcher"]
        assert [p.agent_name for p in screen.query(AgentPanel) if p.display] == ["researcher"]
        assert not screen.query_one("#side").display
        assert screen.panels["researcher"].size.width > 150
        await pilot.press("tab")
        assert grid.zoomed is screen.panels["coder"]
        await pilot.press("z")
        assert grid.zoomed is None
        assert all(p.display for p in screen.query(AgentPanel))


async def test_panels_hidden_by_zoom_catch_up_when_they_show_again():
    from engine.providers.simulated import SimulatedProvider
    from tests.helpers import run
    from tui.bridge import EventsArrived
    from tui.screens.session import SessionScreen

    events = (await run(SimulatedProvider(seed=3, speed=0))).events
    plan = next(i for i, e in enumerate(events) if e.kind == "plan.made")

    def shows_its_agent(panel: AgentPanel) -> bool:
        agent = screen.view.agents[panel.agent_name]
        return (panel.stream.text_lines == [text for _, text in agent.lines]
                and str(panel.query_one("#stats").render()).startswith(f"{agent.tokens_in:,} in"))

    app = make_app(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = SessionScreen()
        await app.push_screen(screen)
        screen.post_message(EventsArrived(events[: plan + 1]))
        await until(pilot, lambda: screen.view.seq == plan + 1, what="the plan")
        screen.focus_agent("lead")
        await pilot.press("z")
        screen.post_message(EventsArrived(events[plan + 1 :]))  # the others work while hidden
        await until(pilot, lambda: screen.view.finished, what="the end")
        await pilot.pause()
        researcher = screen.panels["researcher"]
        assert not researcher.display and not shows_its_agent(researcher)  # hidden panels wait
        await pilot.press("tab")  # zoomed: the next panel takes the zoom
        assert researcher.display and shows_its_agent(researcher)
        await pilot.press("z")
        await pilot.pause()
        assert all(shows_its_agent(panel) for panel in screen.panels.values())


async def test_timeline_selection_focuses_the_agent_and_shows_details():
    session = live(policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished)
        await pilot.pause(0.1)
        timeline = screen.query_one(Timeline)
        await pilot.press("t")
        assert timeline.has_focus
        plan_index = next(i for i in range(timeline.option_count) if "plan:" in timeline.entry_at(i).text)
        timeline.highlighted = plan_index
        await pilot.pause()
        details = str(screen.query_one(DetailsPane).query_one("Static").render())
        assert "Plan" in details and "✓ s1" in details and "researcher" in details
        step = next(i for i in range(timeline.option_count) if timeline.entry_at(i).text.startswith("s3: "))
        timeline.highlighted = step
        await pilot.press("enter")
        assert screen.focused_panel() is screen.panels["coder"]
        escalation = next(i for i in range(timeline.option_count) if timeline.entry_at(i).icon == "?")
        timeline.highlighted = escalation
        await pilot.pause()
        assert "s4" in str(screen.query_one(DetailsPane).query_one("Static").render())


async def test_finished_reply_as_markdown_and_full_task():
    session = live(policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished)
        await pilot.press("tab")
        await pilot.press("m")
        assert isinstance(app.screen, ReadingScreen)
        assert app.screen.query("Markdown")
        await pilot.press("escape")
        await pilot.press("i")
        assert isinstance(app.screen, ReadingScreen)
        await pilot.press("escape")
        assert app.screen is screen


async def test_quitting_while_running_asks_then_cancels_and_keeps_partial_work():
    from engine.providers.simulated import SimulatedProvider

    session = live(policy=ApprovalPolicy(default="approve"), provider=SimulatedProvider(seed=1, speed=5))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: any(s.status == "done" for s in screen.view.steps.values()), what="a finished step")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.screen is screen and session.running
        await pilot.press("q")
        await pilot.press("y")
        await until(pilot, lambda: session.finished is not None, what="cancel")
    assert session.finished.status == "cancelled"
    assert session.finished.partial and "Partial result" in session.finished.result
    assert app.return_code in (0, None)


async def test_a_finished_session_stays_on_screen_until_the_user_leaves():
    session = live(policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished)
        await pilot.pause(0.3)
        assert app.is_running and app.screen is screen
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_a_tool_use_is_shown_approved_and_edited_from_the_keyboard(monkeypatch, tmp_path):
    from engine import patterns
    from engine.agents import AgentSpec, TeamSpec

    (tmp_path / "README.md").write_text("# Project\n")
    (tmp_path / "app.py").write_text("print('hi')\nprint('there')\n")
    team = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", tools=("list_files", "read_file")),))

    async def one(ctx, task):
        return await ctx.call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: team))
    app = app_for(live(pattern="one-call", tool_root=tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="list_files approval")
        dialog = app.screen
        assert "reader wants to use list_files" in str(dialog.query_one("#why").render())
        await pilot.press("enter")
        await until(pilot, lambda: approval_open(app) and "read_file" in str(app.screen.query_one("#why").render()),
                    what="read_file approval")
        await pilot.press("e")
        editor = app.screen.query_one("#editor")
        assert '"README.md"' in editor.text
        shown = [b.id for b in app.screen.query("#buttons Button") if b.display]
        assert shown == ["reject", "save"]  # while editing: save it, or refuse after all
        editor.text = '{"path": "app.py"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.view.finished, what="session end")
        lines = [text for _, text in screen.view.agents["reader"].lines]
        assert '⚙ read_file {"path": "app.py"}' in lines and "  → 2 lines" in lines
        assert any(line.startswith("── session (after tools)") for line in lines)
        assert screen.view.result.startswith("_Read `app.py` (2 lines) before answering._")


class HeldProvider:
    """The simulated provider, holding every call until `go` is set."""

    name = "simulated"

    def __init__(self) -> None:
        from engine.providers.simulated import SimulatedProvider

        self.inner = SimulatedProvider(seed=3, speed=0)
        self.go = asyncio.Event()

    async def stream(self, request):
        await self.go.wait()
        async for event in self.inner.stream(request):
            yield event


def question_of(app) -> str:
    return str(app.screen.query_one("#question").render())


async def test_an_escalation_waits_while_the_quit_question_is_open_then_shows():
    provider = HeldProvider()
    session = live(provider=provider)  # the plan waits for a person
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: session.running and bool(screen.panels), what="the session started")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.styles.background.a < 1  # the session stays in view behind the question
        provider.go.set()
        await until(pilot, lambda: bool(screen.view.pending), what="the plan's escalation")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and question_of(app) == "Stop the session and leave?"
        assert any("1 escalation waiting for you" in n.message for n in app._notifications)
        await pilot.press("enter")  # answers the question on screen: No (its focused button)
        await until(pilot, lambda: approval_open(app), what="the escalation it held back")
        assert session.running
        await pilot.press("enter")  # now it approves the plan
        await until(pilot, lambda: screen.view.finished, what="session end")
        assert screen.view.status == "completed"
        assert next(iter(screen.view.decisions.values())).action == "approve"


@pytest.mark.parametrize(("key", "after"), [
    ("q", "The session has finished. Leave it?"),
    ("ctrl+q", "Every session has finished. Quit?"),
])
async def test_the_quit_question_follows_a_session_that_ends_while_it_is_open(key, after):
    provider = HeldProvider()
    session = live(provider=provider, policy=ApprovalPolicy(default="approve"))
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: session.running and bool(screen.panels), what="the session started")
        await pilot.press(key)
        assert question_of(app).startswith("Stop ")
        provider.go.set()
        await until(pilot, lambda: question_of(app) == after, what="the question to change")
        assert str(app.screen.query_one("#confirm").label) in ("Leave", "Quit")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, what="the app to end")
    assert session.finished.status == "completed"


def details_of(screen) -> str:
    return str(screen.query_one(DetailsPane).query_one("Static").render())


async def test_an_edited_plan_shows_as_json_beside_the_proposal_with_what_changed():
    import json

    session = live()
    app = app_for(session)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        proposed = json.loads(json.dumps(next(iter(screen.view.pending.values())).payload))
        edited = json.loads(json.dumps(proposed))
        other = next(name for name in ("reviewer", "researcher") if name != proposed["steps"][1]["assigned_to"])
        edited["steps"][1]["assigned_to"] = other
        edited["steps"][1]["title"] = "Sketch it"
        removed = edited["steps"].pop()
        edited["steps"].append({"id": "s9", "title": "Write the docs", "instructions": "docs",
                                "assigned_to": "researcher", "depends_on": ["s1"]})
        await pilot.press("e")
        app.screen.query_one("#editor").text = json.dumps(edited)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.view.finished, what="session end")
        timeline = screen.query_one(Timeline)
        entries = [timeline.entry_at(i) for i in range(timeline.option_count)]

        timeline.highlighted = next(i for i, e in enumerate(entries) if e.text.startswith("edited by"))
        await pilot.pause()
        shown = details_of(screen)
        assert "Step(" not in shown and "steps=[" not in shown  # no Python repr, only JSON
        assert json.loads(shown[shown.index("As edited\n") + 10 : shown.index("\n\nChanges")]) == edited
        assert f"~ s2: assigned_to {proposed['steps'][1]['assigned_to']} → {other}; title " in shown
        assert "+ s9 researcher: “Write the docs”" in shown
        assert f"− {removed['id']} {removed['assigned_to']}: " in shown
        assert json.loads(shown[shown.index("As proposed\n") + 12 :]) == proposed

        timeline.highlighted = next(i for i, e in enumerate(entries) if e.text.startswith("plan revision 1"))
        await pilot.pause()
        shown = details_of(screen)
        assert shown.startswith("Plan (revision 1)") and "✓ s9" in shown
        assert "Changes from revision 0" in shown and "+ s9 researcher: “Write the docs”" in shown
        assert "Revision 0, as proposed" in shown and removed["title"] in shown

        timeline.highlighted = next(i for i, e in enumerate(entries) if e.text.startswith("plan:"))
        await pilot.pause()
        shown = details_of(screen)  # the first proposal, as it was made
        assert removed["title"] in shown and "s9" not in shown


@pytest.mark.parametrize("size", [(200, 50), (120, 30), (80, 24)])
async def test_a_tall_plan_scrolls_in_the_dialog_and_its_buttons_stay_in_view(size):
    app = app_for(live())
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: approval_open(app), what="approval dialog")
        await pilot.pause()
        dialog = app.screen.query_one("#dialog")
        for mode in ("choose", "edit"):
            inside = dialog.content_region
            shown = [b for b in app.screen.query("#buttons Button") if b.display]
            assert shown and all(inside.contains_region(b.region) for b in shown), (mode, inside)
            area = app.screen.query_one("#stake" if mode == "choose" else "#editor")
            assert inside.contains_region(area.region), (mode, area.region, inside)
            await pilot.press("e")
            await pilot.pause()
        stake = app.screen.query_one("#stake")
        if size[1] < 40:  # the plan is taller than the room left: it scrolls
            assert stake.max_scroll_y > 0


@pytest.mark.parametrize("held", ["the panels' mount", "a panel's parts"])
async def test_events_shown_as_the_app_quits_end_quietly(monkeypatch, held):
    """Widgets mounted while the app closes never start, and a panel removed before its
    parts were mounted starts without them: showing the events that brought them must
    stop there, not fail. Each mount is held until the app is closing."""
    from engine.providers.simulated import SimulatedProvider
    from tests.helpers import run
    from tui.app import HuddleApp
    from tui.screens.session import SessionScreen

    ran = await run(SimulatedProvider(seed=3, speed=0))
    mounting, release = asyncio.Event(), asyncio.Event()
    if held == "the panels' mount":
        owner, name = AgentGrid, "mount_all"
    else:
        owner, name = AgentPanel, "mount_composed_widgets"
    original = getattr(owner, name)

    async def holding(widget, *args, **kwargs):
        mounting.set()
        await release.wait()
        await original(widget, *args, **kwargs)

    monkeypatch.setattr(owner, name, holding)
    app = HuddleApp(start=None)

    async def release_when_closing() -> None:
        while app.is_running:
            await asyncio.sleep(0)  # a turn of the loop, not a wait for time
        release.set()

    async with app.run_test(size=SIZE):
        app.push_screen(SessionScreen(events=ran.events))
        await mounting.wait()
        closing = asyncio.ensure_future(release_when_closing())
    await closing


async def test_an_app_that_exits_lets_its_sessions_record_their_ends_before_the_store_closes(tmp_path):
    """The app's runner (`run_app`) winds down what the app left running: each session the
    exiting app cancelled has its end committed before the command closes its store."""
    from engine.providers.simulated import SimulatedProvider
    from sessions.store import SessionStore

    async with await SessionStore.open(tmp_path / "h.db") as store:
        provider = SimulatedProvider(seed=1, speed=5)
        session = live(policy=ApprovalPolicy(default="approve"), provider=provider, store=store)
        app = make_app(session, store=store)
        async with app.run_test(size=SIZE) as pilot:
            screen = screen_of(app)
            await until(pilot, lambda: any(s.status == "done" for s in screen.view.steps.values()), what="a finished step")
            app.exit()  # not by the quit question, which waits for the sessions itself
        await app.wind_down()
        assert not session.running
        row = await store.get_session(session.session_id)
    assert row.status == "cancelled" and row.last_seq == session.finished.seq

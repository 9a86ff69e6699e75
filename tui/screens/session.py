"""SessionScreen: a team at work — a panel per agent, the timeline, budgets, approvals."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, OptionList
from textual.worker import Worker, WorkerState

from engine.approvals import Decision
from engine.events import EscalationRequested, EventBase
from engine.formats import plural
from tui.bridge import EventsArrived, pump
from tui.clipboard import copy, entry_payload
from tui.recording import LiveSession
from tui.screens.approval import ApprovalScreen
from tui.screens.confirm import Question
from tui.screens.filter import FilterScreen
from tui.screens.reading import ReadingScreen
from tui.screens.result import ResultScreen
from tui.safe import clean_line
from tui.timeline_filter import TimelineFilter
from tui.view import Entry, SessionView
from tui.widgets.agent_grid import AgentGrid
from tui.widgets.agent_panel import AgentPanel
from tui.widgets.budget_bar import BudgetBar
from tui.widgets.details import DetailsPane
from tui.widgets.key_hints import KeyHints
from tui.widgets.pattern_pane import PatternPane
from tui.widgets.search_bar import SearchBar
from tui.widgets.session_header import SessionHeader
from tui.widgets.timeline import Timeline


class SessionScreen(Screen[None]):
    """Watch a live session (or, fed stored events, a past one)."""

    CSS_PATH = "session.tcss"
    AUTO_FOCUS = ""  # no auto focus: the first agent's panel takes it once it exists
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    BINDINGS = [
        Binding("tab", "next_panel", "Next panel", id="session.next_panel", tooltip="Focus the next agent's panel"),
        Binding("shift+tab", "previous_panel", "Previous panel", show=False, id="session.previous_panel"),
        Binding("z", "zoom", "Zoom", id="session.zoom", tooltip="Show the focused agent's panel alone, or all panels again"),
        Binding("m", "reply", "Reply", id="session.reply", tooltip="Read the focused agent's last finished reply as Markdown"),
        Binding("t", "timeline", "Timeline", id="session.timeline", tooltip="Move to the timeline (enter on an entry focuses its agent)"),
        Binding("a", "approvals", "Approvals", id="session.approvals", tooltip="Answer the escalations waiting for you"),
        Binding("i", "task", "Task", id="session.task", tooltip="Read the whole task"),
        Binding("R", "result", "Result", id="session.result", tooltip="Read the session's result, saying whether it is partial"),
        Binding("slash", "search", "Search", key_display="/", id="session.search", tooltip="Narrow the timeline to entries with a text, as you type"),
        Binding("f", "filter", "Filter", id="session.filter", tooltip="Show one agent's timeline entries, or one kind of entry"),
        Binding("n", "next_match(1)", "Next match", show=False, id="session.next_match", tooltip="The next entry of the searched or filtered timeline"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="session.previous_match", tooltip="The previous one"),
        Binding("y", "copy", "Copy", id="session.copy", tooltip="Copy the focused reply, the timeline entry's payload, or the session id"),
        Binding("q", "leave", "Quit", id="session.quit", tooltip="Leave (asks first while the session runs)"),
    ]

    def __init__(
        self,
        live: LiveSession | None = None,
        *,
        events: list[EventBase] | None = None,
        name: str | None = None,
    ) -> None:
        """Watch `live` as it runs, or show the state after `events` (a past session)."""
        super().__init__(name=name)
        self.live = live
        self._initial = events or []
        self.view = SessionView()
        self.panels: dict[str, AgentPanel] = {}
        self._approvals: ApprovalScreen | None = None
        self._held_back = 0
        """Escalations waiting while another screen covers this one (the quit question, say)."""

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="body"):
            yield AgentGrid(id="agents")
            with Vertical(id="side"):
                search = SearchBar("search the timeline", id="timeline-search")
                search.display = False
                yield search
                yield Timeline(id="timeline")
                yield PatternPane(id="pattern")
                yield DetailsPane(id="details")
        yield from self.compose_bottom()

    def compose_bottom(self) -> ComposeResult:
        """The lines under the panels: budget gauges and key hints."""
        yield BudgetBar(id="budget")
        yield KeyHints(self.BINDINGS)

    def on_mount(self) -> None:
        if self._pruning:  # taken down as it was put up (the app quit at once): its widgets never came
            return
        if self.live is not None:
            self.live.on_buffering = self._database_away
            self.live.on_traces = self._traces_lost
            self.run_worker(self.live.run(), name="engine", group="session")
            self.run_worker(pump(self.live.events, self), name="bridge", group="session")
            self.set_interval(1.0, self._tick)  # a live session's clock runs between events too
        if self._initial:
            self.post_message(EventsArrived(self._initial))
        self._tick()

    def _traces_lost(self, line: str) -> None:
        """The session's trace cannot be sent (the session goes on)."""
        self.notify(line.removeprefix("huddle: "), title="Traces", severity="warning", timeout=15, markup=False)

    def _database_away(self, line: str) -> None:
        """The session database went away (the session goes on, its events kept here), or came back."""
        away = self.live is not None and self.live.buffering is not None
        self.notify(line.removeprefix("huddle: "), title="Session database", severity="warning" if away else "information",
                    timeout=30 if away else 6, markup=False)

    # -- events in ------------------------------------------------------------

    @on(EventsArrived)
    async def _events_arrived(self, message: EventsArrived) -> None:
        self.view.apply_all(message.events)
        await self.show_view()

    async def show_view(self, *, full: bool = False) -> None:
        """Bring every widget that changed up to date with `self.view`; `full`: every
        widget, for a view that replaced the one shown (a replay moving back)."""
        view = self.view
        areas, changed_agents = view.take_changes()
        if full:
            areas |= {"timeline", "header", "pending", "plan", "notes"}
            changed_agents = set(view.agents)
        grid = self.query_one(AgentGrid)
        new = [agent for name, agent in view.agents.items() if name not in self.panels]
        if new:
            mixed = len(view.providers) > 1  # else the header names the one provider
            panels = [AgentPanel(agent, with_provider=mixed) for agent in new]
            for panel in panels:
                self.panels[panel.agent_name] = panel
            await grid.mount_all(panels)
            if not all(panel.children for panel in panels):  # the app is closing: they never got their parts
                return
            grid.fit()
            if self.focused is None:
                panels[0].stream.focus()
        for name in changed_agents:
            panel = self.panels.get(name)
            if panel is not None:
                panel.sync(view.agents[name])
        if "header" in areas:
            self.query_one(SessionHeader).show(view, mode=self.mode)
        if "timeline" in areas:
            self.query_one(Timeline).sync(view)
        if "plan" in areas:
            self.query_one(DetailsPane).refresh_plan(view)
        if areas & {"plan", "notes", "header"}:
            self.query_one(PatternPane).show(view)
        self._tick()  # the clock moves with every event, not only with budget changes
        if "pending" in areas:
            self._pending_changed()
        if "result" in areas and self.live is not None and self.live.finished is not None:
            self._show_result()  # its own end, not that of the record a resumed session shows first

    def _show_result(self) -> None:
        """The session just ended: its result (saying whether it is partial) in the details."""
        timeline = self.query_one(Timeline)
        if timeline.option_count:
            timeline.highlighted = timeline.option_count - 1
            self.show_entry(timeline.entry_at(timeline.highlighted))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "engine" or event.state != WorkerState.SUCCESS or self.live is None:
            return
        if self.live.error:
            self.notify(str(self.live.error), title="Recording failed: the session was stopped",
                        severity="error", timeout=30, markup=False)
        if self.live.problem:
            self.notify(self.live.problem, title="The session stopped", severity="error", timeout=30, markup=False)

    def elapsed(self) -> float:
        view = self.view
        if view.started_ts is None:
            return 0.0
        end = view.finished_ts if view.finished else self.now()
        return max(0.0, view.offset(end or view.started_ts))  # time worked: a resume's time away left out

    def _tick(self) -> None:
        """What moves with the clock: the header's status and time, the budget gauges."""
        seconds = self.elapsed()
        self.query_one(SessionHeader).show_state(self.view, elapsed=seconds)
        self.query_one(BudgetBar).show(self.view.spent, seconds)

    @property
    def mode(self) -> str:
        """"live", or how a past session is being shown (the header's badge)."""
        return "live" if self.live else "recorded"

    # -- approvals --------------------------------------------------------------

    def pending_escalations(self) -> list[EscalationRequested]:
        """What waits for a decision: not one just answered, whose decision is not yet an event."""
        pending = self.view.pending.values()
        return [e for e in pending if self.live.gate.waiting(e.escalation_id)] if self.live is not None else list(pending)

    def decide(self, escalation_id: str, decision: Decision) -> None:
        """Answer an escalation; raises `DecisionError` if the gate refuses it."""
        assert self.live is not None
        self.live.gate.resolve(escalation_id, decision)

    def allow_always(self, trigger: str) -> None:
        assert self.live is not None
        self.live.gate.allow_always(trigger)

    def allow_tool(self, escalation_id: str, *, exact: bool) -> str:
        """Always allow a pending tool use's tool (with this input, if `exact`); raises `DecisionError`."""
        assert self.live is not None
        return self.live.gate.allow_tool(escalation_id, exact=exact)

    def now(self) -> float:
        """The session's wall clock (the engine's, so countdowns match event times)."""
        return self.live.config.clock() if self.live else (self.view.last_ts or 0.0)

    @property
    def answering(self) -> bool:
        """Whether escalations are answered from this screen now: its session runs."""
        return self.live is not None and self.live.running

    def _pending_changed(self) -> None:
        if self._approvals is not None:
            self._approvals.sync()
        elif self.pending_escalations() and self.answering:
            if self.app.screen is self:
                self.action_approvals()
            elif len(self.view.pending) > self._held_back:  # a question or a page is open: not over it
                self._held_back = len(self.view.pending)
                waiting = plural(self._held_back, "escalation")
                self.notify(f"{waiting} waiting for you: shown when you close this.", timeout=4, markup=False)

    def on_screen_resume(self) -> None:
        """Back on this screen: the escalations that came while something covered it."""
        if self._held_back:
            self._held_back = 0
            if self.pending_escalations() and self.answering:
                self.action_approvals()

    def action_approvals(self) -> None:
        waiting = self.pending_escalations()
        if self._approvals is not None or not waiting or not self.answering:
            if not waiting:
                self.notify("Nothing is waiting for a decision.", timeout=2)
            return
        self._approvals = ApprovalScreen(self)
        self.app.push_screen(self._approvals, callback=self._approvals_closed)

    def _approvals_closed(self, hidden: bool | None) -> None:
        """Hidden, it stays hidden; closed as none were left, it shows what came as it closed."""
        self._approvals = None
        if not hidden:
            self._pending_changed()

    # -- panels, zoom, reading ---------------------------------------------------

    def focused_panel(self) -> AgentPanel | None:
        try:
            return self.focused.query_ancestor(AgentPanel) if self.focused is not None else None
        except NoMatches:
            return None

    def _cycle(self, step: int) -> None:
        panels = list(self.panels)
        if not panels:
            return
        current = self.focused_panel()
        index = panels.index(current.agent_name) if current is not None else -step
        self.focus_agent(panels[(index + step) % len(panels)])

    def action_next_panel(self) -> None:
        self._cycle(1)

    def action_previous_panel(self) -> None:
        self._cycle(-1)

    def focus_agent(self, name: str | None) -> None:
        """Focus an agent's panel; while one is zoomed, zoom that one instead."""
        panel = self.show_agent(name)
        if panel is not None:
            panel.stream.focus()

    def show_agent(self, name: str | None) -> AgentPanel | None:
        """Bring an agent's panel into view (zoomed, while one is) without moving the focus."""
        panel = self.panels.get(name or "")
        if panel is None:
            return None
        grid = self.query_one(AgentGrid)
        if grid.zoomed is not None and grid.zoomed is not panel:
            grid.zoom(panel)
        panel.scroll_visible()
        return panel

    def action_zoom(self) -> None:
        grid = self.query_one(AgentGrid)
        if grid.zoomed is not None:
            grid.zoom(None)
            self.query_one("#side").display = True
            return
        panel = self.focused_panel() or next(iter(self.panels.values()), None)
        if panel is None:
            return
        grid.zoom(panel)
        self.query_one("#side").display = False
        panel.stream.focus()

    def action_reply(self) -> None:
        panel = self.focused_panel()
        if panel is None:
            self.notify("Focus an agent's panel first (tab).", timeout=2)
            return
        agent = self.view.agents[panel.agent_name]
        if not agent.last_reply:
            self.notify(f"{agent.name} has no finished reply yet.", timeout=2, markup=False)
            return
        self.app.push_screen(ReadingScreen(f"{agent.name} · last reply", agent.last_reply, markdown=True))

    def action_task(self) -> None:
        self.app.push_screen(ReadingScreen("Task", self.view.task, markdown=False))

    def action_timeline(self) -> None:
        timeline = self.query_one(Timeline)
        timeline.focus()
        if timeline.highlighted is None and timeline.option_count:
            timeline.highlighted = timeline.option_count - 1

    @on(OptionList.OptionHighlighted, "#timeline")
    def _entry_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        self.show_entry(self.query_one(Timeline).entry_at(message.option_index))

    @on(OptionList.OptionSelected, "#timeline")
    async def _entry_selected(self, message: OptionList.OptionSelected) -> None:
        entry = self.query_one(Timeline).entry_at(message.option_index)
        if entry is not None:
            await self.select_entry(entry)

    def show_entry(self, entry: Entry | None) -> None:
        """A highlighted timeline entry: its details."""
        self.query_one(DetailsPane).show(entry, self.view)

    async def select_entry(self, entry: Entry) -> None:
        """A chosen timeline entry: its details, and the agent it concerns."""
        self.show_entry(entry)
        if entry.agent:
            self.focus_agent(entry.agent)

    # -- the result, searching and filtering the timeline, copying ------------------

    def action_result(self) -> None:
        self.show_result(self.view)

    def show_result(self, view: SessionView) -> None:
        """The result of the session `view` shows, or a notice that there is none yet."""
        if not view.finished:
            self.notify("No result yet: the session has not finished.", timeout=3)
            return
        self.app.push_screen(ResultScreen(view, title=f"Result · {clean_line(view.task, 60)}"))

    def action_search(self) -> None:
        if not self.query_one("#side").display:
            self.action_zoom()  # back from a zoomed panel: the timeline is beside the panels
        search = self.query_one(SearchBar)
        search.display = True
        search.focus()

    @on(Input.Changed, "#timeline-search")
    def _search_changed(self, message: Input.Changed) -> None:
        self.narrow(self.query_one(Timeline).filter.with_(text=message.value))

    @on(Input.Submitted, "#timeline-search")
    def _search_done(self) -> None:
        self.action_timeline()

    @on(SearchBar.Closed, "#timeline-search")
    def _search_closed(self, message: SearchBar.Closed) -> None:
        message.bar.display = False
        self.narrow(self.query_one(Timeline).filter.with_(text=""))
        self.action_timeline()

    def action_filter(self) -> None:
        timeline = self.query_one(Timeline)
        self.app.push_screen(FilterScreen(self.view.timeline, self.view.agents, timeline.filter), callback=self._filtered)

    def _filtered(self, chosen: TimelineFilter | None) -> None:
        if chosen is not None:
            self.narrow(chosen)

    def narrow(self, by: TimelineFilter) -> None:
        """Show only the timeline entries that pass `by`."""
        self.query_one(Timeline).narrow(self.view, by)

    def action_next_match(self, step: int) -> None:
        timeline = self.query_one(Timeline)
        if not timeline.filter.active:
            self.notify("Search (/) or filter (f) the timeline first.", timeout=2)
            return
        count = timeline.option_count
        if not count:
            self.notify("No entry matches.", timeout=2)
            return
        timeline.focus()
        current = timeline.highlighted
        timeline.highlighted = (0 if step > 0 else count - 1) if current is None else (current + step) % count

    def action_copy(self) -> None:
        panel = self.focused_panel()
        if panel is not None:
            agent = self.view.agents[panel.agent_name]
            if not agent.last_reply:
                self.notify(f"{agent.name} has no finished reply yet.", timeout=2, markup=False)
                return
            copy(self.app, f"{clean_line(agent.name)}'s last reply", agent.last_reply)
            return
        details = self.query_one(DetailsPane)
        if details.entry is not None and self.focused in (self.query_one(Timeline), details):
            copy(self.app, *entry_payload(details.entry, self.view))
        elif self.view.session_id:
            copy(self.app, "the session id", self.view.session_id)

    # -- leaving ------------------------------------------------------------------

    def action_leave(self) -> None:
        if self.live is not None and self.live.running:
            self.app.stop_sessions([self.live], leave_question, then=self.app.back)  # type: ignore[attr-defined]
        else:
            self.app.back()  # type: ignore[attr-defined]


def leave_question(running: list[LiveSession]) -> Question:
    if not running:
        return Question("The session has finished. Leave it?", "Its record is complete: it stays in the session browser (ctrl+o).",
                        "Leave", danger=False)
    return Question("Stop the session and leave?", "The session is cancelled: finished work is kept and it is recorded as cancelled.",
                    "Stop and leave")

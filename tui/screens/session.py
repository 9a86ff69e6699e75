"""SessionScreen: a team at work — a panel per agent, the timeline, budgets, approvals."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import OptionList
from textual.worker import Worker, WorkerState

from engine.approvals import Decision
from engine.events import EscalationRequested, EventBase
from tui.bridge import EventsArrived, pump
from tui.recording import LiveSession
from tui.screens.approval import ApprovalScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.reading import ReadingScreen
from tui.view import Entry, SessionView
from tui.widgets.agent_grid import AgentGrid
from tui.widgets.agent_panel import AgentPanel
from tui.widgets.budget_bar import BudgetBar
from tui.widgets.details import DetailsPane
from tui.widgets.key_hints import KeyHints
from tui.widgets.pattern_pane import PatternPane
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

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SessionHeader()
        with Horizontal(id="body"):
            yield AgentGrid(id="agents")
            with Vertical(id="side"):
                yield Timeline(id="timeline")
                yield PatternPane(id="pattern")
                yield DetailsPane(id="details")
        yield from self.compose_bottom()

    def compose_bottom(self) -> ComposeResult:
        """The lines under the panels: budget gauges and key hints."""
        yield BudgetBar(id="budget")
        yield KeyHints(self.BINDINGS)

    def on_mount(self) -> None:
        if self.live is not None:
            self.run_worker(self.live.run(), name="engine", group="session")
            self.run_worker(pump(self.live.events, self), name="bridge", group="session")
            self.set_interval(1.0, self._tick)  # a live session's clock runs between events too
        if self._initial:
            self.post_message(EventsArrived(self._initial))
        self._tick()

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
            panels = [AgentPanel(agent) for agent in new]
            for panel in panels:
                self.panels[panel.agent_name] = panel
            await grid.mount_all(panels)
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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "engine" and event.state == WorkerState.SUCCESS and self.live and self.live.error:
            self.notify(str(self.live.error), title="Recording failed: the session was stopped",
                        severity="error", timeout=30, markup=False)

    def elapsed(self) -> float:
        view = self.view
        if view.started_ts is None:
            return 0.0
        end = view.finished_ts if view.finished else self.now()
        return max(0.0, (end or view.started_ts) - view.started_ts)

    def _tick(self) -> None:
        """What moves with the clock: the header's status and time, the budget gauges."""
        seconds = self.elapsed()
        self.query_one(SessionHeader).show_state(self.view, elapsed=seconds)
        self.query_one(BudgetBar).show(self.view.budget, seconds)

    @property
    def mode(self) -> str:
        """"live", or how a past session is being shown (the header's badge)."""
        return "live" if self.live else "recorded"

    # -- approvals --------------------------------------------------------------

    def pending_escalations(self) -> list[EscalationRequested]:
        return list(self.view.pending.values())

    def decide(self, escalation_id: str, decision: Decision) -> None:
        """Answer an escalation; raises `DecisionError` if the gate refuses it."""
        assert self.live is not None
        self.live.gate.resolve(escalation_id, decision)

    def allow_always(self, trigger: str) -> None:
        assert self.live is not None
        self.live.gate.allow_always(trigger)

    def now(self) -> float:
        """The session's wall clock (the engine's, so countdowns match event times)."""
        return self.live.config.clock() if self.live else (self.view.last_ts or 0.0)

    def _pending_changed(self) -> None:
        if self._approvals is not None:
            self._approvals.sync()
        elif self.view.pending and self.live is not None and self.live.running:
            self.action_approvals()

    def action_approvals(self) -> None:
        if self._approvals is not None or not self.view.pending or self.live is None:
            if not self.view.pending:
                self.notify("Nothing is waiting for a decision.", timeout=2)
            return
        self._approvals = ApprovalScreen(self)
        self.app.push_screen(self._approvals, callback=self._approvals_closed)

    def _approvals_closed(self, _result: None) -> None:
        self._approvals = None

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
        panel = self.panels.get(name or "")
        if panel is None:
            return
        grid = self.query_one(AgentGrid)
        if grid.zoomed is not None and grid.zoomed is not panel:
            grid.zoom(panel)
        panel.stream.focus()
        panel.scroll_visible()

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

    # -- leaving ------------------------------------------------------------------

    def action_leave(self) -> None:
        if self.live is not None and self.live.running:
            self.app.stop_sessions(  # type: ignore[attr-defined]
                [self.live],
                ConfirmScreen(
                    "Stop the session and leave?",
                    "The session is cancelled: finished work is kept and it is recorded as cancelled.",
                    confirm="Stop and leave",
                ),
                then=self.app.back,  # type: ignore[attr-defined]
            )
        else:
            self.app.back()  # type: ignore[attr-defined]

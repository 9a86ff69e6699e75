"""What a session's screen shows at one moment: the session state, the panels' text
and the timeline.

The live screen and replay both fold the same events through `SessionView.apply`,
so the screen after event N shows the same thing whether N arrived live or was
read back from the database. The numbers and statuses are the session state's
(`engine.state`), the timeline's words the narrator's (`engine.narration`); this
adds only what a screen holds. Nothing here imports Textual.
"""

from __future__ import annotations

import json
from collections import deque
from copy import deepcopy
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from engine.events import (
    AgentMessage,
    CallDelta,
    CallFailed,
    CallFinished,
    CallStarted,
    EscalationRequested,
    EscalationResolved,
    EventBase,
    Handoff,
    PatternNote,
    PlanMade,
    Retry,
    SessionFinished,
    SessionResumed,
    StepFinished,
    ToolCall,
    ToolResult,
)
from engine.formats import plural
from engine.narration import narrate
from engine.state import Agent, SessionState
from tui.safe import safe

MAX_LINES = 400
"""Scroll-back per agent panel, in lines; older lines are dropped."""
MAX_TIMELINE = 2_000
"""Timeline entries a session's screen keeps; older ones are dropped."""


@dataclass
class AgentView(Agent):
    """One agent's panel: the agent as the session state holds it, and what it has written."""

    lines: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    """Finished lines as (style, text): style "" for the model's text, "rule", "dim" or "error" for ours."""
    partial: str = ""
    """The line being streamed, not yet ended."""
    line_total: int = 0
    """Lines ever appended, so a panel can tell which ones it has not shown yet."""
    shown_call: str | None = None
    """The call whose text goes straight into `lines`; another call's text is held until it ends."""
    held: dict[str, HeldText] = field(default_factory=dict)
    """Text of the other calls, by call key, in the order they will be shown."""
    span_calls: dict[str, str] = field(default_factory=dict)
    """The latest call key of each span: the call a tool event recorded before tool events
    carried their `call_key` belongs to."""

    def add_line(self, text: str, style: str = "") -> None:
        self.lines.append((style, text))
        self.line_total += 1

    def end_partial(self) -> None:
        if self.partial:
            self.add_line(self.partial)
            self.partial = ""

    def write(self, text: str) -> None:
        *complete, self.partial = (self.partial + text).split("\n")
        for line in complete:
            self.add_line(line)

    # Calls made at once (an auction's bids) each keep their text whole: one call's
    # text goes into the panel as it streams, the others' is held and follows, call
    # after call, each under its own rule line.

    def _held_for(self, call: str | None) -> HeldText | None:
        """Where a call's text goes: None for straight into the panel, else its held text."""
        if call is None or self.shown_call == call or call in self.held:
            return self.held.get(call) if call is not None else None
        if self.shown_call is None:
            if call in self.open_calls:
                self.shown_call = call
            return None
        return self.held.setdefault(call, HeldText())

    def call_started(self, call: str) -> None:
        self.open_calls.add(call)
        self._held_for(call)

    def call_line(self, call: str | None, text: str, style: str = "") -> None:
        """A line about a call (its rule, a tool it used, a failure); None: about the agent."""
        held = self._held_for(call)
        if held is None:
            self.end_partial()
            self.add_line(text, style)
        else:
            held.end_partial()
            held.lines.append((style, text))

    def call_text(self, call: str, text: str) -> None:
        held = self._held_for(call)
        if held is None:
            self.write(text)
        else:
            held.write(text)

    def call_ended(self, call: str) -> None:
        """A call finished or failed: if it was shown, the held text of the next one follows."""
        self.open_calls.discard(call)
        if self.shown_call == call:
            self.shown_call = None
            self.end_partial()
            self._show_held()

    def end_calls(self) -> None:
        """The session ended: every held text goes into the panel, in order."""
        self.open_calls.clear()
        self.shown_call = None
        self.end_partial()
        self._show_held()

    def _show_held(self) -> None:
        while self.held:
            call = next(iter(self.held))
            held = self.held.pop(call)
            for style, text in held.lines:
                self.add_line(text, style)
            self.partial = held.partial
            if call in self.open_calls:  # it goes on streaming, straight into the panel
                self.shown_call = call
                return
            self.end_partial()


@dataclass
class HeldText:
    """A call's text held back while another call of the same agent is shown."""

    lines: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    partial: str = ""

    def end_partial(self) -> None:
        if self.partial:
            self.lines.append(("", self.partial))
            self.partial = ""

    def write(self, text: str) -> None:
        *complete, self.partial = (self.partial + text).split("\n")
        self.lines.extend(("", line) for line in complete)


@dataclass(frozen=True)
class Entry:
    """One line of the orchestrator timeline."""

    seq: int
    offset: float
    agent: str | None
    icon: str
    text: str
    style: str = ""
    """"", "accent", "success", "warning" or "error"."""
    detail: dict[str, Any] | None = None
    """What selecting it shows: a plan, {"plan": True, "scope": ..., "revision": ...}; a payload,
    {"title": ..., "data": ...} (and "proposed": the payload before a person edited it); or
    {"title": ..., "text": ...}."""
    ref: str | None = None
    """The escalation it concerns, for escalation entries."""
    kind: str = ""
    """The kind of event it tells of ("step.started"), for filtering the timeline."""


class SessionView(SessionState):
    """The state of a session's screen: the session state (`engine.state`), each agent's
    panel text, and the timeline, built by applying its events in order."""

    agent_type = AgentView
    agents: dict[str, AgentView]  # type: ignore[assignment]

    def __init__(self, *, timeline_limit: int | None = MAX_TIMELINE) -> None:
        """`timeline_limit`: how many entries to keep (None: all, for a replay's index of the whole session)."""
        super().__init__()
        self.timeline: deque[Entry] = deque(maxlen=timeline_limit)
        self._changed_agents: set[str] = set()
        self.changed: set[str] = set()
        """What changed since `take_changes`: "header" (who, what, where: set once), "timeline",
        "pending", "plan", "notes", "result" (the session finished). Agents that changed are named
        apart; the status, the budget and the clock are read on every update."""

    def take_changes(self) -> tuple[set[str], set[str]]:
        """What changed (areas, agent names) since the last call, and forget it."""
        areas, agents = self.changed, self._changed_agents
        self.changed, self._changed_agents = set(), set()
        return areas, agents

    def apply(self, event: EventBase) -> None:
        """Fold one event in. This is where events enter the screens (live, replayed or
        recorded): every string in them passes the gate (`tui.safe.safe`) here, so what
        the view holds, and every widget draws, is safe to show."""
        event = safe(event)
        pending = len(self.pending)
        super().apply(event)
        if self.retold:  # told before a resume: nothing changed
            return
        show = _PANELS.get(type(event))
        if show is not None:
            show(self, event)
        if event.agent in self.agents:
            self._changed_agents.add(event.agent)  # type: ignore[arg-type]
        areas = _AREAS.get(event.kind)
        if areas:
            self.changed |= areas
        if isinstance(event, PatternNote):
            self.changed.add("notes")
        if len(self.pending) != pending:
            self.changed.add("pending")
        line = narrate(self, event)
        if line is not None:
            detail, ref = _detail(self, event)
            self.timeline.append(Entry(
                event.seq, self.offset(event.ts), line.agent, line.icon, line.text, line.tone, detail, ref, event.kind,
            ))
            self.changed.add("timeline")

    def apply_all(self, events: list[EventBase]) -> None:
        for event in events:
            self.apply(event)

    def copy(self, *, timeline_limit: int | None = MAX_TIMELINE) -> SessionView:
        """A copy that folds on independently (a replay's checkpoints), keeping the last
        `timeline_limit` entries. Entries, events, decisions and finished lines never
        change once made, so the copy shares them."""
        lines = (line for agent in self.agents.values() for line in agent.lines)
        frozen = (*self.timeline, *self.notes, *self.requests.values(), *self.decisions.values(), *lines)
        shared: dict[int, Any] = {id(item): item for item in frozen}
        twin = deepcopy(self, shared)
        twin.timeline = deque(twin.timeline, maxlen=timeline_limit)
        return twin

    # -- what the panels show --------------------------------------------------------

    def _call_started(self, e: CallStarted) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is None:
            return
        purpose = self.calls[e.call_key].purpose
        if e.step_id and e.step_id in self.steps:
            purpose = f"{e.step_id} · {self.steps[e.step_id].title}"
        after = " (after tools)" if e.tool_round else ""
        attempt = f" (attempt {e.attempt})" if e.attempt > 1 else ""
        agent.call_started(e.call_key)
        agent.span_calls[e.span_id] = e.call_key
        agent.call_line(e.call_key, f"── {purpose}{after}{attempt} ", "rule")

    def _call_delta(self, e: CallDelta) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is not None:
            agent.call_text(e.call_key, e.text)

    def _call_finished(self, e: CallFinished) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is not None:
            agent.call_ended(e.call_key)

    def _call_failed(self, e: CallFailed) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is not None:
            agent.call_line(e.call_key, f"✗ {e.error}", "error")
            agent.call_ended(e.call_key)

    def _retry(self, e: Retry) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is not None:
            agent.call_line(e.call_key, f"↻ retrying in {e.delay_s:.1f}s", "dim")

    def _step_finished(self, e: StepFinished) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is not None and e.status == "error":
            agent.call_line(None, f"✗ {e.step_id} {e.status}: {e.error or ''}", "error")

    def _tool_call(self, e: ToolCall) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is not None:
            text = f"⚙ {e.tool} {json.dumps(e.input, ensure_ascii=False)[:120]}"
            agent.call_line(e.call_key or agent.span_calls.get(e.span_id), text, "dim")

    def _tool_result(self, e: ToolResult) -> None:
        agent = self.agents.get(e.agent or "")
        if agent is None:
            return
        call = e.call_key or agent.span_calls.get(e.span_id)
        if e.is_error:
            agent.call_line(call, f"✗ {e.tool}: {e.output[:200]}", "error")
        else:
            agent.call_line(call, f"  → {plural(len(e.output.splitlines()), 'line')}", "dim")

    def _session_finished(self, e: SessionFinished) -> None:
        for agent in self.agents.values():
            agent.end_calls()
            self._changed_agents.add(agent.name)

    def _session_resumed(self, e: SessionResumed) -> None:
        """What a run that ended without a word (its process died) left streaming stops where
        it stopped, saying so; the calls it was making are made again after this."""
        for agent in self.agents.values():
            if agent.shown_call is None and not agent.held:
                continue
            if agent.shown_call is not None:
                agent.end_partial()
                agent.add_line("⋯ cut off when the session ended", "dim")
            agent.end_calls()  # and the text held behind it follows
            self._changed_agents.add(agent.name)


_PANELS: dict[type[EventBase], Callable[[SessionView, Any], None]] = {
    CallStarted: SessionView._call_started,
    CallDelta: SessionView._call_delta,
    CallFinished: SessionView._call_finished,
    CallFailed: SessionView._call_failed,
    Retry: SessionView._retry,
    StepFinished: SessionView._step_finished,
    ToolCall: SessionView._tool_call,
    ToolResult: SessionView._tool_result,
    SessionFinished: SessionView._session_finished,
    SessionResumed: SessionView._session_resumed,
}
"""What each kind writes in an agent's panel; other kinds only change its status and totals."""

_AREAS: dict[str, set[str]] = {
    "session.started": {"header"},
    "session.finished": {"pending", "plan", "result"},
    "session.resumed": {"pending", "plan"},
    "plan.made": {"plan"},
    "step.started": {"plan"},
    "step.finished": {"plan"},
}
"""The parts of the screen each kind changes, besides its agent, the timeline and the pending list."""


def _detail(view: SessionView, e: EventBase) -> tuple[dict[str, Any] | None, str | None]:
    """What selecting the event's timeline entry shows, and the escalation it concerns."""
    if isinstance(e, PlanMade):
        version = view.plan_by[e.agent]
        return {"plan": True, "scope": version.scope, "revision": e.revision}, None
    if isinstance(e, SessionFinished):
        return {"title": view.result_title, "text": e.result}, None
    if isinstance(e, EscalationRequested):
        version = view.plan_by.get(e.agent)
        if version is not None and isinstance(e.payload, dict) and "steps" in e.payload:
            return {"plan": True, "scope": version.scope, "revision": version.revision}, e.escalation_id
        return {"title": f"{e.trigger} payload", "data": e.payload}, e.escalation_id
    if isinstance(e, EscalationResolved):
        if e.action != "edit" or e.edited is None:
            return None, e.escalation_id
        detail: dict[str, Any] = {"title": "edited payload", "data": e.edited}
        request = view.requests.get(e.escalation_id)
        if request is not None:
            detail["proposed"] = request.payload
        return detail, e.escalation_id
    if isinstance(e, Handoff):
        return {"title": f"handoff payload ({e.contract})", "data": e.payload}, None
    if isinstance(e, AgentMessage):
        return {"title": "message", "text": e.text}, None
    if isinstance(e, PatternNote):
        data = note_fields(e)
        return ({"title": e.topic, "data": data} if data else None), None
    if isinstance(e, ToolCall):
        return {"title": f"{e.tool} input", "data": e.input}, None
    if isinstance(e, ToolResult):
        return {"title": f"{e.tool} output", "text": e.output}, None
    return None, None


def note_fields(note: PatternNote) -> dict[str, Any]:
    """What a pattern note holds besides its line of text."""
    return note.model_dump(mode="json", exclude={*EventBase.model_fields, "kind", "text"})

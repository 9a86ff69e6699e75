"""What a session looks like at one moment: the events so far, folded into plain data.

The live screen and replay both fold the same events through `SessionView.apply`,
so the screen after event N shows the same thing whether N arrived live or was
read back from the database. Nothing here imports Textual.
"""

from __future__ import annotations

import json
from collections import deque
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from engine.budgets import Spent
from engine.events import DECIDED, EscalationRequested, EventBase
from engine.formats import limits_text
from tui.safe import clean, clean_data

MAX_LINES = 400
"""Scroll-back per agent panel, in lines; older lines are dropped."""
MAX_TIMELINE = 2_000
"""Timeline entries a session's screen keeps; older ones are dropped."""


@dataclass
class AgentView:
    """One agent's panel: who, what it is doing, what it has written, what it cost."""

    name: str
    role: str
    model: str
    path: tuple[str, ...] = ()
    """The member teams it belongs to, outermost first (hierarchical teams)."""
    status: str = "idle"
    step: str | None = None
    """The subtask it is on ("s2 · Implement rate limiter"), or its current call's purpose."""
    lines: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    """Finished lines as (style, text): style "" for the model's text, "rule", "dim" or "error" for ours."""
    partial: str = ""
    """The line being streamed, not yet ended."""
    line_total: int = 0
    """Lines ever appended, so a panel can tell which ones it has not shown yet."""
    last_reply: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency: float | None = None
    calls: int = 0
    _before_wait: str = "idle"

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
    """What selecting it shows: {"plan": True} or {"title": ..., "data": ...}."""
    ref: str | None = None
    """The escalation it concerns, for escalation entries."""


@dataclass(frozen=True)
class Note:
    """Something particular to the pattern (a route, a bid, a round's verdict, a write)."""

    seq: int
    offset: float
    agent: str | None
    topic: str
    text: str
    data: dict[str, Any]


MAX_NOTES = 500


@dataclass
class Budget(Spent):
    """What the session has spent, against which limits, as of the latest update."""

    calls: int = 0
    limits: dict[str, float | None] = field(default_factory=dict)


class SessionView:
    """The state of a session's screen, built by applying its events in order."""

    def __init__(self, *, timeline_limit: int | None = MAX_TIMELINE) -> None:
        """`timeline_limit`: how many entries to keep (None: all, for a replay's index of the whole session)."""
        self.session_id = ""
        self.task = ""
        self.pattern = ""
        self.provider = ""
        self.seed: int | None = None
        self.status = "running"
        self.result: str | None = None
        self.reason: str | None = None
        self.partial = False
        self.started_ts: float | None = None
        self.last_ts: float | None = None
        self.finished_ts: float | None = None
        self.seq = 0
        self.agents: dict[str, AgentView] = {}
        self.timeline: deque[Entry] = deque(maxlen=timeline_limit)
        self.plan: dict[str, Any] | None = None
        """The session's top-level plan."""
        self.plan_revision = 0
        self.plans: dict[str, dict[str, Any]] = {}
        """Every plan by scope: "" for the top level, "s2/engineering" for a member team's."""
        self.notes: deque[Note] = deque(maxlen=MAX_NOTES)
        self.steps: dict[str, dict[str, Any]] = {}
        """Every step seen: id -> {"title", "assigned_to", "status", "error"}."""
        self.pending: dict[str, EscalationRequested] = {}
        """Escalations waiting for a human, oldest first."""
        self.decisions: dict[str, dict[str, Any]] = {}
        """How each escalation ended: id -> {"action", "by", "rule", "reason", "ts"}."""
        self.budget = Budget()
        self._changed_agents: set[str] = set()
        self.changed: set[str] = set()
        """What changed since `take_changes`: "header" (who, what, where: set once), "timeline",
        "pending", "plan", "notes". Agents that changed are named apart; the status, the
        budget and the clock are read on every update."""

    # -- reading ------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.finished_ts is not None

    def offset(self, ts: float) -> float:
        return ts - (self.started_ts or ts)

    def take_changes(self) -> tuple[set[str], set[str]]:
        """What changed (areas, agent names) since the last call, and forget it."""
        areas, agents = self.changed, self._changed_agents
        self.changed, self._changed_agents = set(), set()
        return areas, agents

    # -- folding ---------------------------------------------------------------

    def apply(self, event: EventBase) -> None:
        self.seq = event.seq
        self.last_ts = event.ts
        handler = getattr(self, "_on_" + event.kind.replace(".", "_"), None)
        if handler is not None:
            handler(event)

    def apply_all(self, events: list[EventBase]) -> None:
        for event in events:
            self.apply(event)

    def copy(self, *, timeline_limit: int | None = MAX_TIMELINE) -> SessionView:
        """A copy that folds on independently (a replay's checkpoints), keeping the last
        `timeline_limit` entries. Entries, notes, requests and finished lines never
        change once made, so the copy shares them."""
        lines = (line for agent in self.agents.values() for line in agent.lines)
        shared: dict[int, Any] = {id(item): item for item in (*self.timeline, *self.notes, *self.pending.values(), *lines)}
        twin = deepcopy(self, shared)
        twin.timeline = deque(twin.timeline, maxlen=timeline_limit)
        return twin

    def _agent(self, name: str | None) -> AgentView | None:
        if name is None:
            return None
        agent = self.agents.get(name)
        if agent is not None:
            self._changed_agents.add(name)
        return agent

    def _entry(
        self, event: EventBase, icon: str, text: str, style: str = "",
        detail: dict[str, Any] | None = None, agent: str | None = None, ref: str | None = None,
    ) -> None:
        self.timeline.append(
            Entry(event.seq, self.offset(event.ts), agent or event.agent, icon, clean(text), style, detail, ref)
        )
        self.changed.add("timeline")

    def _on_session_started(self, e: Any) -> None:
        self.session_id, self.task = e.session_id, e.task
        self.pattern, self.provider, self.seed = e.pattern, e.provider, e.seed
        self.started_ts = e.ts
        for spec in e.team.callers():
            path = tuple(clean(team) for team in e.team.path_of(spec.name))
            self.agents[spec.name] = AgentView(spec.name, clean(spec.role), spec.model, path)
        self.budget.limits = e.limits.model_dump()
        self._entry(e, "◆", f"session started: {e.pattern}, {len(e.team.agents)} agents", "accent")
        self.changed.add("header")

    def _on_session_finished(self, e: Any) -> None:
        self.status, self.result, self.reason, self.partial = e.status, e.result, e.reason, e.partial
        self.finished_ts = e.ts
        self.pending.clear()
        for step in self.steps.values():  # work cut short by a stop or a cancel
            if step.get("status") == "running":
                step["status"] = "stopped"
        for agent in self.agents.values():
            agent.end_partial()
            if agent.status in ("thinking", "streaming", "retrying", "waiting"):
                agent.status = "idle"
            self._agent(agent.name)
        style = "success" if e.status == "completed" else "error"
        text = f"session {e.status}" + (f": {e.reason}" if e.reason else "")
        self._entry(e, "◆", text, style, {"title": "Result", "text": e.result})
        self.changed |= {"pending", "plan"}

    def _on_plan_made(self, e: Any) -> None:
        plan: dict[str, Any] = clean_data(e.plan)  # type: ignore[assignment]
        steps = plan.get("steps", [])
        first = str(steps[0].get("id", "")) if steps else ""
        scope = first.rsplit("/", 1)[0] if "/" in first else ""
        self.plans[scope] = plan
        if not scope:
            self.plan, self.plan_revision = plan, e.revision
        for step in steps:
            self.steps.setdefault(str(step.get("id")), {
                "title": step.get("title", ""), "assigned_to": step.get("assigned_to", ""),
                "status": "planned", "error": None,
            })
        count = len(steps)
        label = "plan" if e.revision == 0 else f"plan revision {e.revision}"
        if scope:
            label = f"{scope} {label}"
        self._entry(e, "▤", f"{label}: {count} steps", "accent", {"plan": True})
        self.changed.add("plan")

    def _on_step_started(self, e: Any) -> None:
        step = self.steps.setdefault(e.step_id, {"error": None})
        step.update(status="running", title=clean(e.title), assigned_to=e.assigned_to)
        agent = self._agent(e.assigned_to)
        if agent is not None:
            agent.step = f"{e.step_id} · {clean(e.title)}"
        self._entry(e, "▶", f"{e.step_id} → {e.assigned_to}: {e.title}", agent=e.assigned_to)
        self.changed.add("plan")

    def _on_step_finished(self, e: Any) -> None:
        step = self.steps.setdefault(e.step_id, {"title": e.step_id, "assigned_to": e.agent or "", "error": None})
        step.update(status=e.status, error=clean(e.error) if e.error else None)
        if e.status == "done":
            self._entry(e, "■", f"{e.step_id} done", "success")
        else:
            agent = self._agent(e.agent)
            if agent is not None and e.status == "error":
                agent.status = "failed"
                agent.add_line(f"✗ {e.step_id} {e.status}: {clean(e.error or '')}", "error")
            icon, style = ("✗", "error") if e.status == "error" else ("–", "warning")
            self._entry(e, icon, f"{e.step_id} {e.status}: {e.error}", style)
        self.changed.add("plan")

    def _on_call_started(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is None:
            return
        purpose = _purpose(e.span_id)
        if e.step_id and e.step_id in self.steps:
            purpose = f"{e.step_id} · {self.steps[e.step_id]['title']}"
        agent.end_partial()
        after = " (after tools)" if e.tool_round else ""
        attempt = f" (attempt {e.attempt})" if e.attempt > 1 else ""
        agent.add_line(f"── {clean(purpose)}{after}{attempt} ", "rule")
        agent.status = "thinking"
        if not e.step_id:
            agent.step = clean(purpose)

    def _on_call_delta(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is None:
            return
        agent.write(clean(e.text))
        agent.status = "streaming"

    def _on_call_finished(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is None:
            return
        agent.end_partial()
        agent.status = "done"
        agent.tokens_in += e.usage.tokens_in
        agent.tokens_out += e.usage.output_tokens
        agent.cost += e.cost
        agent.latency = e.latency_s
        agent.calls += 1
        if e.structured is None:
            agent.last_reply = e.text

    def _on_call_failed(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.end_partial()
            agent.add_line(f"✗ {clean(e.error)}", "error")
            agent.status = "failed" if e.final else "retrying"
        what = "call failed" if e.final else f"attempt {e.attempt} failed"
        self._entry(e, "✗", f"{what}: {e.error}", "error" if e.final else "warning")

    def _on_retry(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.status = "retrying"
            agent.add_line(f"↻ retrying in {e.delay_s:.1f}s", "dim")
        after = f" (retry-after {e.retry_after_s:g}s)" if e.retry_after_s else ""
        self._entry(e, "↻", f"retry #{e.attempt} in {e.delay_s:.1f}s{after}: {e.reason}", "warning")

    def _on_escalation_requested(self, e: Any) -> None:
        if e.human:
            self.pending[e.escalation_id] = e
            agent = self._agent(e.agent)
            if agent is not None and agent.status != "waiting":
                agent._before_wait, agent.status = agent.status, "waiting"
            self.changed.add("pending")
        detail = {"plan": True} if e.trigger in ("plan", "low_confidence") and isinstance(e.payload, dict) and "steps" in e.payload else {"title": f"{e.trigger} payload", "data": e.payload}
        self._entry(e, "?", f"[{e.trigger}] {e.reason}", "warning", detail, ref=e.escalation_id)

    def _on_escalation_resolved(self, e: Any) -> None:
        self.decisions[e.escalation_id] = {
            "action": e.action, "by": e.by, "rule": e.rule, "reason": clean(e.reason or "") or None,
            "offset": self.offset(e.ts),
        }
        if self.pending.pop(e.escalation_id, None) is not None:
            self.changed.add("pending")
            agent = self._agent(e.agent)
            if agent is not None and agent.status == "waiting" and not any(p.agent == e.agent for p in self.pending.values()):
                agent.status = agent._before_wait
        word = DECIDED[e.action]
        style = {"approve": "success", "reject": "error", "edit": "accent"}[e.action]
        reason = f": {e.reason}" if e.reason else ""
        detail = {"title": "edited payload", "data": e.edited} if e.action == "edit" else None
        self._entry(e, "✓" if e.action != "reject" else "✗", f"{word} by {e.by} ({e.rule}){reason}", style, detail, ref=e.escalation_id)

    def _on_budget_updated(self, e: Any) -> None:
        b = self.budget
        b.tokens, b.cost, b.turns, b.seconds, b.calls = e.tokens, e.cost, e.turns, e.seconds, e.calls
        b.limits = e.limits.model_dump()
        if e.reason == "extended":
            self._entry(e, "$", f"budget raised: {limits_text(b.limits)}", "accent")

    def _on_handoff(self, e: Any) -> None:
        confidence = f" ({e.confidence:.0%})" if e.confidence is not None else ""
        style = {"accepted": "", "invalid": "error", "low_confidence": "warning"}[e.verdict]
        error = f": {e.error}" if e.error else ""
        self._entry(e, "⇢", f"handoff {e.from_agent} → {e.to_agent} [{e.contract}] {e.verdict}{confidence}{error}",
                    style, {"title": f"handoff payload ({e.contract})", "data": e.payload}, agent=e.to_agent)

    def _on_message(self, e: Any) -> None:
        to = e.to_agent or "everyone"
        self._entry(e, "✉", f"{e.from_agent} → {to}: {e.text}", detail={"title": "message", "text": e.text}, agent=e.from_agent)

    def _on_pattern_note(self, e: Any) -> None:
        data: dict[str, Any] = clean_data(e.data)  # type: ignore[assignment]
        self.notes.append(Note(e.seq, self.offset(e.ts), e.agent, e.topic, clean(e.text), data))
        self.changed.add("notes")
        self._entry(e, "·", f"{e.topic}: {e.text}", "accent", {"title": e.topic, "data": e.data} if e.data else None)

    def _on_tool_call(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.end_partial()
            agent.add_line(f"⚙ {clean(e.tool)} {clean(json.dumps(e.input, ensure_ascii=False))[:120]}", "dim")
            agent.status = "thinking"  # between rounds: the call goes on once the tool has run
        self._entry(e, "⚙", f"{e.tool} {json.dumps(e.input)[:80]}", detail={"title": f"{e.tool} input", "data": e.input})

    def _on_tool_result(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            if e.is_error:
                agent.add_line(f"✗ {clean(e.tool)}: {clean(e.output)[:200]}", "error")
            else:
                agent.add_line(f"  → {len(e.output.splitlines())} lines", "dim")
        gave = e.output[:120] if e.is_error else f"{len(e.output.splitlines())} lines"
        self._entry(e, "⚙", f"{e.tool} → {gave}", "error" if e.is_error else "", {"title": f"{e.tool} output", "text": e.output})

    def _on_error(self, e: Any) -> None:
        self._entry(e, "!", e.message, "error")


def _purpose(span_id: str) -> str:
    """What a call is for, from its span: "root/plan" -> "plan"."""
    last = span_id.rsplit("/", 1)[-1]
    return "session" if last == "root" else last.replace(":", " ")


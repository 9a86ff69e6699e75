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
from engine.formats import limits_text, outcome, plural
from tui.safe import safe

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
    lines: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    """Finished lines as (style, text): style "" for the model's text, "rule", "dim" or "error" for ours."""
    partial: str = ""
    """The line being streamed, not yet ended."""
    line_total: int = 0
    """Lines ever appended, so a panel can tell which ones it has not shown yet."""
    open_calls: set[str] = field(default_factory=set)
    """The calls (by call key) under way: started, not yet finished or failed."""
    shown_call: str | None = None
    """The call whose text goes straight into `lines`; another call's text is held until it ends."""
    held: dict[str, HeldText] = field(default_factory=dict)
    """Text of the other calls, by call key, in the order they will be shown."""
    span_calls: dict[str, str] = field(default_factory=dict)
    """The latest call key of each span, for what a call's span says about it (its tools)."""
    last_reply: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency: float | None = None
    calls: int = 0
    live: dict[str, tuple[int, int, float, float | None]] = field(default_factory=dict)
    """The calls streaming now, by call key: tokens in and out, cost and output tokens a
    second so far (`call.progress`); counted in the totals until they end."""
    _before_wait: str = "idle"

    @property
    def totals(self) -> tuple[int, int, float]:
        """Tokens in, tokens out and cost: of its calls and failed attempts, and of those
        still streaming, so far."""
        return (
            self.tokens_in + sum(call[0] for call in self.live.values()),
            self.tokens_out + sum(call[1] for call in self.live.values()),
            self.cost + sum(call[2] for call in self.live.values()),
        )

    @property
    def rate(self) -> float | None:
        """Output tokens a second over the calls streaming now; None when none is."""
        rates = [call[3] for call in self.live.values() if call[3] is not None]
        return sum(rates) if rates else None

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
        self.failed_steps = 0
        self.skipped_steps = 0
        """Steps that did not get done, as the session finished."""
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
        self.revisions: dict[tuple[str, int], dict[str, Any]] = {}
        """Every version of every plan, by (scope, revision): the first proposal stays readable."""
        self._plan_by: dict[str | None, tuple[str, int]] = {}
        """The plan each lead made last, by (scope, revision): what its plan escalation proposes."""
        self.notes: deque[Note] = deque(maxlen=MAX_NOTES)
        self.steps: dict[str, dict[str, Any]] = {}
        """Every step seen: id -> {"title", "assigned_to", "status", "error"}."""
        self.pending: dict[str, EscalationRequested] = {}
        """Escalations waiting for a human, oldest first."""
        self.decisions: dict[str, dict[str, Any]] = {}
        self._named: dict[str, dict[str, str]] = {}
        """Each escalation's named choices (`EscalationRequested.named`), for how its decision reads."""
        """How each escalation ended: id -> {"action", "by", "rule", "reason", "offset", "label"
        (the named choice taken, unless a plain one)}."""
        self.budget = Budget()
        self._changed_agents: set[str] = set()
        self.changed: set[str] = set()
        """What changed since `take_changes`: "header" (who, what, where: set once), "timeline",
        "pending", "plan", "notes", "result" (the session finished). Agents that changed are named apart; the status, the
        budget and the clock are read on every update."""

    # -- reading ------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.finished_ts is not None

    @property
    def outcome(self) -> str:
        """The status, saying which steps did not get done ("completed with 3 failed steps")."""
        return outcome(self.status, self.failed_steps, self.skipped_steps)

    @property
    def result_title(self) -> str:
        """What the result is: "Result", or "Partial result (stopped: cost budget used up)"."""
        if not self.partial:
            return "Result"
        return f"Partial result ({self.status}" + (f": {self.reason})" if self.reason else ")")

    def offset(self, ts: float) -> float:
        return ts - (self.started_ts or ts)

    def take_changes(self) -> tuple[set[str], set[str]]:
        """What changed (areas, agent names) since the last call, and forget it."""
        areas, agents = self.changed, self._changed_agents
        self.changed, self._changed_agents = set(), set()
        return areas, agents

    # -- folding ---------------------------------------------------------------

    def apply(self, event: EventBase) -> None:
        """Fold one event in. This is where events enter the screens (live, replayed or
        recorded): every string in them passes the gate (`tui.safe.safe`) here, so what
        the view holds, and every widget draws, is safe to show."""
        event = safe(event)
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
            Entry(event.seq, self.offset(event.ts), agent or event.agent, icon, text, style, detail, ref, event.kind)
        )
        self.changed.add("timeline")

    def _on_session_started(self, e: Any) -> None:
        self.session_id, self.task = e.session_id, e.task
        self.pattern, self.provider, self.seed = e.pattern, e.provider, e.seed
        self.started_ts = e.ts
        for spec in e.team.callers():
            path = tuple(e.team.path_of(spec.name))
            self.agents[spec.name] = AgentView(spec.name, spec.role, spec.model, path)
        self.budget.limits = e.limits.model_dump()
        self._entry(e, "◆", f"session started: {e.pattern}, {plural(len(self.agents), 'agent')}", "accent")
        self.changed.add("header")

    def _on_session_finished(self, e: Any) -> None:
        self.status, self.result, self.reason, self.partial = e.status, e.result, e.reason, e.partial
        self.failed_steps, self.skipped_steps = e.failed_steps, e.skipped_steps
        self.finished_ts = e.ts
        self.pending.clear()
        for step in self.steps.values():  # work cut short by a stop or a cancel
            if step.get("status") == "running":
                step["status"] = "stopped"
        for agent in self.agents.values():
            agent.end_calls()
            agent.live.clear()
            if agent.status in ("thinking", "streaming", "retrying", "waiting"):
                agent.status = "idle"
            self._agent(agent.name)
        style = "error" if e.status != "completed" else "warning" if e.failed_steps or e.skipped_steps else "success"
        text = f"session {self.outcome}" + (f": {e.reason}" if e.reason else "")
        self._entry(e, "◆", text, style, {"title": self.result_title, "text": e.result})
        self.changed |= {"pending", "plan", "result"}

    def _on_plan_made(self, e: Any) -> None:
        plan: dict[str, Any] = e.plan
        steps = plan.get("steps", [])
        first = str(steps[0].get("id", "")) if steps else ""
        scope = first.rsplit("/", 1)[0] if "/" in first else ""
        self.plans[scope] = plan
        self.revisions[scope, e.revision] = plan
        self._plan_by[e.agent] = (scope, e.revision)
        if not scope:
            self.plan, self.plan_revision = plan, e.revision
        for step in steps:
            self.steps.setdefault(str(step.get("id")), {
                "title": step.get("title", ""), "assigned_to": step.get("assigned_to", ""),
                "status": "planned", "error": None,
            })
        label = "plan" if e.revision == 0 else f"plan revision {e.revision}"
        if scope:
            label = f"{scope} {label}"
        self._entry(e, "▤", f"{label}: {plural(len(steps), 'step')}", "accent", {"plan": True, "scope": scope, "revision": e.revision})
        self.changed.add("plan")

    def _on_step_started(self, e: Any) -> None:
        step = self.steps.setdefault(e.step_id, {"error": None})
        step.update(status="running", title=e.title, assigned_to=e.assigned_to)
        self._entry(e, "▶", f"{e.step_id} → {e.assigned_to}: {e.title}", agent=e.assigned_to)
        self.changed.add("plan")

    def _on_step_finished(self, e: Any) -> None:
        step = self.steps.setdefault(e.step_id, {"title": e.step_id, "assigned_to": e.agent or "", "error": None})
        step.update(status=e.status, error=e.error)
        if e.status == "done":
            self._entry(e, "■", f"{e.step_id} done", "success")
        else:
            agent = self._agent(e.agent)
            if agent is not None and e.status == "error":
                agent.status = "failed"
                agent.call_line(None, f"✗ {e.step_id} {e.status}: {e.error or ''}", "error")
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
        after = " (after tools)" if e.tool_round else ""
        attempt = f" (attempt {e.attempt})" if e.attempt > 1 else ""
        agent.call_started(e.call_key)
        agent.span_calls[e.span_id] = e.call_key
        agent.call_line(e.call_key, f"── {purpose}{after}{attempt} ", "rule")
        agent.status = "thinking"

    def _on_call_delta(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is None:
            return
        agent.call_text(e.call_key, e.text)
        agent.status = "streaming"

    def _on_call_progress(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.live[e.call_key] = (e.usage.tokens_in, e.usage.output_tokens, e.cost, e.tokens_per_s)

    def _on_call_finished(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is None:
            return
        agent.live.pop(e.call_key, None)
        agent.call_ended(e.call_key)
        if not agent.open_calls:
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
            agent.live.pop(e.call_key, None)
            agent.tokens_in += e.usage.tokens_in  # what the attempt used before it failed
            agent.tokens_out += e.usage.output_tokens
            agent.cost += e.cost
            agent.call_line(e.call_key, f"✗ {e.error}", "error")
            agent.call_ended(e.call_key)
            agent.status = "failed" if e.final else "retrying"
        what = "call failed" if e.final else f"attempt {e.attempt} failed"
        self._entry(e, "✗", f"{what}: {e.error}", "error" if e.final else "warning")

    def _on_retry(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.status = "retrying"
            agent.call_line(e.call_key, f"↻ retrying in {e.delay_s:.1f}s", "dim")
        after = f" (retry-after {e.retry_after_s:g}s)" if e.retry_after_s else ""
        self._entry(e, "↻", f"retry #{e.attempt} in {e.delay_s:.1f}s{after}: {e.reason}", "warning")

    def _on_escalation_requested(self, e: Any) -> None:
        if named := e.named():
            self._named[e.escalation_id] = named
        if e.human:
            self.pending[e.escalation_id] = e
            agent = self._agent(e.agent)
            if agent is not None and agent.status != "waiting":
                agent._before_wait, agent.status = agent.status, "waiting"
            self.changed.add("pending")
        proposes = self._plan_by.get(e.agent) if isinstance(e.payload, dict) and "steps" in e.payload else None
        if proposes is not None:
            detail: dict[str, Any] = {"plan": True, "scope": proposes[0], "revision": proposes[1]}
        else:
            detail = {"title": f"{e.trigger} payload", "data": e.payload}
        self._entry(e, "?", f"[{e.trigger}] {e.reason}", "warning", detail, ref=e.escalation_id)

    def _on_escalation_resolved(self, e: Any) -> None:
        label = self._named.pop(e.escalation_id, {}).get(e.option or "")
        self.decisions[e.escalation_id] = {
            "action": e.action, "by": e.by, "rule": e.rule, "reason": e.reason or None,
            "offset": self.offset(e.ts), "label": label,
        }
        request = self.pending.pop(e.escalation_id, None)
        if request is not None:
            self.changed.add("pending")
            agent = self._agent(e.agent)
            if agent is not None and agent.status == "waiting" and not any(p.agent == e.agent for p in self.pending.values()):
                agent.status = agent._before_wait
        word = f"“{label}”" if label else DECIDED[e.action]
        style = {"approve": "success", "reject": "error", "edit": "accent"}[e.action]
        reason = f": {e.reason}" if e.reason else ""
        detail = None
        if e.action == "edit" and e.edited is not None:
            detail = {"title": "edited payload", "data": e.edited}
            if request is not None:
                detail["proposed"] = request.payload
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
        self.notes.append(Note(e.seq, self.offset(e.ts), e.agent, e.topic, e.text, e.data))
        self.changed.add("notes")
        self._entry(e, "·", f"{e.topic}: {e.text}", "accent", {"title": e.topic, "data": e.data} if e.data else None)

    def _on_tool_call(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.call_line(agent.span_calls.get(e.span_id), f"⚙ {e.tool} {json.dumps(e.input, ensure_ascii=False)[:120]}", "dim")
            agent.status = "thinking"  # between rounds: the call goes on once the tool has run
        self._entry(e, "⚙", f"{e.tool} {json.dumps(e.input)[:80]}", detail={"title": f"{e.tool} input", "data": e.input})

    def _on_tool_result(self, e: Any) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            call = agent.span_calls.get(e.span_id)
            if e.is_error:
                agent.call_line(call, f"✗ {e.tool}: {e.output[:200]}", "error")
            else:
                agent.call_line(call, f"  → {plural(len(e.output.splitlines()), 'line')}", "dim")
        gave = e.output[:120] if e.is_error else plural(len(e.output.splitlines()), "line")
        self._entry(e, "⚙", f"{e.tool} → {gave}", "error" if e.is_error else "", {"title": f"{e.tool} output", "text": e.output})

    def _on_error(self, e: Any) -> None:
        self._entry(e, "!", e.message, "error")


def _purpose(span_id: str) -> str:
    """What a call is for, from the last two parts of its span: "root/plan" -> "plan",
    "root/lot:1/bid:writer" -> "lot 1 · bid writer" (calls made at once tell apart)."""
    parts = [part.replace(":", " ") for part in span_id.split("/") if part != "root"]
    return " · ".join(parts[-2:]) or "session"


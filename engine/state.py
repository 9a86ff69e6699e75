"""Session state: a session's events folded, in order, into plain data.

This is the one reading of the event stream. The live screen and replay
(`tui.view.SessionView` adds what a screen holds), the transcript, the Markdown
export and the stored session row all fold events here, so a number shown in
two places is one field of this state. The fold is pure: no I/O, no clock, no
UI; `SessionState.apply` takes one event at a time, cheaply for the kinds most of
a session is made of (text deltas and progress).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from engine.budgets import Spent
from engine.events import (
    DECIDED,
    AgentMessage,
    BudgetUpdated,
    CallDelta,
    CallFailed,
    CallFinished,
    CallProgress,
    CallStarted,
    EscalationRequested,
    EscalationResolved,
    ErrorEvent,
    Event,
    EventBase,
    Handoff,
    PatternNote,
    PlanMade,
    Retry,
    SessionFinished,
    SessionResumed,
    SessionStarted,
    StepFinished,
    StepStarted,
    ToolCall,
    ToolResult,
    ToolServer,
    purpose_of,
)
from engine.formats import outcome
from engine.notes import BoardNote, WriteNote

AgentStatus = Literal["idle", "thinking", "streaming", "retrying", "waiting", "done", "failed"]
StepState = Literal["planned", "running", "done", "error", "skipped", "stopped"]
MAX_NOTES = 500
"""Pattern notes kept; older ones are dropped."""


@dataclass
class LiveCall:
    """A call under way, as its latest `call.progress` reported it."""

    tokens_in: int
    tokens_out: int
    cost: float | None
    """None when its model has no price."""
    rate: float | None
    """Output tokens a second."""


@dataclass
class Agent:
    """One agent: what it is doing and what its calls (and failed attempts) used."""

    name: str
    role: str
    model: str
    provider: str = ""
    """The provider its calls go to (the session's, for records made before agents named their own)."""
    path: tuple[str, ...] = ()
    """The member teams it belongs to, outermost first (hierarchical teams)."""
    status: AgentStatus = "idle"
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    """What its calls with a price cost."""
    unpriced: int = 0
    """Its calls (and failed attempts that used tokens) whose model has no price."""
    latency: float | None = None
    """Seconds the latest call took."""
    last_reply: str | None = None
    """The latest reply in words (not a structured one)."""
    open_calls: set[str] = field(default_factory=set)
    """The calls (by call key) started and not yet finished or failed."""
    live: dict[str, LiveCall] = field(default_factory=dict)
    """The calls streaming now that have reported progress, by call key."""
    before_wait: AgentStatus = "idle"
    """Its status before an escalation of its own made it wait."""

    @property
    def totals(self) -> tuple[int, int, float, int]:
        """Tokens in, tokens out, cost and calls with no price so far: its calls, failed
        attempts and the calls still streaming (as far as they have come)."""
        live = self.live.values()
        return (
            self.tokens_in + sum(call.tokens_in for call in live),
            self.tokens_out + sum(call.tokens_out for call in live),
            self.cost + sum(call.cost for call in live if call.cost is not None),
            self.unpriced + sum(call.cost is None for call in live),
        )

    @property
    def rate(self) -> float | None:
        """Output tokens a second over the calls streaming now; None when none is."""
        rates = [call.rate for call in self.live.values() if call.rate is not None]
        return sum(rates) if rates else None


@dataclass
class Step:
    """A unit of work handed to an agent, as planned and as it went."""

    step_id: str
    title: str = ""
    assigned_to: str = ""
    status: StepState = "planned"
    error: str | None = None


@dataclass(frozen=True)
class CallSeen:
    """What a call was for: the step it worked on, if any, and its purpose ("plan", "lot 1 · bid writer")."""

    step_id: str | None
    purpose: str


@dataclass(frozen=True)
class Decided:
    """How an escalation was decided."""

    action: str
    by: str
    rule: str
    ts: float
    reason: str | None = None
    label: str | None = None
    """The named choice taken ("Allow one more revision"), unless a plain one."""
    edited: Any = None

    @property
    def word(self) -> str:
        """How the decision reads: “Allow one more revision”, or approved / rejected / edited."""
        return f"“{self.label}”" if self.label else DECIDED[self.action]


@dataclass
class Budget(Spent):
    """What the session has spent, against which limits, as of the latest `budget.updated`."""

    calls: int = 0
    limits: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Totals:
    """What the session's calls used: summed call by call while it runs, then the
    engine's own account once it finishes."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    """What the calls with a price cost."""
    calls: int = 0
    turns: int = 0
    unpriced: int = 0
    """Calls (and failed attempts that used tokens) whose model has no price."""


@dataclass(frozen=True)
class Resume:
    """Where the session carried on in its record after it had ended (its `session.resumed`)."""

    ts: float
    worked_s: float
    """Seconds it had worked by then, over its earlier runs: its clock goes on from there."""
    away_s: float
    """Seconds it was away: from its last event before to the resume."""


@dataclass(frozen=True)
class PlanVersion:
    """One version of one plan: the top-level plan has scope "", a member team's its path."""

    scope: str
    revision: int
    plan: dict[str, Any]
    by: str | None


class SessionState:
    """A session as its events so far tell it. Build it empty and `apply` events in order."""

    agent_type: type[Agent] = Agent
    """What an agent is held as (a screen holds its panel's text with it)."""

    def __init__(self) -> None:
        self.session_id = ""
        self.task = ""
        self.title = ""
        self.pattern = ""
        self.provider = ""
        self.seed: int | None = None
        self.started: SessionStarted | None = None
        self.seq = 0
        self.started_ts: float | None = None
        self.last_ts: float | None = None
        self.finished_ts: float | None = None
        self.status = "running"
        self.result: str | None = None
        self.reason: str | None = None
        self.partial = False
        """True when the result was built from the work done so far."""
        self.failed_steps = 0
        self.skipped_steps = 0
        """Steps that did not get done, as the session finished."""
        self.duration_s = 0.0
        self.agents: dict[str, Agent] = {}
        self.steps: dict[str, Step] = {}
        self.plan: dict[str, Any] | None = None
        """The session's top-level plan, latest revision."""
        self.plan_revision = 0
        self.plans: dict[str, dict[str, Any]] = {}
        """The latest version of every plan, by scope ("" for the top level)."""
        self.revisions: dict[tuple[str, int], dict[str, Any]] = {}
        """Every version of every plan, by (scope, revision): the first proposal stays readable."""
        self.plan_by: dict[str | None, PlanVersion] = {}
        """The plan each lead made last: what its plan escalation proposes."""
        self.calls: dict[str, CallSeen] = {}
        """What each call was for, by call key."""
        self.notes: deque[PatternNote] = deque(maxlen=MAX_NOTES)
        self.requests: dict[str, EscalationRequested] = {}
        """Every escalation raised, by id."""
        self.pending: dict[str, EscalationRequested] = {}
        """Escalations waiting for a person, oldest first."""
        self.decisions: dict[str, Decided] = {}
        self.budget = Budget()
        self.totals = Totals()
        self.tool_servers: dict[str, ToolServer] = {}
        """The session's MCP servers, by name, as their latest `tool.server` event left them."""
        self.resumes: list[Resume] = []
        """Each time it carried on after it had ended, in order."""
        self.retold = False
        """Whether the event folded last tells again what the record told before a resume: a
        resumed run goes through its pattern from the top, answering the calls and decisions
        the record holds without telling them again, but telling again its plan, the steps
        that were done, its notes and handoffs. Such an event changes nothing here, and the
        story leaves it out: the session reads as one."""
        self._told: Counter[int] = Counter()
        """The notes, handoffs, messages and warnings told (not retold), by what they say."""
        self._to_retell: Counter[int] = Counter()
        """Of those, the ones told before the latest resume and not told again since."""
        self._done_before: set[str] = set()
        """The steps that were done when it was resumed (the latest time), not told again since."""

    # -- reading --------------------------------------------------------------------

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

    @property
    def providers(self) -> list[str]:
        """The providers its agents are on, in the team's order (one, unless the team mixes them)."""
        return list(dict.fromkeys(agent.provider for agent in self.agents.values()))

    @property
    def spent(self) -> Budget:
        """The budget with the calls still streaming counted as far as they have come, as
        the agents' panels count them: what the gauges show, so the two agree."""
        live = [call for agent in self.agents.values() for call in agent.live.values()]
        if not live:
            return self.budget
        return replace(
            self.budget,
            tokens=self.budget.tokens + sum(call.tokens_in + call.tokens_out for call in live),
            cost=self.budget.cost + sum(call.cost for call in live if call.cost is not None),
            unpriced=self.budget.unpriced + sum(call.cost is None for call in live),
        )

    def offset(self, ts: float) -> float:
        """Seconds the session had worked by `ts`: since it started, less the time it was
        away between its runs (as its duration and its time budget count)."""
        for resume in reversed(self.resumes):
            if ts >= resume.ts:
                return resume.worked_s + ts - resume.ts
        return ts - (self.started_ts or ts)

    # -- folding ---------------------------------------------------------------------

    def apply(self, event: EventBase) -> None:
        """Fold one event in; events come in `seq` order."""
        self.seq = event.seq
        self.retold = False
        REDUCERS[type(event)](self, event)
        self.last_ts = event.ts

    def _retells(self, e: EventBase) -> bool:
        """Whether `e` (a note, a handoff, a message, a warning) tells again what was told
        before the latest resume, and is then left out (`retold`); else it counts as told."""
        said = _said(e)
        if self._to_retell[said] > 0:
            self._to_retell[said] -= 1
            self.retold = True
        else:
            self._told[said] += 1
        return self.retold

    def _agent(self, name: str | None) -> Agent | None:
        return self.agents.get(name) if name is not None else None

    def _session_started(self, e: SessionStarted) -> None:
        self.started = e
        self.session_id, self.task, self.title = e.session_id, e.task, e.title
        self.pattern, self.provider, self.seed = e.pattern, e.provider, e.seed
        self.started_ts = e.ts
        for spec in e.team.callers():
            self.agents[spec.name] = self.agent_type(
                spec.name, spec.role, spec.model, spec.provider or e.provider, tuple(e.team.path_of(spec.name))
            )
        self.budget.limits = e.limits.model_dump()

    def _session_finished(self, e: SessionFinished) -> None:
        self.status, self.result, self.reason, self.partial = e.status, e.result, e.reason, e.partial
        self.failed_steps, self.skipped_steps = e.failed_steps, e.skipped_steps
        self.finished_ts, self.duration_s = e.ts, e.duration_s
        self.totals = Totals(e.usage.tokens_in, e.usage.output_tokens, e.cost, e.calls, e.turns, e.unpriced)
        self.pending.clear()
        for step in self.steps.values():  # work cut short by a stop or a cancel
            if step.status == "running":
                step.status = "stopped"
        for agent in self.agents.values():
            agent.open_calls.clear()
            agent.live.clear()
            if agent.status in ("thinking", "streaming", "retrying", "waiting"):
                agent.status = "idle"

    def _session_resumed(self, e: SessionResumed) -> None:
        """The session carries on in its record: running again, its time worked so far as its
        duration, and what was cut short by its end (or by its process dying) waiting to go on:
        a step that was running is planned again, an agent that was busy or failed is idle
        (the calls it had open are made again or answered from the record; what they had
        used by their last `call.progress` counts, as `Record.spent` does). How long it was
        away is counted here, once: from its last event to this one. What its run tells
        again from here on is `retold`."""
        away = e.ts - self.last_ts if self.last_ts is not None else 0.0
        self.resumes.append(Resume(e.ts, e.worked_s, max(0.0, away)))
        self._to_retell = self._told.copy()
        self._done_before = {step_id for step_id, step in self.steps.items() if step.status == "done"}
        self.status, self.result, self.reason, self.partial = "running", None, None, False
        self.failed_steps = self.skipped_steps = 0
        self.finished_ts, self.duration_s = None, e.worked_s
        self.pending.clear()  # asked in the run that ended: raised again if still needed
        for step in self.steps.values():
            if step.status in ("running", "stopped"):
                step.status = "planned"
        for agent in self.agents.values():
            for cut in agent.live.values():  # what a call cut off by the end had used: billed, so counted
                for spent in (self.totals, agent):
                    spent.tokens_in += cut.tokens_in
                    spent.tokens_out += cut.tokens_out
                    if cut.cost is None:
                        spent.unpriced += 1
                    else:
                        spent.cost += cut.cost
            agent.open_calls.clear()
            agent.live.clear()
            if agent.status in ("thinking", "streaming", "retrying", "waiting", "failed"):
                agent.status = "idle"

    def _plan_made(self, e: PlanMade) -> None:
        steps = e.plan.get("steps", [])
        scope = e.scope
        if scope is None:  # recorded before plans said whose they are: their step ids say it
            first = str(steps[0].get("id", "")) if steps else ""
            scope = first.rsplit("/", 1)[0] if "/" in first else ""
        if self.resumes and self.revisions.get((scope, e.revision)) == e.plan:
            self.retold = True  # the same version again, not a revision: the latest stays the latest
            return
        self.plans[scope] = e.plan
        self.revisions[scope, e.revision] = e.plan
        self.plan_by[e.agent] = PlanVersion(scope, e.revision, e.plan, e.agent)
        if not scope:
            self.plan, self.plan_revision = e.plan, e.revision
        for planned in steps:
            step_id = str(planned.get("id"))
            if step_id not in self.steps:
                self.steps[step_id] = Step(step_id, str(planned.get("title", "")), str(planned.get("assigned_to", "")))

    def _step_started(self, e: StepStarted) -> None:
        if e.step_id in self._done_before:  # done before the resume: its calls come from the record
            self.retold = True
            return
        step = self.steps.setdefault(e.step_id, Step(e.step_id))
        step.status, step.title, step.assigned_to = "running", e.title, e.assigned_to

    def _step_finished(self, e: StepFinished) -> None:
        if e.step_id in self._done_before:
            self._done_before.discard(e.step_id)
            if e.status == "done":
                self.retold = True
                return
        step = self.steps.setdefault(e.step_id, Step(e.step_id, e.step_id, e.agent or ""))
        step.status, step.error = e.status, e.error
        agent = self._agent(e.agent)
        if agent is not None and e.status == "error":
            agent.status = "failed"

    def _call_started(self, e: CallStarted) -> None:
        self.calls[e.call_key] = CallSeen(e.step_id, e.purpose or purpose_of(e.span_id))
        if e.step_id in self._done_before:  # a step done before the resume asks anew: it runs again
            self._done_before.discard(e.step_id)
            self.steps[e.step_id].status = "running"
        agent = self._agent(e.agent)
        if agent is not None:
            agent.open_calls.add(e.call_key)
            agent.status = "thinking"

    def _busy(self, name: str | None, status: AgentStatus) -> None:
        """An agent (if it is on the team) is doing something else now."""
        agent = self._agent(name)
        if agent is not None:
            agent.status = status

    def _call_delta(self, e: CallDelta) -> None:
        self._busy(e.agent, "streaming")

    def _call_progress(self, e: CallProgress) -> None:
        agent = self._agent(e.agent)
        if agent is not None:
            agent.live[e.call_key] = LiveCall(e.usage.tokens_in, e.usage.output_tokens, e.cost, e.tokens_per_s)

    def _account(self, e: CallFinished | CallFailed) -> Agent | None:
        """Count what a finished call or a failed attempt used, for the session and its
        agent (no longer streaming); the agent, if it is on the team."""
        agent = self._agent(e.agent)
        for spent in (self.totals, agent):
            if spent is not None:
                spent.tokens_in += e.usage.tokens_in
                spent.tokens_out += e.usage.output_tokens
                if e.cost is None:
                    spent.unpriced += 1
                else:
                    spent.cost += e.cost
        if agent is not None:
            agent.live.pop(e.call_key, None)
            agent.open_calls.discard(e.call_key)
        return agent

    def _call_finished(self, e: CallFinished) -> None:
        self.totals.calls += 1
        agent = self._account(e)
        if agent is None:
            return
        if not agent.open_calls:
            agent.status = "done"
        agent.latency = e.latency_s
        agent.calls += 1
        if e.structured is None:
            agent.last_reply = e.text

    def _call_failed(self, e: CallFailed) -> None:
        """A failed attempt counts what it used before it failed (a provider bills it)."""
        agent = self._account(e)
        if agent is not None:  # one the session's end cut off did not fail: it was stopped
            agent.status = "idle" if e.error_type == "cancelled" else "failed" if e.final else "retrying"

    def _retry(self, e: Retry) -> None:
        self._busy(e.agent, "retrying")

    def _tool_call(self, e: ToolCall) -> None:
        self._busy(e.agent, "thinking")  # between rounds: the call goes on once the tool has run

    def _tool_server(self, e: ToolServer) -> None:
        self.tool_servers[e.server] = e

    def _escalation_requested(self, e: EscalationRequested) -> None:
        self.requests[e.escalation_id] = e
        if e.human:
            self.pending[e.escalation_id] = e
            agent = self._agent(e.agent)
            if agent is not None and agent.status != "waiting":
                agent.before_wait, agent.status = agent.status, "waiting"

    def _escalation_resolved(self, e: EscalationResolved) -> None:
        request = self.requests.get(e.escalation_id)
        label = request.named().get(e.option or "") if request is not None else None
        self.decisions[e.escalation_id] = Decided(e.action, e.by, e.rule, e.ts, e.reason or None, label, e.edited)
        if self.pending.pop(e.escalation_id, None) is not None:
            agent = self._agent(e.agent)
            if agent is not None and agent.status == "waiting" and not any(p.agent == e.agent for p in self.pending.values()):
                agent.status = agent.before_wait

    def _budget_updated(self, e: BudgetUpdated) -> None:
        b = self.budget
        b.tokens, b.cost, b.turns, b.seconds, b.calls = e.tokens, e.cost, e.turns, e.seconds, e.calls
        b.unpriced = e.unpriced
        b.limits = e.limits.model_dump()
        self.totals.turns = e.turns
        if e.reason == "unpriced":  # said as each run starts
            self._retells(e)

    def _pattern_note(self, e: PatternNote) -> None:
        if not self._retells(e):
            self.notes.append(e)

    def _told_again(self, e: Handoff | AgentMessage) -> None:
        """Kinds that change nothing here, and that a resumed run may tell again."""
        self._retells(e)

    def _error(self, e: ErrorEvent) -> None:
        if not e.fatal:  # a bad handoff, an unknown agent: found again as the run goes through them
            self._retells(e)

    def _unchanged(self, e: EventBase) -> None:
        """Kinds that tell of something without changing what the state holds."""


_WHEN: dict[str, Any] = {"seq": True, "ts": True}
_CLOCKED: dict[type[EventBase], dict[str, Any]] = {
    WriteNote: {**_WHEN, "value_ts": True},
    BoardNote: {**_WHEN, "keys": {"__all__": {"ts"}}},
}
"""Kinds that carry the time of something besides their own: a resumed run tells them
again with another time, which is not something else said."""


def _said(e: EventBase) -> int:
    """What an event says, apart from when: the same for an event a resumed run tells again."""
    if isinstance(e, BudgetUpdated):  # the models with no price; the amounts have moved on
        return hash((e.kind, *e.unpriced_models))
    return hash(e.model_dump_json(exclude=_CLOCKED.get(type(e), _WHEN)))


def event_classes() -> tuple[type[EventBase], ...]:
    """Every kind of event, as its class: the members of the `Event` union."""
    union = get_args(Event)[0]
    return tuple(get_args(union))


REDUCERS: dict[type[EventBase], Callable[[SessionState, Any], None]] = {
    SessionStarted: SessionState._session_started,
    SessionFinished: SessionState._session_finished,
    SessionResumed: SessionState._session_resumed,
    PlanMade: SessionState._plan_made,
    StepStarted: SessionState._step_started,
    StepFinished: SessionState._step_finished,
    CallStarted: SessionState._call_started,
    CallDelta: SessionState._call_delta,
    CallProgress: SessionState._call_progress,
    CallFinished: SessionState._call_finished,
    CallFailed: SessionState._call_failed,
    Retry: SessionState._retry,
    ToolCall: SessionState._tool_call,
    ToolResult: SessionState._unchanged,
    ToolServer: SessionState._tool_server,
    Handoff: SessionState._told_again,
    AgentMessage: SessionState._told_again,
    EscalationRequested: SessionState._escalation_requested,
    EscalationResolved: SessionState._escalation_resolved,
    BudgetUpdated: SessionState._budget_updated,
    ErrorEvent: SessionState._error,
    **{kind: SessionState._pattern_note for kind in event_classes() if issubclass(kind, PatternNote)},
}
"""How each kind of event changes the state (a test checks every kind has its entry)."""

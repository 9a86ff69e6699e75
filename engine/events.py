"""The event stream: everything a session does, as frozen, versioned records.

The UI, the recorder, the headless printer, export and replay all consume this
one stream. Each event carries its session, a gap-free `seq`, a wall-clock
`ts`, the span it happened in, and the agent it concerns.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from engine.agents import TeamSpec
from engine.budgets import Limits
from engine.policy import ApprovalPolicy

EVENT_VERSION = 1

SessionStatus = Literal["completed", "failed", "stopped", "cancelled"]
StepStatus = Literal["done", "error", "skipped"]
DecisionAction = Literal["approve", "reject", "edit"]
DECIDED: dict[str, str] = {"approve": "approved", "reject": "rejected", "edit": "edited"}
"""How each decision reads once taken."""
ErrorType = Literal[
    "rate_limit",
    "overloaded",
    "timeout",
    "stream_error",
    "connection",
    "server",
    "invalid_output",
    "auth",
    "bad_request",
    "not_found",
    "unknown_agent",
    "internal",
]


class Usage(BaseModel):
    """Tokens of one call, or summed over many."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def tokens_in(self) -> int:
        """Everything the model read: fresh input and cached input, read or written."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = EVENT_VERSION
    session_id: str
    seq: int
    ts: float
    """Seconds since the epoch."""
    span_id: str = "root"
    parent_span_id: str | None = None
    agent: str | None = None


# -- session -----------------------------------------------------------------


class SessionStarted(EventBase):
    kind: Literal["session.started"] = "session.started"
    task: str
    title: str
    pattern: str
    team: TeamSpec
    provider: str
    seed: int
    limits: Limits
    policy: ApprovalPolicy
    options: dict[str, Any] = Field(default_factory=dict)
    """Pattern options (rounds, revisions, concurrency...)."""
    pid: int | None = None
    """The process running the session, so a dead one can be told from a live one."""


class SessionFinished(EventBase):
    kind: Literal["session.finished"] = "session.finished"
    status: SessionStatus
    result: str
    partial: bool = False
    """True when the result was built from work done so far, not a finished run."""
    reason: str | None = None
    usage: Usage
    cost: float
    calls: int
    turns: int
    duration_s: float


# -- plan and steps ------------------------------------------------------------


class PlanMade(EventBase):
    kind: Literal["plan.made"] = "plan.made"
    plan: dict[str, Any]
    """The plan as the lead wrote it (or as a human edited it)."""
    revision: int = 0


class StepStarted(EventBase):
    """A unit of work handed to an agent: a subtask, stage, chunk or turn."""

    kind: Literal["step.started"] = "step.started"
    step_id: str
    title: str
    assigned_to: str
    depends_on: list[str] = Field(default_factory=list)


class StepFinished(EventBase):
    kind: Literal["step.finished"] = "step.finished"
    step_id: str
    status: StepStatus
    output: str = ""
    error: str | None = None


# -- model calls -----------------------------------------------------------------


class CallStarted(EventBase):
    kind: Literal["call.started"] = "call.started"
    call_key: str
    """Deterministic from the call's place in the pattern: span, agent, ordinal."""
    attempt: int
    model: str
    prompt: str
    """The user turn sent (with any data from other agents), for the audit trail."""
    structured: bool = False
    step_id: str | None = None
    tool_round: int = 0
    """How many rounds of tool use came before this request in the same call."""


class CallDelta(EventBase):
    kind: Literal["call.delta"] = "call.delta"
    call_key: str
    attempt: int
    text: str


class CallFinished(EventBase):
    kind: Literal["call.finished"] = "call.finished"
    call_key: str
    attempt: int
    model: str
    text: str
    """The full reply: the text, or the JSON of a structured reply."""
    structured: dict[str, Any] | None = None
    usage: Usage
    cost: float
    latency_s: float
    stop_reason: str | None = None
    recorded: bool = False
    """True when the reply came from a recorded session instead of the model."""


class CallFailed(EventBase):
    kind: Literal["call.failed"] = "call.failed"
    call_key: str
    attempt: int
    error_type: ErrorType
    error: str
    final: bool
    """True when no attempt is left: the call as a whole has failed."""


class Retry(EventBase):
    kind: Literal["retry"] = "retry"
    call_key: str
    attempt: int
    """The attempt about to be made."""
    delay_s: float
    reason: str
    retry_after_s: float | None = None


# -- tools, handoffs, messages --------------------------------------------------


class ToolCall(EventBase):
    kind: Literal["tool.call"] = "tool.call"
    tool_use_id: str
    tool: str
    input: dict[str, Any]


class ToolResult(EventBase):
    kind: Literal["tool.result"] = "tool.result"
    tool_use_id: str
    tool: str
    output: str
    is_error: bool = False


class Handoff(EventBase):
    kind: Literal["handoff"] = "handoff"
    from_agent: str
    to_agent: str
    contract: str
    payload: Any
    confidence: float | None = None
    verdict: Literal["accepted", "invalid", "low_confidence"]
    error: str | None = None


class AgentMessage(EventBase):
    kind: Literal["message"] = "message"
    from_agent: str
    to_agent: str | None
    """None for a broadcast."""
    text: str


class PatternNote(EventBase):
    """Something particular to a pattern: a round's verdict, a bid, a route, a write."""

    kind: Literal["pattern.note"] = "pattern.note"
    topic: str
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


# -- humans in the loop -------------------------------------------------------------


class EscalationRequested(EventBase):
    kind: Literal["escalation.requested"] = "escalation.requested"
    escalation_id: str
    trigger: str
    reason: str
    payload: Any = None
    options: list[DecisionAction] = Field(default_factory=lambda: ["approve", "reject"])
    labels: dict[str, str] = Field(default_factory=dict)
    """What each option means here, when it is not the plain word ({"edit": "One more revision"})."""
    rule: str
    """The policy rule that routed it (to a human or to an automatic decision)."""
    human: bool = False
    """True when it waits for a person; False when a rule decides at once."""
    timeout_s: float | None = None
    default: DecisionAction | None = None
    """What a timeout decides."""


class EscalationResolved(EventBase):
    kind: Literal["escalation.resolved"] = "escalation.resolved"
    escalation_id: str
    trigger: str
    action: DecisionAction
    by: str
    """"human", "policy" or "timeout"."""
    rule: str
    reason: str | None = None
    edited: Any = None


# -- budgets and errors --------------------------------------------------------------


class BudgetUpdated(EventBase):
    kind: Literal["budget.updated"] = "budget.updated"
    limits: Limits
    tokens: int
    cost: float
    turns: int
    seconds: float
    calls: int
    reason: str = "usage"
    """"usage" after a call or turn, "extended" when a human raised a limit."""


class ErrorEvent(EventBase):
    kind: Literal["error"] = "error"
    error_type: ErrorType
    message: str
    fatal: bool = False
    step_id: str | None = None


Event = Annotated[
    Union[
        SessionStarted,
        SessionFinished,
        PlanMade,
        StepStarted,
        StepFinished,
        CallStarted,
        CallDelta,
        CallFinished,
        CallFailed,
        Retry,
        ToolCall,
        ToolResult,
        Handoff,
        AgentMessage,
        PatternNote,
        EscalationRequested,
        EscalationResolved,
        BudgetUpdated,
        ErrorEvent,
    ],
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_KINDS: tuple[str, ...] = tuple(
    cls.model_fields["kind"].default for cls in EventBase.__subclasses__()
)


def event_from_json(data: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(data)


def event_to_json(event: EventBase) -> str:
    """The event as compact JSON: `model_dump_json()`'s text, without its per-call
    overhead (a third of the recorder's own time per event)."""
    return event.__pydantic_serializer__.to_json(event).decode()

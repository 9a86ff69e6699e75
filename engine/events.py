"""The event stream: everything a session does, as frozen, versioned records.

The UI, the recorder, the headless printer, export and replay all consume this
one stream. Each event carries its session, a gap-free `seq`, a wall-clock
`ts`, the span it happened in, and the agent it concerns.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, model_validator
from pydantic_core import PydanticSerializationError, to_jsonable_python

from engine.agents import TeamSpec
from engine.budgets import Limits
from engine.mcp.spec import McpServer
from engine.event_base import EVENT_VERSION, DecisionAction, EventBase  # noqa: F401 - all read from here too
from engine.notes import GenericNote, PatternNote, TypedNote  # noqa: F401 - PatternNote is read from here too
from engine.policy import ApprovalPolicy
from engine.sandbox.settings import SandboxSettings
from engine.trust import well_formed_data

JsonData = Annotated[Any, BeforeValidator(to_jsonable_python)]
"""A payload as plain JSON data: a pydantic model given here (a validated edit, say) is
kept as its JSON form, so an event holds the same thing live as read back from its record."""

SessionStatus = Literal["completed", "failed", "stopped", "cancelled"]
StepStatus = Literal["done", "error", "skipped"]
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
    "budget",
    "breaker",
    "internal",
    "tool",
    "cancelled",
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


# -- session -----------------------------------------------------------------


class ForkOrigin(BaseModel):
    """Where a forked session comes from: its parent, the moment it was forked at, and
    what was changed there (each a short phrase huddle wrote: "task changed")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    at_seq: int
    changes: list[str] = Field(default_factory=list)


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
    mcp_servers: list[McpServer] = Field(default_factory=list)
    """The MCP servers it may use, as declared, with each literal env or header value
    hidden (`McpServer.recorded`): a resume starts them again."""
    forked_from: ForkOrigin | None = None
    """The session it was forked from, if it was."""
    sandbox: SandboxSettings | None = None
    """Where its agents' code runs, and the limits (None: the defaults, or a record from before)."""


class SessionFinished(EventBase):
    kind: Literal["session.finished"] = "session.finished"
    status: SessionStatus
    result: str
    partial: bool = False
    """True when the result was built from work done so far, not a finished run."""
    reason: str | None = None
    usage: Usage
    cost: float
    """What the calls with a price cost (see `unpriced`)."""
    calls: int
    turns: int
    duration_s: float
    unpriced: int = 0
    """Calls (and failed attempts that used tokens) whose model has no price: their
    cost is unknown and not in `cost` (0 in records made before)."""
    failed_steps: int = 0
    """Steps that ended in error (and were not done later), in every team of the session."""
    skipped_steps: int = 0
    """Steps never run because a step they needed did not get done."""


EndedAs = Literal["failed", "stopped", "cancelled", "interrupted"]
"""How a session that can be resumed ended: a status of its `session.finished`, or
"interrupted" when its record stops without one (its process died)."""


class SessionResumed(EventBase):
    """A session carrying on in its own record after it ended: where `session.started`
    would be in a run of its own. The calls and decisions its record holds are answered
    from it, not emitted again; `session.finished` at the end counts them."""

    kind: Literal["session.resumed"] = "session.resumed"
    after_seq: int
    """The seq of the record's last event: this one is the next."""
    previous_status: EndedAs
    previous_reason: str | None = None
    """Why it ended then (the reason of its `session.finished`), if it said."""
    calls: int
    """Finished calls the record can answer (not sent to a model again)."""
    decisions: int
    """Decisions the record holds (not asked again)."""
    worked_s: float
    """Seconds it had worked before (its runs, not the time between them): its duration goes on from there."""
    pid: int | None = None
    """The process running it now."""


# -- plan and steps ------------------------------------------------------------


class PlanMade(EventBase):
    kind: Literal["plan.made"] = "plan.made"
    plan: dict[str, Any]
    """The plan as the lead wrote it (or as a human edited it), its step ids as the session knows them."""
    revision: int = 0
    scope: str | None = None
    """Whose plan it is: "" for the session's, "s2/engineering" for a member team's (hierarchical
    teams) working on step s2; None in records made before plans carried it."""


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
    purpose: str = ""
    """What the call is for, from its place in the pattern ("plan", "lot 1 · bid writer");
    empty in records made before it was stamped."""
    request_hash: str | None = None
    """The request's fingerprint (`engine.run.fingerprint`): a recorded reply answers the
    call again only if it asks the same; None in records made before it was stamped."""


def purpose_of(span_id: str) -> str:
    """What a call is for, from the last two parts of its span: "root/plan" -> "plan",
    "root/lot:1/bid:writer" -> "lot 1 · bid writer" (calls made at once tell apart)."""
    parts = [part.replace(":", " ") for part in span_id.split("/") if part != "root"]
    return " · ".join(parts[-2:]) or "session"


class CallDelta(EventBase):
    kind: Literal["call.delta"] = "call.delta"
    call_key: str
    attempt: int
    text: str


PROGRESS_EVERY = 0.25
"""Seconds of streaming between two `call.progress` events of one call."""


class CallProgress(EventBase):
    """How far a call's reply has come: sent when the provider reports usage before the
    reply, then about every `PROGRESS_EVERY` seconds of streaming (by the session's clock,
    so how many depends on the pace)."""

    kind: Literal["call.progress"] = "call.progress"
    call_key: str
    attempt: int
    usage: Usage
    """Tokens so far: as the provider reported them, the output at least as many as the
    text streamed so far makes (an estimate until the call finishes)."""
    cost: float | None
    """What `usage` costs; None when the model has no price."""
    tokens_per_s: float | None = None
    """Output tokens a second since the first of them came."""


class CallFinished(EventBase):
    kind: Literal["call.finished"] = "call.finished"
    call_key: str
    attempt: int
    model: str
    text: str
    """The full reply: the text, or the JSON of a structured reply."""
    structured: dict[str, Any] | None = None
    usage: Usage
    cost: float | None
    """What `usage` costs; None when the model has no price."""
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
    usage: Usage = Field(default_factory=Usage)
    """What the attempt used before it failed, as the provider reported it (a provider
    bills it), counted in the agent's and the session's totals and budgets."""
    cost: float | None = 0.0
    """What `usage` costs; None when the model has no price."""


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
    call_key: str | None = None
    """The call whose round of tool use this is (None in older records)."""
    tool_use_id: str
    tool: str
    input: dict[str, Any]


class ToolResult(EventBase):
    kind: Literal["tool.result"] = "tool.result"
    call_key: str | None = None
    """The call whose round of tool use this is (None in older records)."""
    tool_use_id: str
    tool: str
    output: str
    is_error: bool = False
    recorded: bool = False
    """Taken from a recorded session (a call made again after it stopped between rounds of
    tool use), not run again."""


class ToolServer(EventBase):
    """An MCP server of the session started (with the tools it offers), failed to
    start, or was lost mid-session (its tools then fail as tool results)."""

    kind: Literal["tool.server"] = "tool.server"
    server: str
    status: Literal["started", "failed", "lost"]
    tools: tuple[str, ...] = ()
    """What it offers, as agents name them ("git.status"), when it started."""
    message: str = ""
    """Why it failed or was lost (one line, from the server: untrusted)."""


class Handoff(EventBase):
    kind: Literal["handoff"] = "handoff"
    from_agent: str
    to_agent: str
    contract: str
    payload: JsonData
    confidence: float | None = None
    verdict: Literal["accepted", "invalid", "low_confidence"]
    error: str | None = None


class AgentMessage(EventBase):
    kind: Literal["message"] = "message"
    from_agent: str
    to_agent: str | None
    """None for a broadcast."""
    text: str


# Pattern notes (a route, a stage, a bid, a round's verdict, a write) are events too:
# `PatternNote` and its typed kinds live in `engine.notes`, and join the union below.


# -- humans in the loop -------------------------------------------------------------


ChoiceInput = Literal["none", "reason", "text", "number", "pick", "json"]


class Choice(BaseModel):
    """One named way to answer an escalation: what a person sees, and exactly what it does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Its name, recorded with the decision ("revise")."""
    label: str
    """What the person sees ("Allow one more revision")."""
    action: DecisionAction
    """The decision it makes. An escalation has at most one choice per action."""
    input: ChoiceInput = "none"
    """What it asks for: nothing; a reason the agent gets back ("reason", optional); a line
    of text ("text"), a number ("number") or one of `picks` ("pick"), which becomes
    `{field: value}` of the edit; the payload itself, as JSON ("json")."""
    field: str | None = None
    """The payload field a "text", "number" or "pick" input sets."""
    prompt: str = ""
    """What the input asks ("Guidance for the next revision (optional)")."""
    required: bool = False
    """True when a "text", "number" or "pick" input may not be left empty."""
    picks: list[str] = Field(default_factory=list)
    """The values a "pick" input offers."""


DEFAULT_CHOICES: dict[str, Choice] = {
    "approve": Choice(id="approve", label="Approve", action="approve"),
    "reject": Choice(
        id="reject", label="Reject", action="reject", input="reason",
        prompt="Why? The agent gets this reason back.",
    ),
    "edit": Choice(id="edit", label="Edit", action="edit", input="json", prompt="The payload, as JSON"),
}
"""The choice for an action when an escalation names none of its own."""


class SandboxShown(BaseModel):
    """The sandbox a tool use would run code in, as the person deciding sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    """"bubblewrap", "docker", "podman", or "none" (the code runs directly, unconfined)."""
    isolated: bool
    """False for "none": nothing stands between the code and the machine (shown in red,
    and "always allow" is not offered)."""
    limits: dict[str, float] = Field(default_factory=dict)
    """Each limit by name and value: wall_s, cpu_s, memory_mb, processes, output_kb."""


class ToolAsked(BaseModel):
    """The tool a `tool_use` escalation is about (its payload is the tool's input): what
    the person deciding sees, and what "always allow" remembers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The name agents and rules use: "read_file", or "server.tool" for an MCP server's ("git.status")."""
    description: str = ""
    """What the tool says it does (a server's own words: untrusted)."""
    sandbox: SandboxShown | None = None
    """Where a tool that runs code (`run_python`, `run_shell`) would run it; None for the others."""

    @property
    def unconfined(self) -> bool:
        """Whether it would run code with nothing between the code and the machine (sandbox
        "none"): each such use is decided on its own, never "always allowed"."""
        return self.sandbox is not None and not self.sandbox.isolated

    @property
    def server(self) -> str | None:
        """The MCP server it belongs to ("git"); None for a built-in tool."""
        server, dot, _ = self.name.partition(".")
        return server if dot else None

    @property
    def short_name(self) -> str:
        """Its name on its server ("status"), or the built-in tool's name."""
        return self.name.partition(".")[2] or self.name


class EscalationRequested(EventBase):
    kind: Literal["escalation.requested"] = "escalation.requested"
    escalation_id: str
    trigger: str
    reason: str
    payload: JsonData = None
    options: list[DecisionAction] = Field(default_factory=lambda: ["approve", "reject"])
    choices: list[Choice] = Field(default_factory=list)
    """The named choices, one per option, in order (the plain ones when it names none)."""
    rule: str
    """The policy rule that routed it (to a human or to an automatic decision)."""
    human: bool = False
    """True when it waits for a person; False when a rule decides at once."""
    timeout_s: float | None = None
    default: DecisionAction | None = None
    """What a timeout decides."""
    tool: ToolAsked | None = None
    """For a tool use: the tool (its input is `payload`)."""

    @model_validator(mode="before")
    @classmethod
    def _named_choices(cls, data: Any) -> Any:
        """Fill in the plain choice for each option that has none; read a record from before
        choices were named (`labels`: {"edit": "One more revision"}) as choices."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        labels = data.pop("labels", None) or {}
        options = data.get("options", ["approve", "reject"])
        given = {(c.action if isinstance(c, Choice) else c.get("action")): c for c in data.get("choices") or []}
        data["choices"] = [
            given.get(action) or DEFAULT_CHOICES[action].model_copy(
                update={"label": labels[action]} if action in labels else {}
            )
            for action in options
        ]
        return data

    def choice(self, action: str) -> Choice | None:
        """The choice that makes `action`, if it is one of the options."""
        return next((choice for choice in self.choices if choice.action == action), None)

    def named(self) -> dict[str, str]:
        """The labels of its named choices by id, leaving out the plain ones ("Approve"),
        which read better as what they did ("approved")."""
        return {c.id: c.label for c in self.choices if c != DEFAULT_CHOICES.get(c.action)}


class EscalationResolved(EventBase):
    kind: Literal["escalation.resolved"] = "escalation.resolved"
    escalation_id: str
    trigger: str
    action: DecisionAction
    by: str
    """"human", "policy" or "timeout"."""
    rule: str
    reason: str | None = None
    edited: JsonData = None
    option: str | None = None
    """The id of the named choice it took (see `EscalationRequested.choices`)."""


# -- budgets and errors --------------------------------------------------------------


class BudgetUpdated(EventBase):
    kind: Literal["budget.updated"] = "budget.updated"
    limits: Limits
    tokens: int
    cost: float
    """What the calls with a price cost: all a cost limit can count (see `unpriced`)."""
    turns: int
    seconds: float
    calls: int
    reason: str = "usage"
    """"usage" after a call or turn, "extended" when a human raised a limit, "unpriced" as
    a session with a cost limit starts when some of its team's models have no price."""
    unpriced: int = 0
    """Calls (and failed attempts that used tokens) whose model has no price: their
    cost is unknown and not in `cost`."""
    unpriced_models: list[str] = Field(default_factory=list)
    """With reason "unpriced": the team's models that have no price."""


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
        SessionResumed,
        PlanMade,
        StepStarted,
        StepFinished,
        CallStarted,
        CallDelta,
        CallProgress,
        CallFinished,
        CallFailed,
        Retry,
        ToolCall,
        ToolResult,
        ToolServer,
        Handoff,
        AgentMessage,
        TypedNote,
        GenericNote,
        EscalationRequested,
        EscalationResolved,
        BudgetUpdated,
        ErrorEvent,
    ],
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: tuple[type[EventBase], ...] = get_args(get_args(Event)[0])
"""Every kind of event, as its class: the members of the union."""
EVENT_KINDS: tuple[str, ...] = tuple(cls.model_fields["kind"].default for cls in EVENT_TYPES)


def event_from_json(data: str | bytes) -> Event:
    return EVENT_ADAPTER.validate_json(data)


def event_to_json(event: EventBase) -> str:
    """The event as compact JSON: `model_dump_json()`'s text, without its per-call
    overhead (a third of the recorder's own time per event). Text that UTF-8 cannot
    hold (a lone surrogate that got past the engine's gates) is written as U+FFFD
    rather than failing the recording."""
    try:
        return event.__pydantic_serializer__.to_json(event).decode()
    except PydanticSerializationError:
        data = well_formed_data(event.model_dump(mode="json"))
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

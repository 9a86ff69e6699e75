"""Pattern notes: what is particular to one pattern (a route, a stage, a bid, a round's
verdict, a write to the board), one typed kind of event each.

Every note is a `PatternNote`: an event whose `text` is the line a person reads, with
the fields of its kind beside it. Patterns emit them (`ctx.emit(RouteNote, ...)`), the
pattern views read their fields, the timeline shows their text under their `topic`.
Their kinds all start with "pattern." ("pattern.route"), so a timeline filter on
pattern notes takes every one of them.

A session recorded before notes were typed (event version 1) holds
`{"kind": "pattern.note", "topic": ..., "text": ..., "data": {...}}`. Reading it gives
the typed note when its data fits one (`upgrade`), else a `GenericNote` that keeps
topic, text and data as they were: shown by its text, left out of the pattern views.
"""

from __future__ import annotations

from typing import Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError, model_validator

from engine.event_base import EVENT_VERSION, DecisionAction, EventBase


RouteOutcome = Literal["routed", "escalated", "approved", "edited", "fallback", "stopped"]
RouteCause = Literal[
    "unknown_specialist", "low_confidence", "rejected", "router_failed", "specialist_failed", "no_specialists"
]
StageStatus = Literal["done", "failed", "skipped", "edited", "stopped"]
StageVerdict = Literal["accepted", "invalid", "rejected"]
FanoutMode = Literal["chunks", "perspectives"]
DiscussionEnd = Literal["consensus", "round_limit", "no_contributions"]
ReviewOutcome = Literal["approved", "best_effort", "unreviewed", "set_aside", "stopped"]
LotSource = Literal["options", "auctioneer", "whole_task"]
Via = Literal["bid", "runner_up", "auctioneer", "chosen"]
MeshStop = Literal["hop_limit", "circular", "no_peer", "capacity"]
Resolution = Literal["priority", "merge", "escalation"]


class PatternNote(EventBase):
    """Something particular to a pattern. Not a kind of its own: each kind is a subclass."""

    kind: str
    text: str
    """The line a person reads."""

    @property
    def topic(self) -> str:
        """What the note is about, in a word ("route", "bid", "stop"): the last part of its kind."""
        return self.kind.rsplit(".", 1)[-1]


# -- routing ---------------------------------------------------------------------


class RouteNote(PatternNote):
    """A routing decision; a route that escalates gets a second note once it is decided."""

    kind: Literal["pattern.route"] = "pattern.route"
    specialist: str | None
    """The router's choice (None when the router failed or did not route)."""
    reason: str | None
    """The router's reason (None when the router failed)."""
    confidence: float | None
    """The router's confidence, 0..1 (None when the router failed)."""
    outcome: RouteOutcome
    """What became of the route: routed as the router chose, escalated, approved or edited
    by a decision, sent to the general agent (fallback), or stopped."""
    handled_by: str | None
    """The agent that answers (None while escalated, or when stopped)."""
    cause: RouteCause | None = None
    """Why it fell back or stopped (None otherwise)."""


# -- pipeline ------------------------------------------------------------------------


class PipelineNote(PatternNote):
    """The pipeline as it starts."""

    kind: Literal["pattern.pipeline"] = "pattern.pipeline"
    stages: list[str]
    """The stage agents, in order."""
    include_original: bool
    """Whether every stage sees the original task."""
    contracts: dict[str, str]
    """The name of each stage's contract, by stage, for the stages that have one."""
    fallbacks: dict[str, str]
    """The agent that redoes a failed stage, by stage."""


class StageNote(PatternNote):
    """An attempt at a stage ended."""

    kind: Literal["pattern.stage"] = "pattern.stage"
    stage: str
    """The stage's agent (its name in the pipeline)."""
    by: str | None
    """Who made this attempt: the stage's agent or its fallback; None when the stage was
    skipped or a person wrote its output."""
    index: int
    """Its place in the pipeline, from 1."""
    of: int
    """How many stages there are."""
    status: StageStatus
    """How the attempt ended: done, failed (its fallback redoes it), skipped or edited by a
    decision, or stopped."""
    contract: str | None
    """The stage's contract, by name (None: it has none)."""
    verdict: StageVerdict | None
    """What the contract made of the output (None: no contract, or the call failed before
    there was output to check)."""
    error: str | None = None
    """What went wrong."""


# -- fan-out ---------------------------------------------------------------------------


class FanoutNote(PatternNote):
    """How the work was split, as it starts."""

    kind: Literal["pattern.fanout"] = "pattern.fanout"
    mode: FanoutMode
    """Chunks of the input, or perspectives on the whole task."""
    chunks: int
    """How many parts."""
    concurrency: int
    """How many run at once at most."""
    workers: list[str]
    """The workers, in the order parts are dealt."""
    synthesizer: str
    """Who merges the results."""


class ChunkNote(PatternNote):
    """A part ended (its worker is the note's `agent`)."""

    kind: Literal["pattern.chunk"] = "pattern.chunk"
    index: int
    """The part's number, from 1."""
    of: int
    """How many parts there are."""
    title: str
    """A few words naming the part."""
    status: Literal["done", "error"]
    """Done, or an error."""
    error: str | None = None
    """What went wrong."""


class SynthesisNote(PatternNote):
    """The merge is about to start."""

    kind: Literal["pattern.synthesis"] = "pattern.synthesis"
    synthesizer: str
    """Who merges the results."""
    inputs: int
    """How many outputs it gets."""
    missing: list[int]
    """The numbers of the parts that did not finish."""


# -- discussion ------------------------------------------------------------------------


class RoundNote(PatternNote):
    """The moderator's verdict after a round."""

    kind: Literal["pattern.round"] = "pattern.round"
    round: int
    """Which round, from 1."""
    consensus: bool
    """Whether the panel agrees (False when there is no verdict)."""
    agreement: float | None
    """How far the panel agrees, 0..1 (None when there is no verdict)."""
    open_points: list[str]
    """Points still disputed or unanswered."""
    summary: str
    """Where the panel stands, in the moderator's words (empty when there is no verdict)."""
    speakers: list[str]
    """The panelists who contributed, in order."""
    error: str | None = None
    """Why there is no verdict (its call failed)."""


class AbsentNote(PatternNote):
    """A panelist (the note's `agent`) whose contribution failed."""

    kind: Literal["pattern.absent"] = "pattern.absent"
    round: int
    """The round it missed, from 1."""
    error: str
    """Why its contribution failed."""


class DiscussionNote(PatternNote):
    """How the discussion ended, before the summary."""

    kind: Literal["pattern.discussion"] = "pattern.discussion"
    stopped: DiscussionEnd
    """Why it ended: consensus, the round limit, or a round nobody could contribute to."""
    rounds: int
    """How many rounds were held."""


# -- review ------------------------------------------------------------------------------


class ReviewNote(PatternNote):
    """A review of one draft, or its failure."""

    kind: Literal["pattern.review"] = "pattern.review"
    revision: int
    """Which draft: 0 is the first."""
    approved: bool
    """Whether the reviewer approved the draft (False when the review failed)."""
    issues: list[str]
    """What the author must fix (empty when approved, or when the review failed)."""
    summary: str | None = None
    """The verdict in a sentence or two (None when the review failed)."""
    confidence: float | None = None
    """How sure the reviewer is, 0..1 (None when the review failed)."""
    error: str | None = None
    """Why there is no review (its call failed)."""


class OutcomeNote(PatternNote):
    """How the review loop ended."""

    kind: Literal["pattern.outcome"] = "pattern.outcome"
    status: ReviewOutcome
    """Approved; accepted as best effort or unreviewed by a decision; set aside (a doubtful
    review was refused); or stopped."""
    revisions: int
    """How many revisions were made."""
    approved: bool
    """Whether the reviewer approved the draft that stands."""


# -- auction ------------------------------------------------------------------------------


class LotTitle(BaseModel):
    """One lot, as a lots note names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lot: int
    """Its number, from 1."""
    title: str
    """A few words naming it."""


class LotsNote(PatternNote):
    """The lots to auction."""

    kind: Literal["pattern.lots"] = "pattern.lots"
    lots: list[LotTitle]
    """The lots, in order."""
    source: LotSource
    """Where the lots came from."""


class BidNote(PatternNote):
    """One bidder's bid (the bidder is the note's `agent`)."""

    kind: Literal["pattern.bid"] = "pattern.bid"
    lot: int
    """The lot bid for, from 1."""
    willing: bool | None
    """None when there is no bid (the call failed)."""
    capability: float | None
    """0..1, None when there is no bid."""
    cost: float | None
    """Its cost estimate, in dollars; None when there is no bid."""
    score: float | None
    """Dollars per unit of capability (lower wins); None unless the bid is valid."""
    valid: bool
    """Whether the bid can win (willing, capable enough, at a cost above zero)."""
    reason: str | None
    """Why it is not valid (None when it is)."""


class AwardNote(PatternNote):
    """Who does a lot."""

    kind: Literal["pattern.award"] = "pattern.award"
    lot: int
    """The lot, from 1."""
    title: str
    """The lot's title."""
    winner: str | None
    """The agent that does it (None when no valid bid came in)."""
    score: float | None = None
    """The winning bid's score (None unless won on a bid)."""
    via: Via | None = None
    """How it was won (None with no winner)."""
    reason: str | None = None
    """Why there is no winner, or why the lot changed hands."""


# -- hierarchical teams -----------------------------------------------------------------------


class TeamNote(PatternNote):
    """A member team started or finished a step."""

    kind: Literal["pattern.team"] = "pattern.team"
    team: str
    """The member team's name."""
    pattern: str
    """The pattern the member team runs."""
    depth: int
    """1 for a member of the session's team, 2 for a member of that, and so on."""
    path: list[str]
    """The member teams from the top down to this one (["engineering"])."""
    step: str
    """The session-wide id of the step it runs."""
    status: Literal["started", "done", "failed"]
    """Started, done or failed."""
    error: str | None = None
    """Why it failed."""


# -- mesh ---------------------------------------------------------------------------------------


class RequestNote(PatternNote):
    """A peer asks another for help."""

    kind: Literal["pattern.request"] = "pattern.request"
    from_agent: str
    """The peer that asks."""
    to_agent: str
    """The peer asked."""
    capability: str
    """The capability the asker needs."""
    hop: int
    """How many hops from the entry peer the helper would be."""
    question: str
    """What it asks, as the asker wrote it."""


class DeclineNote(PatternNote):
    """A peer at capacity declines a request."""

    kind: Literal["pattern.decline"] = "pattern.decline"
    peer: str
    """The peer that declines."""
    requester: str
    """The peer whose request it declines."""
    capability: str
    """The capability asked for."""
    active: int
    """The requests it is handling."""


class MeshStopNote(PatternNote):
    """Delegation stopped: the asker carries on without that help."""

    kind: Literal["pattern.mesh.stop"] = "pattern.mesh.stop"
    reason: MeshStop
    """Why: the hop limit, a loop in the chain, no peer with the capability, or every such
    peer at capacity."""
    requester: str
    """The peer that goes on without the help."""
    chain: list[str]
    """The delegation chain, the entry peer first, ending with the requester."""
    capability: str | None = None
    """What it asked for (every reason but hop_limit)."""
    capabilities: list[str] | None = None
    """What it wanted (hop_limit)."""
    holders: list[str] | None = None
    """Who has the capability, all in the chain (circular)."""
    declined: list[str] | None = None
    """The peers that declined (capacity)."""


# -- blackboard -----------------------------------------------------------------------------------


class WriteNote(PatternNote):
    """A value is written to the board."""

    kind: Literal["pattern.write"] = "pattern.write"
    key: str
    """The key written."""
    writer: str
    """Who wrote the value ("user" for the task and for a value a person wrote)."""
    version: int
    """The key's version after this write, from 1."""
    value_ts: float
    """When its writer made the value (session clock, seconds since the epoch)."""
    preview: str
    """The value's start, on one line."""
    conflict: bool
    """True when it settles a conflict."""
    cycle: int
    """The cycle it was written in (0: the problem, before the first)."""


class ConflictNote(PatternNote):
    """Several writes to one key in one cycle, and how they were settled."""

    kind: Literal["pattern.conflict"] = "pattern.conflict"
    key: str
    """The key written more than once."""
    writers: list[str]
    """Who wrote it this cycle."""
    decision: DecisionAction | None = None
    """What a person (or the policy) decided (escalations only)."""
    merge_failed: bool = False
    """True when a failed merge fell back to priority."""
    resolution: Resolution
    """How it was settled: by priority, by a merge, or by a decision."""
    winner: str | None
    """Who the written value is credited to (None when nothing was written)."""
    losers: list[str]
    """The writers whose value was not taken (none after a merge)."""


class BoardKey(BaseModel):
    """A key's latest entry on the board."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    writer: str
    """Who wrote the value."""
    version: int
    """Its version, from 1."""
    ts: float
    """When its writer made the value (session clock)."""


class BoardNote(PatternNote):
    """The board after a cycle."""

    kind: Literal["pattern.board"] = "pattern.board"
    cycle: int
    """The cycle just ended."""
    keys: dict[str, BoardKey]
    """Every key on the board, with its latest entry."""


class StallNote(PatternNote):
    """Nobody can run."""

    kind: Literal["pattern.stall"] = "pattern.stall"
    cycle: int
    """The cycle that found nobody ready."""
    missing: list[str]
    """Absent keys that waiting contributors need and nobody can now write."""
    waiting: dict[str, list[str]]
    """The keys each waiting contributor misses, by contributor."""
    failed: dict[str, str]
    """Why each contributor whose last call failed failed, by contributor."""


class BoardStopNote(PatternNote):
    """The cycle limit was reached without the goal."""

    kind: Literal["pattern.board.stop"] = "pattern.board.stop"
    reason: Literal["max_cycles"]
    """Why it stopped: the cycle limit."""
    cycles: int
    """The cycle limit."""
    goal: str
    """The key that was never written."""


# -- notes recorded before they were typed ---------------------------------------------------------


class GenericNote(PatternNote):
    """A note as version 1 recorded every note, kept as it was when its data fits no typed
    kind: shown by its text, left out of the pattern views."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    kind: Literal["pattern.note"] = "pattern.note"
    recorded_topic: str = Field(alias="topic")
    """The topic it was recorded under ("route")."""
    data: dict[str, Any] = Field(default_factory=dict)
    """What the note held besides its text, as recorded."""

    @property
    def topic(self) -> str:
        return self.recorded_topic

    @model_validator(mode="wrap")
    @classmethod
    def _typed_when_it_fits(cls, value: Any, handler: ModelWrapValidatorHandler[GenericNote]) -> Any:
        """A version 1 record reads as the typed note its data fits, when it fits one."""
        version = value.get("v", EVENT_VERSION) if isinstance(value, dict) else EVENT_VERSION
        if isinstance(version, int) and version < 2:
            typed = upgrade(value)
            if typed is not None:
                return typed
        return handler(value)


TypedNote = Union[
    RouteNote, PipelineNote, StageNote, FanoutNote, ChunkNote, SynthesisNote, RoundNote, AbsentNote,
    DiscussionNote, ReviewNote, OutcomeNote, LotsNote, BidNote, AwardNote, TeamNote, RequestNote,
    DeclineNote, MeshStopNote, WriteNote, ConflictNote, BoardNote, StallNote, BoardStopNote,
]
"""Every typed kind of note (each joins the `Event` union in `engine.events`)."""
TYPED_NOTES: tuple[type[PatternNote], ...] = get_args(TypedNote)

_BY_TOPIC: dict[str, list[type[PatternNote]]] = {}
for _note in TYPED_NOTES:
    _BY_TOPIC.setdefault(_note.model_fields["kind"].default.rsplit(".", 1)[-1], []).append(_note)

_RENAMED: dict[str, dict[str, str]] = {
    "stage": {"agent": "by"},
    "request": {"from": "from_agent", "to": "to_agent"},
    "write": {"ts": "value_ts"},
}
"""Keys of version 1 data that are named otherwise as fields, by topic."""


def upgrade(record: dict[str, Any]) -> PatternNote | None:
    """The typed note a version 1 `pattern.note` record stands for, or None when its data
    does not fit one (a key missing, one too many, a value of the wrong type).

    Its data's keys become the note's fields; an `agent` key, which named the note's own
    agent, must say the same as the record does."""
    topic, data = record.get("topic"), record.get("data")
    if not isinstance(topic, str) or not isinstance(data, dict):
        return None
    base = {name: record[name] for name in EventBase.model_fields if name in record}
    renamed = _RENAMED.get(topic, {})
    fields = {renamed.get(key, key): value for key, value in data.items()}
    if fields.pop("agent", record.get("agent")) != record.get("agent"):
        return None
    for kind in _BY_TOPIC.get(topic, ()):
        try:
            return kind.model_validate({**fields, **base, "v": EVENT_VERSION, "text": record.get("text")})
        except ValidationError:
            continue
    return None

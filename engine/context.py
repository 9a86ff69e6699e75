"""RunContext: what a pattern sees. Model calls, escalations, spans, budgets, events.

A pattern holds the coordination logic and nothing else; every guard lives
behind this surface, so every pattern gets timeouts, retries, budgets, the
breaker and the audit trail for free. `RunContext` itself owns where a pattern
is (its span, team and step scope) and stamping events; each method delegates to
the part of `engine.run` that owns its concern (see that package's docstring).
"""

from __future__ import annotations

import logging

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NoReturn, TypeVar, overload

from pydantic import BaseModel

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision
from engine.budgets import Resource
from engine.events import (
    Choice,
    DecisionAction,
    ErrorEvent,
    EventBase,
    StepFinished,
    StepStarted,
    ToolAsked,
    purpose_of,
)
from engine.formats import one_line
from engine.guards import CallFailedError, PatternStopped, StepFailed, StopSession
from engine.handoffs import HandoffContract, HandoffError
from engine.providers.base import Message
from engine.run.budget import CALL_RESOURCES
from engine.run.calls import ModelCall
from engine.run.handoff import hand_off
from engine.run.record import DecisionPlace
from engine.run.replay import replay
from engine.run.shared import AgentTally, Run
from engine.trust import AgentOutput, data_block

log = logging.getLogger(__name__)
__all__ = ["CALL_RESOURCES", "AgentTally", "Run", "RunContext", "Step", "failure_message", "purpose_of"]

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=EventBase)


class RunContext:
    """A pattern's handle on the session, positioned at one span of the call tree."""

    def __init__(
        self,
        run: Run,
        span_id: str = "root",
        parent_span_id: str | None = None,
        team: TeamSpec | None = None,
        inputs: Sequence[AgentOutput] = (),
        scope: str = "",
        depth: int = 0,
    ) -> None:
        self._run = run
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.team = team or run.team
        """The team this part of the session works with (a member team, when nested)."""
        self.inputs = tuple(inputs)
        """Other agents' output handed to this part of the session (a member team's
        step inputs), for its calls' `context=`: data, never prompt text."""
        self.scope = scope
        """What this part's step ids start with, so they are unique in the session: ""
        for the session's own team, "s2/engineering/" in the team that took step s2."""
        self.depth = depth
        """How many member teams deep this part is (0 for the session's own team)."""
        self._ordinals: dict[str, int] = {}
        self._escalations: dict[tuple[str | None, str], int] = {}
        """Escalations raised here so far, by agent and trigger (for `DecisionPlace`)."""

    # -- where we are -------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self._run.session_id

    @property
    def task(self) -> str:
        return self._run.task

    @property
    def gate(self) -> ApprovalGate:
        return self._run.gate

    @property
    def run(self) -> Run:
        return self._run

    @cached_property
    def purpose(self) -> str:
        """What calls made here are for, from this span (`purpose_of`)."""
        return purpose_of(self.span_id)

    def span(self, name: str) -> RunContext:
        """A child context: calls made through it are keyed under `name`.

        Spans are paths ("root/step:s1"), so call keys stay the same from run to
        run whatever order concurrent branches happen to start in.
        """
        return RunContext(
            self._run, f"{self.span_id}/{name}", self.span_id, self.team, self.inputs, self.scope, self.depth
        )

    def with_team(self, member: AgentSpec, step: str, inputs: Sequence[AgentOutput] = ()) -> RunContext:
        """A child context in which `member`'s own team does the work of `step`
        (hierarchical teams), its step ids scoped under it.

        `inputs` is what the team is handed besides its task (the results its step
        depends on); its pattern passes them on as data (`ctx.inputs`).
        """
        if member.team is None:
            raise ValueError(f"{member.name} is an agent, not a team")
        return RunContext(
            self._run, f"{self.span_id}/team:{member.name}", self.span_id, member.team, inputs,
            f"{self.scope}{step}/{member.name}/", self.depth + 1,
        )

    def step_id(self, local: str) -> str:
        """A step id as the session knows it: `local` in this part's scope."""
        return self.scope + local

    def lead(self) -> AgentSpec:
        """The team's lead, or its first agent when none is named."""
        team = self.team
        return team.get(team.lead) if team.lead else team.agents[0]  # type: ignore[return-value]

    # -- events -------------------------------------------------------------

    def build(self, cls: type[E], *, agent: str | None = None, **fields: Any) -> E:
        """The next event of the session, stamped with its seq, time and span."""
        run = self._run
        return cls(
            session_id=run.session_id,
            seq=run.next_seq(),
            ts=run.clock(),
            span_id=self.span_id,
            parent_span_id=self.parent_span_id,
            agent=agent,
            **fields,
        )

    def publish(self, cls: type[E], *, agent: str | None = None, **fields: Any) -> E:
        """Build and publish the next event now, without waiting for a reader that is behind
        (`emit` waits: use it wherever the caller can)."""
        event = self.build(cls, agent=agent, **fields)
        if isinstance(event, StepFinished):
            self._run.step_outcomes[event.step_id] = event.status
        self._run.bus.publish(event)
        return event

    async def emit(self, cls: type[E], *, agent: str | None = None, **fields: Any) -> E:
        """Build and publish the next event (waits while a bounded reader is behind)."""
        event = self.publish(cls, agent=agent, **fields)
        await self._run.bus.wait_for_room()
        return event

    @asynccontextmanager
    async def step(
        self, agent: str, local_id: str, title: str, *, depends_on: Sequence[str] = ()
    ) -> AsyncIterator[Step]:
        """One unit of work by `agent`, as the live screen shows it.

        Counts a turn and emits `step.started` (ids in this part's scope). When the
        block ends, `step.finished`: done, with what the block set as `step.output`;
        or error, with why, when the block raises (the exception goes on).
        """
        step = Step(self.step_id(local_id))
        await self.turn(agent)
        await self.emit(
            StepStarted, agent=agent, step_id=step.id, title=title, assigned_to=agent,
            depends_on=[self.step_id(d) for d in depends_on],
        )
        try:
            yield step
        except StopSession:
            raise
        except Exception as error:
            if not isinstance(error, CallFailedError | StepFailed | HandoffError):
                log.error("internal error in step %s of session %s", step.id, self.session_id, exc_info=error)
            await self.emit(StepFinished, agent=agent, step_id=step.id, status="error", error=failure_message(error))
            raise
        await self.emit(StepFinished, agent=agent, step_id=step.id, status="done", output=step.output)

    async def fail(self, message: str, *, agent: str | None = None) -> NoReturn:
        """Stop the pattern: it cannot work with this team or these options.
        An error event, then `PatternStopped` (a member team's step fails; else the session)."""
        await self.emit(ErrorEvent, agent=agent, error_type="bad_request", message=message, fatal=self.depth == 0)
        raise PatternStopped("failed", message)

    def record_partial(self, label: str, text: str) -> None:
        """Keep a finished piece of work, for the result if the session stops early."""
        self._run.partials.append((label, text))

    def drop_partial(self, label: str) -> None:
        """Forget kept work that a later piece supersedes (an earlier draft of the same thing)."""
        self._run.partials[:] = [(kept, text) for kept, text in self._run.partials if kept != label]

    # -- budgets (engine.run.budget) ----------------------------------------

    async def turn(self, agent: str) -> None:
        """Count one delegation to `agent` against the turn budget."""
        await self._run.budget.turn(self)

    async def ensure_budget(self, resources: tuple[Resource, ...] = CALL_RESOURCES) -> None:
        """Return while the budgets have room; when one is used up, ask once for the
        whole session whether to extend it, and raise `StopSession` if not.

        Model calls check tokens, cost and time; delegations check turns too.
        """
        await self._run.budget.ensure(self, resources)

    # -- escalations and handoffs (engine.approvals, engine.run.handoff) -----

    async def escalate(
        self,
        trigger: str,
        reason: str,
        payload: Any = None,
        *,
        agent: str | None = None,
        options: tuple[DecisionAction, ...] | None = None,
        validate: Callable[[Any], Any] | None = None,
        choices: Sequence[Choice] = (),
        tool: ToolAsked | None = None,
    ) -> Decision:
        """Pause this branch for a decision (a human's or the policy's).

        `choices` names what each option does here (`Choice`: "Allow one more revision",
        with the text it asks for); the options are theirs when given, else `options`
        (approve and reject when neither is), each with its plain choice. `tool`: the
        tool a tool use is about (`payload` is its input), routed by the tool rules.
        """
        return await self._run.gate.request(
            self, trigger, reason, payload, agent=agent, options=options or ("approve", "reject"),
            validate=validate, choices=choices, tool=tool, place=self._place(agent, trigger),
        )

    def _place(self, agent: str | None, trigger: str) -> DecisionPlace:
        """Where an escalation is raised: the same from run to run, as a call key is."""
        n = self._escalations.get((agent, trigger), 0) + 1
        self._escalations[agent, trigger] = n
        return DecisionPlace(self.span_id, agent, trigger, n)

    async def handoff(
        self, contract: HandoffContract, payload: Any, *, from_agent: str, to_agent: str,
        choices: Sequence[Choice] = (),
    ) -> Any:
        """Pass `payload` from one agent to another under `contract`.

        Returns the validated payload (edited, if a person edited it). Raises
        `HandoffError` when it breaks the contract (after an error event) and
        `HandoffRejected` when a low-confidence handoff is refused. `choices` names
        the low-confidence escalation's options here.
        """
        return await hand_off(self, contract, payload, from_agent=from_agent, to_agent=to_agent, choices=choices)

    # -- model calls (engine.run.calls, engine.run.replay) ---------------------

    def _call_key(self, agent: str) -> str:
        n = self._ordinals.get(agent, 0) + 1
        self._ordinals[agent] = n
        return f"{self.span_id}#{agent}#{n}"

    @overload
    async def call(
        self, agent: str, prompt: str, *, context: Sequence[AgentOutput] | None = ...,
        schema: None = ..., step_id: str | None = ...,
    ) -> str: ...

    @overload
    async def call(
        self, agent: str, prompt: str, *, context: Sequence[AgentOutput] | None = ...,
        schema: type[M], step_id: str | None = ...,
    ) -> M: ...

    async def call(
        self,
        agent: str,
        prompt: str,
        *,
        context: Sequence[AgentOutput] | None = None,
        schema: type[M] | dict[str, Any] | None = None,
        step_id: str | None = None,
    ) -> str | M | Any:
        """One model call by `agent`: streamed, accounted, guarded.

        Returns the reply text; with `schema` (a pydantic model, or a JSON Schema
        dict) the validated reply (a model instance, or the parsed JSON).
        Raises `CallFailedError` when the call fails for good and `StopSession`
        when a budget stop or the breaker ends the session.
        """
        run = self._run
        spec = run.team.get(agent)
        key = self._call_key(agent)
        if spec is None:
            message = f"no agent named {agent!r} on the team"
            await self.emit(ErrorEvent, agent=agent, error_type="unknown_agent", message=message, step_id=step_id)
            raise CallFailedError(agent, "unknown_agent", message)

        first = Message("user", prompt, data_block(context))
        call = ModelCall(self, spec, key, schema, step_id)
        if run.record.calls:
            asked = call.asks(first)
            recorded = run.record.reply(key, asked)
            if recorded is not None:
                replayed = await replay(self, spec, key, recorded, first.text, schema, step_id, asked)
                if replayed is not None:
                    return replayed
        return await call.make(first)


@dataclass
class Step:
    """A step in progress (`RunContext.step`): its id in the session, and its output."""

    id: str
    output: str = ""


def failure_message(error: BaseException) -> str:
    """Why a step failed, for its `step.finished` event."""
    if isinstance(error, CallFailedError | StepFailed):
        return error.message
    if isinstance(error, HandoffError):
        return error.reason
    return f"internal error: {one_line(error)} (its traceback is in huddle's log)"

"""RunContext: what a pattern sees. Model calls, escalations, spans, budgets, events.

A pattern holds the coordination logic and nothing else; every guard lives
here, so every pattern gets timeouts, retries, budgets, the breaker and the
audit trail for free.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar, overload

from pydantic import BaseModel, ValidationError

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, one_line
from engine.budgets import RESOURCES, Limits, Resource, Spent, Streaming, crossed, new_limit_of
from engine.bus import EventBus
from engine.events import (
    PROGRESS_EVERY,
    BudgetUpdated,
    CallDelta,
    CallFailed,
    CallFinished,
    CallProgress,
    CallStarted,
    Choice,
    DecisionAction,
    ErrorEvent,
    ErrorType,
    EventBase,
    Handoff,
    Retry,
    StepFinished,
    StepStarted,
    ToolCall,
    ToolResult,
    Usage,
)
from engine.formats import amount
from engine.handoffs import HandoffContract, HandoffError, HandoffRejected, as_data, check_json_schema
from engine.guards import CallFailedError, CircuitBreaker, PatternStopped, RetryPolicy, StepFailed, StopSession
from engine.pricing import PriceTable
from engine.providers.base import (
    Message,
    Provider,
    ProviderError,
    ProviderRequest,
    ToolOutcome,
    ToolSpec,
    ToolUse,
    edited_note,
)
from engine.redaction import redact
from engine.tools import TOOLS, ToolError
from engine.trust import AgentOutput, data_block, well_formed, well_formed_data

CALL_RESOURCES: tuple[Resource, ...] = ("tokens", "cost", "seconds")

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=EventBase)


@dataclass
class AgentTally:
    """One agent's spending, for its panel and the session row."""

    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    calls: int = 0


class Run:
    """State shared by every context of one session."""

    def __init__(
        self,
        *,
        session_id: str,
        task: str,
        team: TeamSpec,
        provider: Provider,
        bus: EventBus,
        gate: ApprovalGate,
        limits: Limits,
        seed: int,
        retry: RetryPolicy,
        call_timeout: float | None,
        breaker: CircuitBreaker,
        prices: PriceTable,
        recorded: dict[str, CallFinished] | None = None,
        clock: Callable[[], float] = time.time,
        tool_root: Path | None = None,
        max_tool_rounds: int = 8,
    ) -> None:
        self.session_id = session_id
        self.clock = clock
        self.task = task
        self.team = team
        self.provider = provider
        self.bus = bus
        self.gate = gate
        self.limits = limits
        self.retry = retry
        self.call_timeout = call_timeout
        self.breaker = breaker
        self.prices = prices
        self.recorded = recorded or {}
        self.tool_root = tool_root or Path.cwd()
        """The folder agents' tools may look at."""
        self.max_tool_rounds = max_tool_rounds
        """Rounds of tool use one call may take before the model must answer."""
        self.rng = random.Random(seed)
        self.seq = 0
        self.started = time.monotonic()
        self.spent = Spent()
        self.calls = 0
        self.tallies: dict[str, AgentTally] = {}
        self.agent_failures: dict[str, int] = {}
        self.partials: list[tuple[str, str]] = []
        self.step_outcomes: dict[str, str] = {}
        """How each step ended so far (its latest `step.finished` status), by step id."""
        self.streaming: dict[str, Streaming] = {}
        """Calls streaming now, by call key, with what each has used so far."""
        self.secrets: tuple[str, ...] = tuple(getattr(provider, "secrets", ()))
        """The keys the provider holds: no piece of one reaches an event."""
        self._budget_decision: asyncio.Task[bool] | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def seconds_left(self) -> float | None:
        """Time left in the session's time budget; None without one."""
        limit = self.limits.seconds
        return None if limit is None else max(0.0, limit - self.elapsed())

    def used(self) -> Spent:
        """What the session has used by now, counting calls still streaming: what every
        budget is checked against, before a call and while one streams."""
        self.spent.seconds = self.elapsed()
        return self.spent.plus(self.streaming.values()) if self.streaming else self.spent

    def outside_text(self, text: str) -> str:
        """Text from a provider's error, made safe to record: well-formed, no secret in it."""
        return redact(well_formed(text), self.secrets)

    def account(self, agent: str, model: str, usage: Usage) -> float:
        cost = self.prices.cost(model, usage)
        tally = self.tallies.setdefault(agent, AgentTally())
        tally.usage = tally.usage + usage
        tally.cost += cost
        self.spent.tokens += usage.total
        self.spent.cost += cost
        return cost

    def steps_not_done(self) -> tuple[int, int]:
        """How many steps failed and how many were skipped (the session's outcome says so)."""
        outcomes = list(self.step_outcomes.values())
        return outcomes.count("error"), outcomes.count("skipped")

    def cancel_background(self) -> None:
        if self._budget_decision is not None and not self._budget_decision.done():
            self._budget_decision.cancel()


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

    async def emit(self, cls: type[E], *, agent: str | None = None, **fields: Any) -> E:
        """Build and publish the next event (waits while a bounded reader is behind)."""
        event = self.build(cls, agent=agent, **fields)
        if isinstance(event, StepFinished):
            self._run.step_outcomes[event.step_id] = event.status
        self._run.bus.publish(event)
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

    async def budget_update(self, reason: str = "usage") -> None:
        run = self._run
        run.spent.seconds = run.elapsed()
        await self.emit(
            BudgetUpdated,
            limits=run.limits,
            tokens=run.spent.tokens,
            cost=round(run.spent.cost, 6),
            turns=run.spent.turns,
            seconds=round(run.spent.seconds, 3),
            calls=run.calls,
            reason=reason,
        )

    # -- budgets ------------------------------------------------------------

    async def turn(self, agent: str) -> None:
        """Count one delegation to `agent` against the turn budget."""
        await self.ensure_budget(RESOURCES)
        self._run.spent.turns += 1
        await self.budget_update()

    async def ensure_budget(self, resources: tuple[Resource, ...] = CALL_RESOURCES) -> None:
        """Return while the budgets have room; when one is used up, ask once for the
        whole session whether to extend it, and raise `StopSession` if not.

        Model calls check tokens, cost and time; delegations check turns too.
        """
        run = self._run
        while True:
            resource = crossed(run.limits, run.used(), resources)
            if resource is None:
                return
            if run._budget_decision is None or run._budget_decision.done() and run._budget_decision.result():
                run._budget_decision = asyncio.ensure_future(self._ask_budget(resource))
            extended = await asyncio.shield(run._budget_decision)
            if not extended:
                raise StopSession("stopped", f"{resource} budget used up")

    async def _ask_budget(self, resource: Resource) -> bool:
        run = self._run
        limit = run.limits.get(resource)
        used = round(run.used().get(resource), 6)
        suggested = run.limits.raised(resource, used)
        payload = {"resource": resource, "limit": limit, "used": used, "new_limit": suggested}

        def validate(edited: Any) -> dict[str, Any]:
            return {**payload, "new_limit": new_limit_of(edited, payload)}

        decision = await self.escalate(
            "budget",
            f"the {resource} budget is used up ({amount(resource, used)} of {amount(resource, limit)}); "
            f"approve to raise it to {amount(resource, suggested)}, or reject to stop with what is done",
            payload,
            validate=validate,
            choices=(
                Choice(id="raise", label=f"Raise it to {amount(resource, suggested)}", action="approve"),
                Choice(
                    id="set_limit", label="Set another limit", action="edit", input="number", field="new_limit",
                    prompt=f"the new {resource} limit (more than {amount(resource, used)})", required=True,
                ),
                Choice(id="stop", label="Stop with what is done", action="reject"),
            ),
        )
        if decision.action == "reject":
            return False
        new_limit = decision.edited["new_limit"] if decision.action == "edit" else suggested
        run.limits = run.limits.extended(resource, new_limit)
        await self.budget_update("extended")
        return True

    # -- escalations ----------------------------------------------------------

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
    ) -> Decision:
        """Pause this branch for a decision (a human's or the policy's).

        `choices` names what each option does here (`Choice`: "Allow one more revision",
        with the text it asks for); the options are theirs when given, else `options`
        (approve and reject when neither is), each with its plain choice.
        """
        return await self._run.gate.request(
            self, trigger, reason, payload, agent=agent, options=options or ("approve", "reject"),
            validate=validate, choices=choices,
        )

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
        data = as_data(payload)

        async def record(verdict: str, value: Any, **more: Any) -> None:
            await self.emit(
                Handoff, agent=from_agent, from_agent=from_agent, to_agent=to_agent,
                contract=contract.name, payload=as_data(value), verdict=verdict, **more,
            )

        try:
            value = contract.validate(data)
        except ValueError as error:
            await record("invalid", data, error=str(error))
            await self.emit(
                ErrorEvent, agent=from_agent, error_type="invalid_output",
                message=f"handoff {from_agent} → {to_agent} broke contract {contract.name}: {error}",
            )
            raise HandoffError(contract.name, str(error)) from None
        confidence = contract.confidence_of(value)
        threshold = contract.min_confidence
        if threshold is None:
            threshold = self._run.gate.policy.low_confidence_threshold
        if confidence is not None and confidence < threshold:
            await record("low_confidence", data, confidence=confidence)
            decision = await self.escalate(
                "low_confidence",
                f"{from_agent} hands {to_agent} work it is only {confidence:.0%} confident in "
                f"(contract {contract.name} asks for {threshold:.0%})",
                data, agent=from_agent, validate=contract.validate, choices=choices,
                options=("approve", "edit", "reject"),
            )
            if decision.action == "reject":
                raise HandoffRejected(contract.name, decision.reason or "rejected")
            if decision.action == "edit":
                value = decision.edited
        await record("accepted", value, confidence=contract.confidence_of(value))
        return value

    # -- model calls --------------------------------------------------------------

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
        if key in run.recorded:
            replayed = await self._replay(spec, key, first.text, schema, step_id)
            if replayed is not None:
                return replayed

        messages = [first]
        tool = _tool_for(schema) if schema is not None else None
        tools = tuple(TOOLS[name].spec for name in spec.tools)
        tool_round = 0
        attempt = 0
        transport_failures = 0
        invalid_replies = 0
        while True:
            attempt += 1
            await self.ensure_budget()
            if run.breaker.open:
                await self._trip_breaker(agent)
            request = ProviderRequest(
                model=spec.model,
                system=spec.system(),
                messages=tuple(messages),
                max_tokens=spec.max_tokens,
                temperature=spec.temperature,
                effort=spec.effort,
                tool=tool,
                tools=tools,
                tool_choice="auto" if tool_round < run.max_tool_rounds else "none",
                agent=agent,
                role=spec.role,
                task=run.task,
                team=self.team.names,
                call_key=key,
                attempt=attempt,
            )
            await self.emit(
                CallStarted, agent=agent, call_key=key, attempt=attempt, model=spec.model,
                prompt=messages[-1].content if tool_round else messages[-1].text,
                structured=schema is not None, step_id=step_id, tool_round=tool_round,
            )
            started = time.monotonic()
            try:
                streamed = await self._stream(request, agent, key, attempt)
            except _BudgetReached as reached:
                # Stopped mid-reply: the next turn of the loop asks (once for the session)
                # whether to raise the budget, then makes the call again, or stops.
                await self.emit(
                    CallFailed, agent=agent, call_key=key, attempt=attempt, error_type="budget",
                    error=f"stopped mid-reply: the {reached.resource} budget is used up", final=False,
                    usage=reached.usage, cost=round(reached.cost, 8),
                )
                await self.budget_update()
                continue
            except _AttemptFailed as failed:
                transport_failures += 1
                final = not failed.retryable or transport_failures >= run.retry.max_attempts
                await self.emit(
                    CallFailed, agent=agent, call_key=key, attempt=attempt,
                    error_type=failed.error_type, error=failed.message, final=final,
                    usage=failed.usage, cost=round(failed.cost, 8),
                )
                if failed.usage.total:
                    await self.budget_update()
                if final:
                    run.breaker.failure()
                    if run.breaker.open:
                        await self._trip_breaker(agent)
                    if await self._retry_after_repeated_failure(agent, failed.message):
                        transport_failures = 0
                        continue
                    raise CallFailedError(agent, failed.error_type, failed.message) from None
                delay = run.retry.delay(transport_failures, failed.retry_after, run.rng, longest=run.call_timeout)
                await self.emit(
                    Retry, agent=agent, call_key=key, attempt=attempt + 1, delay_s=delay,
                    reason=failed.message, retry_after_s=failed.retry_after,
                )
                # The session's time budget ends a wait too (the loop then asks about it).
                left = run.seconds_left()
                await asyncio.sleep(delay if left is None else min(delay, left))
                continue

            run.breaker.success()
            run.agent_failures[agent] = 0
            usage, uses = streamed.usage, streamed.uses
            using_tools = bool(uses) and request.tool_choice == "auto" and not streamed.answer
            text = streamed.answer or streamed.text
            cost = run.account(agent, spec.model, usage)
            run.calls += 1
            run.tallies[agent].calls += 1
            latency = round(time.monotonic() - started, 3)
            parsed: Any = None
            error = None
            if schema is not None and not using_tools:
                parsed, error = _validate(schema, text)
            await self.emit(
                CallFinished, agent=agent, call_key=key, attempt=attempt, model=spec.model, text=text,
                structured=_structured(parsed),
                usage=usage, cost=round(cost, 8), latency_s=latency, stop_reason=streamed.stop,
            )
            await self.budget_update()
            if using_tools:
                outcomes = [await self._use_tool(agent, spec, use) for use in uses]
                messages += [Message("assistant", text, tool_uses=uses), Message("user", "", tool_results=tuple(outcomes))]
                tool_round += 1
                attempt = 0
                continue
            if error is None:
                return parsed if schema is not None else text  # type: ignore[return-value]

            invalid_replies += 1
            final = invalid_replies > run.retry.schema_retries
            await self.emit(
                CallFailed, agent=agent, call_key=key, attempt=attempt,
                error_type="invalid_output", error=f"reply is not a valid {_schema_name(schema)}: {error}",  # type: ignore[arg-type]
                final=final,
            )
            if final:
                raise CallFailedError(
                    agent, "invalid_output",
                    f"no valid {_schema_name(schema)} after {invalid_replies} replies: {error}",  # type: ignore[arg-type]
                )
            messages += [
                Message("assistant", text),
                Message(
                    "user",
                    f"That reply did not validate: {error}. Call the `respond` tool again "
                    "with input that matches its schema exactly.",
                ),
            ]
            await self.emit(
                Retry, agent=agent, call_key=key, attempt=attempt + 1, delay_s=0.0,
                reason=f"invalid output: {error}",
            )

    async def _stream(self, request: ProviderRequest, agent: str, key: str, attempt: int) -> _Streamed:
        """One attempt, streamed. Text from the provider enters well-formed (no lone
        surrogates) and its errors without secrets. Budgets are checked as the reply
        streams, counting what this and every other streaming call has used so far:
        `_BudgetReached` stops the call once one is used up, its usage accounted."""
        run = self._run
        texts: list[str] = []
        answers: list[str] = []
        uses: list[ToolUse] = []
        usage: Usage | None = None
        stop = None
        sent = _estimated_tokens(sum(len(m.text) for m in request.messages) + len(request.system))
        received = 0
        flight = run.streaming[key] = Streaming()
        first: float | None = None  # when the first piece of the reply came, by the session's clock
        shown: float | None = None  # when progress was last sent

        def so_far() -> Usage:
            out = _estimated_tokens(received)
            if usage is None:
                return Usage(input_tokens=sent, output_tokens=out)
            return usage.model_copy(update={"output_tokens": max(usage.output_tokens, out)})

        # Two clocks may end the attempt: the time budget, and the call timeout, which
        # bounds the wait for each part of the reply (the first, and every next one), not
        # the length of a reply that keeps coming.
        loop = asyncio.get_running_loop()
        call_timeout, left = run.call_timeout, run.seconds_left()
        budget_end = None if left is None else loop.time() + left

        def deadline() -> float | None:
            idle = None if call_timeout is None else loop.time() + call_timeout
            return min((end for end in (budget_end, idle) if end is not None), default=None)

        # Moving the timer costs a timer handle; moved only once it has fallen this far
        # behind, a silence ends the call within a tenth of the timeout of its limit.
        slack = 0.0 if call_timeout is None else min(call_timeout / 10, 1.0)
        timer = asyncio.timeout_at(deadline())
        limited = run.limits.tokens is not None or run.limits.cost is not None or run.limits.seconds is not None
        try:
            async with timer:
                async for event in run.provider.stream(request):
                    if call_timeout is not None and loop.time() + call_timeout - timer.when() > slack:
                        timer.reschedule(deadline())
                    if event.type == "text" or event.type == "tool_input":
                        piece = well_formed(event.text if event.type == "text" else event.partial_json)
                        (texts if event.type == "text" else answers).append(piece)
                        received += len(piece)
                        delta = await self.emit(CallDelta, agent=agent, call_key=key, attempt=attempt, text=piece)
                        first = delta.ts if first is None else first
                        if delta.ts - (shown or first) >= PROGRESS_EVERY:
                            shown = delta.ts
                            await self._progress(agent, key, attempt, request.model, so_far(), delta.ts - first)
                        if limited:
                            resource = self._streamed_past_budget(flight, request.model, so_far())
                            if resource is not None:
                                raise _BudgetReached(resource)
                    elif event.type == "tool_use":
                        uses.append(ToolUse(well_formed(event.id), well_formed(event.name), well_formed_data(event.input)))
                    elif event.type == "usage":
                        usage = event.usage
                        if first is None:  # reported as the reply starts (input tokens): show it at once
                            await self._progress(agent, key, attempt, request.model, so_far(), 0.0)
                    elif event.type == "stop":
                        stop = event.reason
        except _BudgetReached as reached:
            reached.used(run, agent, request.model, so_far())
            raise
        except ProviderError as error:
            failed = _AttemptFailed(error.error_type, run.outside_text(error.message), error.retryable, error.retry_after)
            failed.used(run, agent, request.model, error.usage if error.usage.total else usage or Usage())
            raise failed from None
        except TimeoutError:
            if budget_end is not None and timer.when() == budget_end:
                raise _BudgetReached("seconds").used(run, agent, request.model, so_far()) from None
            silence = "no reply" if first is None else "the reply stalled: nothing more"
            failed = _AttemptFailed("timeout", f"{silence} for {call_timeout:g}s", True, None)
            raise failed.used(run, agent, request.model, usage or Usage()) from None  # what the provider reported
        finally:
            del run.streaming[key]
        return _Streamed("".join(texts), "".join(answers), tuple(uses), usage or Usage(), stop)

    async def _progress(self, agent: str, key: str, attempt: int, model: str, usage: Usage, streaming_s: float) -> None:
        """Say how far a call has come: its tokens and cost so far, and its pace."""
        rate = round(usage.output_tokens / streaming_s, 1) if streaming_s > 0 else None
        await self.emit(
            CallProgress, agent=agent, call_key=key, attempt=attempt, usage=usage,
            cost=round(self._run.prices.cost(model, usage), 8), tokens_per_s=rate,
        )

    def _streamed_past_budget(self, flight: Streaming, model: str, usage: Usage) -> Resource | None:
        """Note what a streaming call has used so far; the budget it used up, if any.
        Called only while some budget limits tokens, cost or time."""
        run = self._run
        limits = run.limits
        flight.tokens = usage.total
        if limits.cost is not None:
            flight.cost = run.prices.cost(model, usage)
        return crossed(limits, run.used(), CALL_RESOURCES)

    # -- tools ----------------------------------------------------------------------

    async def _use_tool(self, agent: str, spec: AgentSpec, use: ToolUse) -> ToolOutcome:
        """Carry out one tool use, if the policy (or a person) allows it; what it gave back.

        The `tool.call` event holds the input actually used (a person may have edited it).
        """
        payload, refusal = await self._allowed_input(agent, spec, use)
        await self.emit(ToolCall, agent=agent, tool_use_id=use.id, tool=use.name, input=payload)
        output, is_error = refusal or "", True
        if refusal is None:
            try:
                output = await asyncio.to_thread(TOOLS[use.name].execute, payload, self._run.tool_root)
                is_error = False
            except ToolError as error:
                output = str(error)
        await self.emit(ToolResult, agent=agent, tool_use_id=use.id, tool=use.name, output=output, is_error=is_error)
        if payload != use.input and refusal is None:  # the model should know what it is reading
            output = edited_note(payload) + output
        return ToolOutcome(use.id, output, is_error)

    async def _allowed_input(self, agent: str, spec: AgentSpec, use: ToolUse) -> tuple[dict[str, Any], str | None]:
        """The input to run the tool with and None, or the model's input and why it will not run."""
        tool = TOOLS.get(use.name) if use.name in spec.tools else None
        if tool is None:
            return use.input, f"{agent} has no tool called {use.name!r}"
        try:
            payload = tool.validate(use.input)
        except ValueError as error:
            return use.input, f"bad input for {use.name}: {error}"
        decision = await self.escalate(
            "tool_use",
            f"{agent} wants to use {use.name} {json.dumps(payload, ensure_ascii=False)}",
            payload, agent=agent, validate=tool.validate,
            choices=(
                Choice(id="run", label=f"Run {use.name}", action="approve"),
                Choice(id="edit", label="Edit the input", action="edit", input="json", prompt=f"the input of {use.name}"),
                Choice(id="refuse", label="Refuse", action="reject", input="reason", prompt="Why? The agent gets this back."),
            ),
        )
        if decision.action == "reject":
            why = f": {decision.reason}" if decision.reason else ""
            return payload, f"this use of {use.name} was refused{why}"
        return (decision.edited if decision.action == "edit" else payload), None

    async def _replay(
        self, spec: AgentSpec, key: str, user: str, schema: type[M] | None, step_id: str | None
    ) -> str | M | None:
        """Answer from a recorded session instead of the model, when it recorded this call."""
        recorded = self._run.recorded[key]
        if schema is None and recorded.stop_reason == "tool_use":
            return None  # the call stopped between rounds of tool use: make it again
        parsed = None
        if schema is not None:
            parsed, error = _validate(schema, recorded.text)
            if error is not None:
                return None
        await self.emit(
            CallStarted, agent=spec.name, call_key=key, attempt=1, model=recorded.model,
            prompt=user, structured=schema is not None, step_id=step_id,
        )
        self._run.account(spec.name, recorded.model, recorded.usage)
        self._run.calls += 1
        await self.emit(
            CallFinished, agent=spec.name, call_key=key, attempt=1, model=recorded.model,
            text=recorded.text, structured=recorded.structured, usage=recorded.usage,
            cost=recorded.cost, latency_s=0.0, stop_reason=recorded.stop_reason, recorded=True,
        )
        return parsed if schema is not None else recorded.text

    async def _retry_after_repeated_failure(self, agent: str, message: str) -> bool:
        """Escalate when one agent fails twice in a row; True means try it again."""
        run = self._run
        run.agent_failures[agent] = run.agent_failures.get(agent, 0) + 1
        if run.agent_failures[agent] < 2:
            return False
        decision = await self.escalate(
            "repeated_failure",
            f"{agent} has failed {run.agent_failures[agent]} calls in a row (last: {message}); "
            "approve to try again, reject to give up on this call",
            {"agent": agent, "failures": run.agent_failures[agent], "last_error": message},
            agent=agent,
            choices=(
                Choice(id="retry", label="Try again", action="approve"),
                Choice(id="give_up", label="Give up on this call", action="reject"),
            ),
        )
        return decision.action == "approve"

    async def _trip_breaker(self, agent: str) -> None:
        run = self._run
        reason = f"circuit breaker open after {run.breaker.consecutive} failed calls in a row"
        await self.emit(ErrorEvent, agent=agent, error_type="internal", message=reason, fatal=True)
        raise StopSession("failed", reason)


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
    return f"internal error: {one_line(error)}"


@dataclass(frozen=True)
class _Streamed:
    """One request's reply, as streamed."""

    text: str
    answer: str
    """The reply tool's input: a structured call's answer."""
    uses: tuple[ToolUse, ...]
    usage: Usage
    stop: str | None


class _Billed(Exception):
    """An attempt that ended early, and what it used before it did (a provider bills it)."""

    usage: Usage = Usage()
    cost: float = 0.0

    def used(self, run: Run, agent: str, model: str, usage: Usage) -> _Billed:
        """Count `usage` against the agent and the session; the exception, to raise."""
        self.usage, self.cost = usage, run.account(agent, model, usage)
        return self


class _BudgetReached(_Billed):
    """A call stopped while it streamed, because a budget was used up."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource)
        self.resource = resource


def _estimated_tokens(characters: int) -> int:
    """Tokens in a text of this length, for budgets while a reply streams (about 4
    characters a token); the provider's own count replaces it when it reports one."""
    return (characters + 3) // 4


class _AttemptFailed(_Billed):
    def __init__(self, error_type: ErrorType, message: str, retryable: bool, retry_after: float | None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


def _schema_name(schema: type[BaseModel] | dict[str, Any]) -> str:
    if isinstance(schema, dict):
        return str(schema.get("title") or "reply")
    return schema.__name__


def _tool_for(schema: type[BaseModel] | dict[str, Any]) -> ToolSpec:
    """The tool a structured reply is forced through."""
    if isinstance(schema, dict):
        description, input_schema = str(schema.get("description", "")), schema
    else:
        description, input_schema = (schema.__doc__ or "").strip(), schema.model_json_schema()
    return ToolSpec("respond", f"Give your reply as {_schema_name(schema)}. {description}".strip(), input_schema)


def _validate(schema: type[M] | dict[str, Any], text: str) -> tuple[Any, str | None]:
    """The reply parsed and validated, or the reason it is not valid."""
    if isinstance(schema, dict):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None, "not valid JSON"
        try:
            check_json_schema(schema, data)
        except ValueError as error:
            return None, str(error)
        return data, None
    try:
        return schema.model_validate_json(text), None
    except ValidationError as error:
        if any(item.get("type") == "json_invalid" for item in error.errors()):
            return None, "not valid JSON"
        return None, one_line(error)


def _structured(value: Any) -> dict[str, Any] | None:
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return data if isinstance(data, dict) else None

"""`ModelCall`: one model call by one agent, attempt after attempt, until it has a
reply or fails for good.

It owns the call loop: building each request, the session's breaker, transport
retries with their waits, the escalation after repeated failures, accounting a
finished reply, rounds of tool use, and re-prompting a structured reply that did
not validate. Each attempt is streamed by `engine.run.streaming`; tools are run
by `engine.run.tool_rounds`; budgets are asked of `Run.budget`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from engine.agents import AgentSpec
from engine.events import CallFailed, CallFinished, CallStarted, Choice, ErrorEvent, Retry
from engine.guards import CallFailedError, StopSession
from engine.pricing import rounded
from engine.providers.base import Message, ProviderRequest
from engine.run.fingerprint import fingerprint
from engine.run.replies import Schema, schema_name, structured, tool_for, validate
from engine.run.streaming import AttemptFailed, BudgetReached, Streamed, stream
from engine.run.tool_rounds import use_tools

if TYPE_CHECKING:
    from engine.context import RunContext

_AGAIN = object()
"""What a finished attempt gives when the call goes on (tool results, or a re-prompt)."""


class ModelCall:
    """One call (`RunContext.call`): its messages so far and its counts of attempts."""

    def __init__(
        self, ctx: RunContext, spec: AgentSpec, key: str, schema: Schema | None, step_id: str | None
    ) -> None:
        self.ctx = ctx
        self.run = ctx.run
        self.spec = spec
        self.agent = spec.name
        self.key = key
        self.schema = schema
        self.step_id = step_id
        self.messages: list[Message] = []
        self.tool = tool_for(schema) if schema is not None else None
        """The `respond` tool a structured reply is forced through."""
        self.tools = tuple(tool.spec for tool in ctx.run.toolbox.chosen(spec.tools))
        self.tool_round = 0
        self.attempt = 0
        """This request's attempt (counted again from 1 after each round of tool use)."""
        self.transport_failures = 0
        self.invalid_replies = 0

    async def make(self, first: Message) -> Any:
        """Send `first` and go on until the reply (validated, with a schema).
        Raises `CallFailedError` when the call fails for good and `StopSession` when a
        budget stop or the breaker ends the session."""
        ctx, run = self.ctx, self.run
        self.messages.append(first)
        while True:
            self.attempt += 1
            await run.budget.ensure(ctx)
            if run.breaker.open:
                await self._trip_breaker()
            request = self._request()
            await ctx.emit(
                CallStarted, agent=self.agent, call_key=self.key, attempt=self.attempt, model=self.spec.model,
                prompt=self.messages[-1].content if self.tool_round else self.messages[-1].text,
                structured=self.schema is not None, step_id=self.step_id, tool_round=self.tool_round,
                purpose=ctx.purpose, request_hash=fingerprint(request),
            )
            started = time.monotonic()
            try:
                streamed = await stream(ctx, request, self.agent, self.key, self.attempt)
            except BudgetReached as reached:
                await self._stopped_mid_reply(reached)
                continue
            except AttemptFailed as failed:
                await self._failed(failed)
                continue
            reply = await self._answered(request, streamed, started)
            if reply is not _AGAIN:
                return reply

    def asks(self, first: Message) -> str:
        """The fingerprint of the request the call opens with, `first` its message: what a
        recorded reply must have been asked to answer it (`engine.run.record`)."""
        return fingerprint(self._request((first,)))

    def _request(self, messages: tuple[Message, ...] | None = None) -> ProviderRequest:
        spec, run = self.spec, self.run
        return ProviderRequest(
            model=spec.model,
            system=spec.system(),
            messages=tuple(self.messages) if messages is None else messages,
            max_tokens=spec.max_tokens,
            temperature=spec.temperature,
            effort=spec.effort,
            tool=self.tool,
            tools=self.tools,
            tool_choice="auto" if self.tool_round < run.max_tool_rounds else "none",
            agent=self.agent,
            role=spec.role,
            task=run.task,
            team=self.ctx.team.names,
            call_key=self.key,
            attempt=self.attempt,
        )

    async def _stopped_mid_reply(self, reached: BudgetReached) -> None:
        """Stopped mid-reply: the next turn of the loop asks (once for the session)
        whether to raise the budget, then makes the call again, or stops."""
        await self.ctx.emit(
            CallFailed, agent=self.agent, call_key=self.key, attempt=self.attempt, error_type="budget",
            error=f"stopped mid-reply: the {reached.resource} budget is used up", final=False,
            usage=reached.usage, cost=rounded(reached.cost),
        )
        await self.run.budget.report(self.ctx)

    async def _failed(self, failed: AttemptFailed) -> None:
        """A failed attempt: wait and return to try again, or raise `CallFailedError`
        (after the breaker and, on repeated failures, a person have had their say)."""
        ctx, run = self.ctx, self.run
        self.transport_failures += 1
        final = not failed.retryable or self.transport_failures >= run.retry.max_attempts
        await ctx.emit(
            CallFailed, agent=self.agent, call_key=self.key, attempt=self.attempt,
            error_type=failed.error_type, error=failed.message, final=final,
            usage=failed.usage, cost=rounded(failed.cost),
        )
        if failed.usage.total:
            await run.budget.report(ctx)
        if final:
            run.breaker.failure()
            if run.breaker.open:
                await self._trip_breaker()
            if await self._retry_after_repeated_failure(failed.message):
                self.transport_failures = 0
                return
            raise CallFailedError(self.agent, failed.error_type, failed.message) from None
        delay = run.retry.delay(self.transport_failures, failed.retry_after, run.rng, longest=run.call_timeout)
        await ctx.emit(
            Retry, agent=self.agent, call_key=self.key, attempt=self.attempt + 1, delay_s=delay,
            reason=failed.message, retry_after_s=failed.retry_after,
        )
        # The session's time budget ends a wait too (the loop then asks about it).
        left = run.seconds_left()
        await asyncio.sleep(delay if left is None else min(delay, left))

    async def _answered(self, request: ProviderRequest, streamed: Streamed, started: float) -> Any:
        """A reply came: account it, then the reply, or `_AGAIN` after running the tools
        it asked for or re-prompting a structured reply that did not validate."""
        ctx, run, agent, schema = self.ctx, self.run, self.agent, self.schema
        run.breaker.success()
        run.agent_failures[agent] = 0
        usage, uses = streamed.usage, streamed.uses
        using_tools = bool(uses) and request.tool_choice == "auto" and not streamed.answer
        text = streamed.answer or streamed.text
        cost = run.account(agent, self.spec.model, usage)
        run.calls += 1
        run.tallies[agent].calls += 1
        latency = round(time.monotonic() - started, 3)
        parsed: Any = None
        error = None
        if schema is not None and not using_tools:
            parsed, error = validate(schema, text)
        await ctx.emit(
            CallFinished, agent=agent, call_key=self.key, attempt=self.attempt, model=self.spec.model, text=text,
            structured=structured(parsed),
            usage=usage, cost=rounded(cost), latency_s=latency, stop_reason=streamed.stop,
        )
        await run.budget.report(ctx)
        if using_tools:
            outcomes = await use_tools(ctx, self.spec, self.key, uses)
            self.messages += [Message("assistant", text, tool_uses=uses), Message("user", "", tool_results=tuple(outcomes))]
            self.tool_round += 1
            self.attempt = 0
            return _AGAIN
        if error is None:
            return parsed if schema is not None else text
        await self._reprompt(text, error)
        return _AGAIN

    async def _reprompt(self, text: str, error: str) -> None:
        """Feed a structured reply's validation error back, or fail the call after the last retry."""
        assert self.schema is not None
        name = schema_name(self.schema)
        self.invalid_replies += 1
        final = self.invalid_replies > self.run.retry.schema_retries
        await self.ctx.emit(
            CallFailed, agent=self.agent, call_key=self.key, attempt=self.attempt,
            error_type="invalid_output", error=f"reply is not a valid {name}: {error}", final=final,
        )
        if final:
            raise CallFailedError(
                self.agent, "invalid_output", f"no valid {name} after {self.invalid_replies} replies: {error}",
            )
        self.messages += [
            Message("assistant", text),
            Message(
                "user",
                f"That reply did not validate: {error}. Reply again with a {name} that matches "
                "the schema exactly (through the `respond` tool, when you were given one).",
            ),
        ]
        await self.ctx.emit(
            Retry, agent=self.agent, call_key=self.key, attempt=self.attempt + 1, delay_s=0.0,
            reason=f"invalid output: {error}",
        )

    async def _retry_after_repeated_failure(self, message: str) -> bool:
        """Escalate when one agent fails twice in a row; True means try it again."""
        run, agent = self.run, self.agent
        run.agent_failures[agent] = run.agent_failures.get(agent, 0) + 1
        if run.agent_failures[agent] < 2:
            return False
        decision = await self.ctx.escalate(
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

    async def _trip_breaker(self) -> None:
        """Stop the session: the breaker is open. Every branch it stops stops; the first says why."""
        breaker = self.run.breaker
        reason = f"circuit breaker open after {breaker.consecutive} failed calls in a row"
        if not breaker.reported:
            breaker.reported = True
            await self.ctx.emit(ErrorEvent, agent=self.agent, error_type="breaker", message=reason, fatal=True)
        raise StopSession("failed", reason)

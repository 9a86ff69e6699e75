"""One attempt of a model call, streamed: its text as `call.delta` events (a few a
second, `engine.run.coalescing`), its pace as `call.progress`, the call timeout and the budgets checked as it comes.

An attempt that ends early raises what it used with it (`Billed`), already
counted against the agent and the session: `BudgetReached` when a budget ran
out mid-reply, `AttemptFailed` when the provider failed or went quiet.
Per-delta work is only what a budget or the timeout needs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.budgets import Resource, Streaming
from engine.events import PROGRESS_EVERY, CallFailed, CallProgress, ErrorType, Usage
from engine.pricing import rounded
from engine.providers.base import ProviderError, ProviderRequest, ToolUse
from engine.run.coalescing import DeltaSender
from engine.trust import well_formed, well_formed_data

if TYPE_CHECKING:
    from engine.context import RunContext
    from engine.run.shared import Run


@dataclass(frozen=True)
class Streamed:
    """One request's reply, as streamed."""

    text: str
    answer: str
    """The reply tool's input: a structured call's answer."""
    uses: tuple[ToolUse, ...]
    usage: Usage
    stop: str | None


class Billed(Exception):
    """An attempt that ended early, and what it used before it did (a provider bills it)."""

    usage: Usage = Usage()
    cost: float | None = 0.0
    """What `usage` cost; None when the model has no price."""

    def used(self, run: Run, agent: str, model: str, usage: Usage) -> Billed:
        """Count `usage` against the agent and the session; the exception, to raise."""
        self.usage, self.cost = usage, run.account(agent, model, usage)
        return self


class BudgetReached(Billed):
    """A call stopped while it streamed, because a budget was used up."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource)
        self.resource = resource


class AttemptFailed(Billed):
    """An attempt the provider failed (or that timed out): whether to try again, and when."""

    def __init__(self, error_type: ErrorType, message: str, retryable: bool, retry_after: float | None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


def estimated_tokens(characters: int) -> int:
    """Tokens in a text of this length, for budgets while a reply streams (about 4
    characters a token); the provider's own count replaces it when it reports one."""
    return (characters + 3) // 4


async def stream(ctx: RunContext, request: ProviderRequest, agent: str, key: str, attempt: int) -> Streamed:
    """One attempt, streamed. Text from the provider enters well-formed (no lone
    surrogates) and its errors without secrets. Budgets are checked as the reply
    streams, counting what this and every other streaming call has used so far:
    `BudgetReached` stops the call once one is used up, its usage accounted."""
    run = ctx.run
    texts: list[str] = []
    answers: list[str] = []
    uses: list[ToolUse] = []
    usage: Usage | None = None
    stop = None
    sent = estimated_tokens(sum(len(m.text) for m in request.messages) + len(request.system))
    received = 0
    flight = run.streaming[key] = Streaming()
    first: float | None = None  # when the first piece of the reply came, by the session's clock
    shown: float | None = None  # when progress was last sent

    def so_far() -> Usage:
        out = estimated_tokens(received)
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
    guard = run.budget
    limited = guard.limits_calls()
    deltas = DeltaSender(ctx, agent, key, attempt)
    waited = None  # the latest delta the stream waited for room after
    try:
        async with timer:
            async for event in run.provider.stream(request):
                if call_timeout is not None and loop.time() + call_timeout - timer.when() > slack:
                    timer.reschedule(deadline())
                if event.type == "text" or event.type == "tool_input":
                    piece = well_formed(event.text if event.type == "text" else event.partial_json)
                    (texts if event.type == "text" else answers).append(piece)
                    received += len(piece)
                    deltas.add(piece)
                    latest = deltas.last  # sent now, or by the sender's timer
                    if latest is not None and latest is not waited:  # a reader that is behind holds the reply
                        waited = latest
                        await run.bus.wait_for_room()
                        first = latest.ts if first is None else first
                        if latest.ts - (shown or first) >= PROGRESS_EVERY:
                            shown = latest.ts
                            await _progress(ctx, agent, key, attempt, request.model, so_far(), latest.ts - first)
                    if limited:
                        resource = guard.streamed_past(flight, request.model, so_far())
                        if resource is not None:
                            raise BudgetReached(resource)
                elif event.type == "tool_use":
                    uses.append(ToolUse(well_formed(event.id), well_formed(event.name), well_formed_data(event.input)))
                elif event.type == "usage":
                    usage = event.usage
                    if first is None:  # reported as the reply starts (input tokens): show it at once
                        await _progress(ctx, agent, key, attempt, request.model, so_far(), 0.0)
                elif event.type == "stop":
                    stop = event.reason
    except BudgetReached as reached:
        reached.used(run, agent, request.model, so_far())
        raise
    except ProviderError as error:
        failed = AttemptFailed(error.error_type, run.outside_text(error.message), error.retryable, error.retry_after)
        failed.used(run, agent, request.model, error.usage if error.usage.total else usage or Usage())
        raise failed from None
    except asyncio.CancelledError:  # the session ended (cancelled, or stopped by another call) mid-reply
        deltas.flush()  # before the call.failed it publishes at once
        _cut_off(ctx, agent, key, attempt, request.model, so_far() if first is not None or usage else Usage())
        raise
    except TimeoutError:
        if budget_end is not None and timer.when() == budget_end:
            raise BudgetReached("seconds").used(run, agent, request.model, so_far()) from None
        silence = "no reply" if first is None else "the reply stalled: nothing more"
        failed = AttemptFailed("timeout", f"{silence} for {call_timeout:g}s", True, None)
        raise failed.used(run, agent, request.model, usage or Usage()) from None  # what the provider reported
    finally:
        deltas.flush()  # what came is sent before whatever the attempt's end brings
        del run.streaming[key]
    return Streamed("".join(texts), "".join(answers), tuple(uses), usage or Usage(), stop)


def _cut_off(ctx: RunContext, agent: str, key: str, attempt: int, model: str, used: Usage) -> None:
    """An attempt the session's end cut off: what it had used is billed, so it is counted,
    and its end recorded (a `call.failed`, published at once: the task is being cancelled)."""
    cost = ctx.run.account(agent, model, used) if used.total else 0.0
    ctx.publish(
        CallFailed, agent=agent, call_key=key, attempt=attempt, error_type="cancelled",
        error="stopped mid-reply: the session ended", final=True, usage=used, cost=rounded(cost),
    )
    if used.total:
        ctx.run.budget.tell(ctx)  # the budgets' bar counts it too


async def _progress(
    ctx: RunContext, agent: str, key: str, attempt: int, model: str, usage: Usage, streaming_s: float
) -> None:
    """Say how far a call has come: its tokens and cost so far (None: no price), and its pace."""
    rate = round(usage.output_tokens / streaming_s, 1) if streaming_s > 0 else None
    await ctx.emit(
        CallProgress, agent=agent, call_key=key, attempt=attempt, usage=usage,
        cost=rounded(ctx.run.prices.cost(model, usage)), tokens_per_s=rate,
    )

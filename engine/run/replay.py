"""Replay from the record: a call answered by the reply a recorded session holds for
its call key, instead of by the model (how resume and fork avoid re-running work).

A recorded call is emitted as it was (`call.started`, then `call.finished` marked
`recorded`) and accounted again, so the new session's totals include it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.agents import AgentSpec
from engine.events import CallFinished, CallStarted
from engine.pricing import rounded
from engine.run.replies import Schema, validate

if TYPE_CHECKING:
    from engine.context import RunContext


async def replay(
    ctx: RunContext, spec: AgentSpec, key: str, prompt: str, schema: Schema | None, step_id: str | None
) -> Any:
    """The recorded reply to call `key` (validated, with `schema`), or None when the
    record cannot answer it and the model must be called."""
    recorded: CallFinished = ctx.run.recorded[key]
    if schema is None and recorded.stop_reason == "tool_use":
        return None  # the call stopped between rounds of tool use: make it again
    parsed = None
    if schema is not None:
        parsed, error = validate(schema, recorded.text)
        if error is not None:
            return None
    await ctx.emit(
        CallStarted, agent=spec.name, call_key=key, attempt=1, model=recorded.model,
        prompt=prompt, structured=schema is not None, step_id=step_id, purpose=ctx.purpose,
    )
    cost = ctx.run.account(spec.name, recorded.model, recorded.usage)  # priced as now, as it is counted
    ctx.run.calls += 1
    await ctx.emit(
        CallFinished, agent=spec.name, call_key=key, attempt=1, model=recorded.model,
        text=recorded.text, structured=recorded.structured, usage=recorded.usage,
        cost=rounded(cost), latency_s=0.0, stop_reason=recorded.stop_reason, recorded=True,
    )
    return parsed if schema is not None else recorded.text

"""Replay from the record: a call answered by the reply a recorded session holds for
its call key, instead of by the model (how resume and fork avoid re-running work).

Which reply answers which call is the record's to say (`engine.run.record.Record`). A
replayed call is accounted again (a resume counted it as it started, `Run.resumed`), so
the session's totals and budgets include it, and,
when the record says so (a fork into a new session), emitted as it was (`call.started`,
then `call.finished` marked `recorded`). A call that stopped between rounds of tool use
is made again; the tools it asks for with the input it asked for then are answered from
the record (`recorded_tools`), never run again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine.agents import AgentSpec
from engine.events import CallFinished, CallStarted, EventBase, ToolCall, ToolResult
from engine.pricing import rounded
from engine.run.replies import Schema, validate

if TYPE_CHECKING:
    from engine.context import RunContext


async def replay(
    ctx: RunContext, spec: AgentSpec, key: str, recorded: CallFinished, prompt: str, schema: Schema | None,
    step_id: str | None, request_hash: str,
) -> Any:
    """`recorded`, the record's reply to call `key`, as the call's reply (validated, with
    `schema`); None when it cannot answer the call and the model must be called."""
    if schema is None and recorded.stop_reason == "tool_use":
        return None  # the call stopped between rounds of tool use: make it again
    parsed = None
    if schema is not None:
        parsed, error = validate(schema, recorded.text)
        if error is not None:
            return None
    run = ctx.run
    if run.resumed:  # a resume counted everything its record used as it started
        cost = recorded.cost
    else:
        cost = run.account(spec.name, recorded.model, recorded.usage)  # priced as now, as it is counted
        run.calls += 1
        run.tallies[spec.name].calls += 1
    if run.record.emit:
        await ctx.emit(
            CallStarted, agent=spec.name, call_key=key, attempt=1, model=recorded.model, prompt=prompt,
            structured=schema is not None, step_id=step_id, purpose=ctx.purpose, request_hash=request_hash,
        )
        await ctx.emit(
            CallFinished, agent=spec.name, call_key=key, attempt=1, model=recorded.model,
            text=recorded.text, structured=recorded.structured, usage=recorded.usage,
            cost=rounded(cost), latency_s=0.0, stop_reason=recorded.stop_reason, recorded=True,
        )
    return parsed if schema is not None else recorded.text


ToolKey = tuple[str, str, str]
"""A tool use as the record knows it: its call's key, the tool ("git.status"), its input as JSON."""


def tool_key(call_key: str, tool: str, payload: dict[str, Any]) -> ToolKey:
    return call_key, tool, json.dumps(payload, sort_keys=True, ensure_ascii=False)


def recorded_tools(events: Iterable[EventBase]) -> dict[ToolKey, ToolResult]:
    """What each tool use of a recorded session gave back, by its call, tool and input."""
    asked: dict[str, ToolKey] = {}
    found: dict[ToolKey, ToolResult] = {}
    for event in events:
        if isinstance(event, ToolCall) and event.call_key is not None:
            asked[event.tool_use_id] = tool_key(event.call_key, event.tool, event.input)
        elif isinstance(event, ToolResult) and event.tool_use_id in asked:
            found[asked[event.tool_use_id]] = event
    return found

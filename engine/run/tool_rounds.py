"""Tool rounds: the tools a model asked to use in one reply, each carried out if the
policy (or a person) allows it, its `tool.call` and `tool.result` events keyed by
the call whose round it is. Replay never gets here: recorded calls run no tool.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from engine.agents import AgentSpec
from engine.events import Choice, ToolCall, ToolResult
from engine.providers.base import ToolOutcome, ToolUse, edited_note
from engine.tools import TOOLS, ToolError

if TYPE_CHECKING:
    from engine.context import RunContext


async def use_tools(ctx: RunContext, spec: AgentSpec, key: str, uses: tuple[ToolUse, ...]) -> list[ToolOutcome]:
    """Carry out one round of tool use by `spec`'s agent in call `key`, in order."""
    return [await _use_tool(ctx, spec, key, use) for use in uses]


async def _use_tool(ctx: RunContext, spec: AgentSpec, key: str, use: ToolUse) -> ToolOutcome:
    """Carry out one tool use, if the policy (or a person) allows it; what it gave back.

    The `tool.call` event holds the input actually used (a person may have edited it).
    """
    agent = spec.name
    payload, refusal = await _allowed_input(ctx, spec, use)
    await ctx.emit(ToolCall, agent=agent, call_key=key, tool_use_id=use.id, tool=use.name, input=payload)
    output, is_error = refusal or "", True
    if refusal is None:
        try:
            output = await asyncio.to_thread(TOOLS[use.name].execute, payload, ctx.run.tool_root)
            is_error = False
        except ToolError as error:
            output = str(error)
    await ctx.emit(
        ToolResult, agent=agent, call_key=key, tool_use_id=use.id, tool=use.name, output=output, is_error=is_error,
    )
    if payload != use.input and refusal is None:  # the model should know what it is reading
        output = edited_note(payload) + output
    return ToolOutcome(use.id, output, is_error)


async def _allowed_input(ctx: RunContext, spec: AgentSpec, use: ToolUse) -> tuple[dict[str, Any], str | None]:
    """The input to run the tool with and None, or the model's input and why it will not run."""
    agent = spec.name
    tool = TOOLS.get(use.name) if use.name in spec.tools else None
    if tool is None:
        return use.input, f"{agent} has no tool called {use.name!r}"
    try:
        payload = tool.validate(use.input)
    except ValueError as error:
        return use.input, f"bad input for {use.name}: {error}"
    decision = await ctx.escalate(
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

"""Tool rounds: the tools a model asked to use in one reply, each carried out if the
policy (or a person) allows it, its `tool.call` and `tool.result` events keyed by
the call whose round it is. A recorded call never gets here; one made again because it
stopped between rounds gets what its tool uses gave back then (`Record.tools`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.agents import AgentSpec
from engine.events import ToolCall, ToolResult
from engine.providers.base import ToolOutcome, ToolUse, edited_note
from engine.run.replay import tool_key
from engine.run.tool_approval import ask_to_use
from engine.toolbox import BoxTool
from engine.tools import ToolError
from engine.trust import AgentOutput, wrap

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
    tool = ctx.run.toolbox.find(use.name, spec.tools)
    name = tool.name if tool is not None else use.name  # "git.status", offered to the model as "git__status"
    done = ctx.run.record.tools.get(tool_key(key, name, use.input))
    if done is not None:  # the call is made again: what this use gave back then, not run again
        payload, refusal = use.input, None
        await ctx.emit(ToolCall, agent=agent, call_key=key, tool_use_id=use.id, tool=name, input=payload)
        output, is_error = done.output, done.is_error
    else:
        payload, refusal = await _allowed_input(ctx, spec, use, tool)
        await ctx.emit(ToolCall, agent=agent, call_key=key, tool_use_id=use.id, tool=name, input=payload)
        output, is_error = await _run(tool, payload, refusal)
    await ctx.emit(
        ToolResult, agent=agent, call_key=key, tool_use_id=use.id, tool=name, output=output, is_error=is_error,
        recorded=done is not None,
    )
    if refusal is None and tool is not None and (tool.server is not None or tool.sandbox is not None):
        output = wrap(AgentOutput(source=f"tool {name}", text=output))  # a server's words, code's output: data
    if payload != use.input and refusal is None:  # the model should know what it is reading
        output = edited_note(payload) + output
    return ToolOutcome(use.id, output, is_error)


async def _run(tool: BoxTool | None, payload: dict[str, Any], refusal: str | None) -> tuple[str, bool]:
    """What the tool gave back and whether it failed; the refusal, when it may not run."""
    if refusal is not None or tool is None:
        return refusal or "", True
    try:
        return await tool.call(payload), False
    except ToolError as error:
        return str(error), True


async def _allowed_input(
    ctx: RunContext, spec: AgentSpec, use: ToolUse, tool: BoxTool | None
) -> tuple[dict[str, Any], str | None]:
    """The input to run `tool` with and None, or the model's input and why it will not run."""
    agent = spec.name
    if tool is None:
        return use.input, f"{agent} has no tool called {use.name!r}"
    try:
        payload = tool.validate(use.input)
    except ValueError as error:
        return use.input, f"bad input for {tool.name}: {error}"
    sandbox = None
    if tool.sandbox is not None:  # it runs code: where, for the person deciding; nowhere: it cannot run
        try:
            sandbox = await tool.sandbox()
        except ToolError as error:
            return payload, str(error)
    decision = await ask_to_use(ctx, agent, tool.name, tool, payload, sandbox)
    if decision.action == "reject":
        why = f": {decision.reason}" if decision.reason else ""
        return payload, f"this use of {tool.name} was refused{why}"
    return (decision.edited if decision.action == "edit" else payload), None

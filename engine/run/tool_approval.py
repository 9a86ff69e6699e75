"""Asking whether a tool use may run: the `tool_use` escalation, its choices, and the
check of an edited input against the tool's own input schema.

Any tool (a built-in one, an MCP server's) is asked about the same way: it needs a
`description` and a `validate` against its own input schema; its name says its
server ("git.status").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from engine.events import Choice, SandboxShown, ToolAsked

if TYPE_CHECKING:
    from engine.approvals import Decision
    from engine.context import RunContext


class AskableTool(Protocol):
    """What asking about a tool needs of it."""

    @property
    def description(self) -> str: ...

    def validate(self, payload: Any) -> dict[str, Any]:
        """`payload` checked against the tool's input schema; ValueError says what is wrong."""
        ...


def schema_check(tool: AskableTool) -> Callable[[Any], dict[str, Any]]:
    """A check of an edited input: a JSON object that `tool`'s own schema accepts; the
    input, or ValueError saying what is wrong."""

    def check(payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ValueError(f"the input must be a JSON object, not {type(payload).__name__}")
        return tool.validate(payload)

    return check


async def ask_to_use(
    ctx: RunContext, agent: str, name: str, tool: AskableTool, payload: dict[str, Any], sandbox: SandboxShown | None = None,
) -> Decision:
    """Ask whether `agent` may use tool `name` with `payload` (by tool rule, or a person):
    run it, run it with an edited input (checked against its schema), or refuse it. A tool
    that runs code says `sandbox`, where it would run."""
    return await ctx.escalate(
        "tool_use",
        f"{agent} wants to use {name}",  # the input is the payload, shown whole wherever it is asked
        payload, agent=agent, validate=schema_check(tool),
        tool=ToolAsked(name=name, description=tool.description, sandbox=sandbox),
        choices=(
            Choice(id="run", label=f"Run {name}", action="approve"),
            Choice(id="edit", label="Edit the input", action="edit", input="json", prompt=f"the input of {name}"),
            Choice(id="refuse", label="Refuse", action="reject", input="reason", prompt="Why? The agent gets this back."),
        ),
    )

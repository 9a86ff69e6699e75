"""A session's toolbox: built-in tools (`engine.tools`) and MCP servers' tools behind one
interface, so a round of tool use runs either the same way.

A tool in the box has the name agents, events and approval rules use ("read_file",
"git.status"), the name a model is offered ("read_file", "git__status"), a
description, an input schema, its server (None for a built-in one), and an async
call that returns text or raises ToolError. An agent's `tools` selectors choose
from the box (`engine.mcp.names.selects`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.handoffs import check_json_schema
from engine.mcp.names import full_name, selects, wire_name
from engine.events import SandboxShown
from engine.providers.base import ToolSpec
from engine.tools import CODE_TOOLS, TOOLS

if TYPE_CHECKING:
    from engine.sandbox.runner import CodeRunner


@dataclass(frozen=True)
class BoxTool:
    """One tool a session can run."""

    name: str
    """As agents, events and rules name it: "read_file", "git.status"."""
    wire: str
    """As a model is offered it: "read_file", "git__status"."""
    description: str
    input_schema: dict[str, Any]
    server: str | None
    """The MCP server it belongs to; None for a built-in tool."""
    call: Callable[[dict[str, Any]], Awaitable[str]]
    """Run it on a validated input: its output, or ToolError."""
    sandbox: Callable[[], Awaitable[SandboxShown]] | None = None
    """For a tool that runs code: the sandbox it would run in, as the person deciding sees
    it (ToolError when code cannot run here). Such a tool is chosen only by its exact name."""

    def chosen_by(self, selector: str) -> bool:
        """Whether an agent's tool `selector` gives it this tool: a glob never gives one that runs code."""
        return selector == self.name if self.sandbox is not None else selects(selector, self.name)

    def validate(self, payload: Any) -> dict[str, Any]:
        """The input, checked against the tool's schema; ValueError says what is wrong.
        A schema a server got wrong is not held against the input: the server checks it."""
        try:
            check_json_schema(self.input_schema, payload)
        except ValueError:
            raise
        except Exception:  # noqa: BLE001 - an invalid schema (jsonschema.SchemaError) from a server
            if self.server is None:
                raise
        return payload

    @property
    def spec(self) -> ToolSpec:
        """The tool as offered to a model."""
        return ToolSpec(self.wire, self.description, self.input_schema)


class Toolbox:
    """The tools of one session, by name and by the name models use."""

    def __init__(self, tools: Iterable[BoxTool]) -> None:
        self.tools: dict[str, BoxTool] = {}
        self._by_wire: dict[str, BoxTool] = {}
        for tool in tools:
            wire = tool.wire
            while wire in self._by_wire:  # two names made the same by wire_name's cleaning
                wire = f"{wire[:60]}_{len(self._by_wire)}"
            tool = tool if wire == tool.wire else BoxTool(**{**tool.__dict__, "wire": wire})
            self.tools[tool.name] = tool
            self._by_wire[wire] = tool

    @classmethod
    def built_in(
        cls, root: Callable[[], Path], secrets: Callable[[], Sequence[str]], code: CodeRunner | None = None,
    ) -> Toolbox:
        """The built-in tools, run in a thread on the folder `root()` gives, redacting `secrets()`;
        with `code`, the tools that run code with it."""
        return cls(built_in_tools(root, secrets, code))

    def chosen(self, selectors: Iterable[str]) -> list[BoxTool]:
        """The tools `selectors` choose: selector by selector, as written, each once."""
        found: dict[str, BoxTool] = {}
        for selector in selectors:
            found.update((tool.name, tool) for tool in self.tools.values() if tool.chosen_by(selector))
        return list(found.values())

    def find(self, name: str, selectors: Iterable[str]) -> BoxTool | None:
        """The tool a model asked for by `name` (its wire name, or its own), if `selectors`
        give it to the agent; None otherwise."""
        tool = self._by_wire.get(name) or self.tools.get(name)
        if tool is None or not any(tool.chosen_by(s) for s in selectors):
            return None
        return tool

    def unmatched(self, selectors: Iterable[str]) -> list[str]:
        """The selectors that choose no tool in the box."""
        return [s for s in selectors if not any(tool.chosen_by(s) for tool in self.tools.values())]


def built_in_tools(
    root: Callable[[], Path], secrets: Callable[[], Sequence[str]], code: CodeRunner | None = None,
) -> list[BoxTool]:
    """`engine.tools.TOOLS` as box tools, and with `code`, `engine.tools.CODE_TOOLS` run by it."""

    def runner(name: str) -> Callable[[dict[str, Any]], Awaitable[str]]:
        async def call(payload: dict[str, Any]) -> str:
            return await asyncio.to_thread(TOOLS[name].execute, payload, root(), secrets())

        return call

    def code_runner(name: str) -> Callable[[dict[str, Any]], Awaitable[str]]:
        async def call(payload: dict[str, Any]) -> str:
            assert code is not None
            return await code.run(name, payload)

        return call

    tools = [
        BoxTool(tool.name, tool.name, tool.description, tool.input_schema, None, runner(tool.name))
        for tool in TOOLS.values()
    ]
    if code is not None:
        tools += [
            BoxTool(tool.name, tool.name, tool.description, tool.input_schema, None, code_runner(tool.name), code.shown)
            for tool in CODE_TOOLS.values()
        ]
    return tools


def mcp_tools(hub: Any) -> list[BoxTool]:
    """The tools of a started `engine.mcp.hub.McpHub`, each calling its server through the hub."""

    def runner(server: str, tool: str) -> Callable[[dict[str, Any]], Awaitable[str]]:
        async def call(payload: dict[str, Any]) -> str:
            return await hub.call(server, tool, payload)

        return call

    return [
        BoxTool(full_name(server, tool.name), wire_name(server, tool.name), tool.description,
                tool.input_schema, server, runner(server, tool.name))
        for server, tool in hub.tools()
    ]

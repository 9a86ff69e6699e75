"""`McpHub`: the MCP servers of one session, started together and stopped together.

`start` starts every server concurrently (each within its own startup timeout)
and reports each one, started with its tools or failed with why, through the
`report` callback the session gives it (which turns it into a timeline line).
A server that fails to start is left out: its tools are not offered, and the
session goes on. A tool call goes to its server within the server's call
timeout; a failure is a ToolError the agent gets back as the tool's result, and
a server found gone mid-session is reported once. `stop` closes them all
(processes included), whether the session finished, failed or was cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from engine.mcp.connection import ListedTool, ServerConnection, ServerStartError
from engine.mcp.spec import McpServer
from engine.tools import ToolError

Status = Literal["started", "failed", "lost"]
Report = Callable[[str, Status, tuple[str, ...], str], Awaitable[None]]
"""`report(server, status, tool names ("git.status"), message)`."""


async def _ignore(server: str, status: Status, tools: tuple[str, ...], message: str) -> None:
    """The report of a hub nobody listens to."""


class McpHub:
    """The session's MCP servers: what they offer, and the way to call it."""

    def __init__(
        self, servers: Iterable[McpServer], *, environment: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (), report: Report = _ignore,
    ) -> None:
        self.servers = tuple(servers)
        self.environment = environment or {}
        """Where the servers' "env:NAME" values are read from (the front end's environment)."""
        self.secrets: tuple[str, ...] = tuple(secrets) + tuple(
            s for server in self.servers for s in server.secrets(self.environment)
        )
        """Keys the session holds and values the servers are given: redacted from every result."""
        self.report = report
        self.connections: dict[str, ServerConnection] = {}
        """The servers that started, by name."""
        self.calls = 0
        """Tool calls sent to a server (replay must leave this at 0)."""
        self._reported_lost: set[str] = set()

    async def start(self) -> None:
        """Start every server at once; report each as started (with its tools) or failed."""
        connections = [ServerConnection(server, self.secrets, self.environment) for server in self.servers]
        outcomes = await asyncio.gather(*(c.start() for c in connections), return_exceptions=True)
        for connection, outcome in zip(connections, outcomes, strict=True):
            if isinstance(outcome, ServerStartError):
                await self.report(connection.name, "failed", (), str(outcome))
            elif isinstance(outcome, BaseException):  # cancelled, or a bug: none is left running
                self.connections = {}
                await asyncio.gather(*(c.stop() for c in connections))
                raise outcome
            else:
                self.connections[connection.name] = connection
                names = tuple(f"{connection.name}.{tool.name}" for tool in connection.tools)
                await self.report(connection.name, "started", names, "")

    def tools(self) -> list[tuple[str, ListedTool]]:
        """Every tool of every server that started: (server, tool), in the order declared."""
        return [(name, tool) for name, connection in self.connections.items() for tool in connection.tools]

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> str:
        """Call `tool` on `server`: its result (cleaned, redacted, capped), or ToolError."""
        connection = self.connections.get(server)
        if connection is None:
            raise ToolError(f"{server}.{tool} cannot run: the {server} server is not running")
        self.calls += 1
        try:
            return await connection.call(tool, arguments)
        finally:
            if connection.lost is not None and server not in self._reported_lost:
                self._reported_lost.add(server)
                await self.report(server, "lost", (), connection.lost)

    async def stop(self) -> None:
        """Stop every server (bounded; safe to call more than once)."""
        connections = list(self.connections.values())
        self.connections = {}
        if connections:
            await asyncio.gather(*(c.stop() for c in connections))

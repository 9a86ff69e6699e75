"""What a team's MCP servers offer, for a listing (`huddle teams show`, the launch screen's
team view): each server started, its tools read, and stopped again."""

from __future__ import annotations

import os
from collections.abc import Iterable

from engine.formats import plural
from engine.mcp.hub import McpHub, Status
from engine.mcp.spec import McpServer


async def offered(servers: Iterable[McpServer]) -> dict[str, str]:
    """Each server's line: "3 tools: git.status, git.log, git.diff", or why it did not start."""
    lines: dict[str, str] = {}

    async def report(server: str, status: Status, tools: tuple[str, ...], message: str) -> None:
        lines[server] = f"{plural(len(tools), 'tool')}: {', '.join(tools)}" if status == "started" else f"did not start: {message}"

    hub = McpHub(servers, environment=dict(os.environ), report=report)
    try:
        await hub.start()
    finally:
        await hub.stop()
    return lines

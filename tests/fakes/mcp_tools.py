"""The tools of the test MCP servers (stdio and HTTP alike), written with the official SDK:
a harmless one (echo, add), one that fails, a slow one, a big one, and, over stdio, one
that makes the server exit mid-session."""

from __future__ import annotations

import os

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

BIG = 100_000
"""Characters the `big` tool returns: more than a result may hold."""


def build(name: str = "fake", *, can_exit: bool = False) -> MCPServer:
    """A server with the test tools; `can_exit` adds `exit`, which ends the process."""
    server = MCPServer(name, log_level="CRITICAL")

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    @server.tool()
    def fail(why: str = "no reason") -> str:
        """Always fails, saying why."""
        raise ToolError(f"it broke: {why}")

    @server.tool()
    async def slow(seconds: float = 30.0) -> str:
        """Waits, then answers."""
        await anyio.sleep(seconds)
        return "finally"

    @server.tool()
    def big() -> str:
        """A very long result."""
        return "x" * BIG

    @server.tool()
    def whisper() -> str:
        """Says the secret in its environment (a result that must be redacted)."""
        return f"the secret is {os.environ.get('FAKE_SECRET', 'unset')}"

    if can_exit:

        @server.tool()
        def exit() -> str:  # noqa: A001 - the tool's name
            """Ends the server's process at once."""
            os._exit(3)

    return server

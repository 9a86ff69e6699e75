"""`ServerConnection`: one MCP server, held open for one session through the official SDK.

The SDK's client is an anyio context manager: it must be entered and left by
the same task. So each server gets a task of its own that opens the client,
lists the tools, reports ready, and holds the connection until it is told to
stop; tool calls from any of the session's tasks go through the open client.
A stdio server's process is stopped by the SDK when that task leaves the client
(stdin closed, then terminated, then killed: every wait bounded), also when the
session is cancelled. What a server writes to stderr is kept in a temporary
file, so a server that fails to start can say why.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.formats import one_line
from engine.guards import leaves
from engine.mcp.results import cleaned, content_text
from engine.mcp.spec import McpServer, McpServerError
from engine.tools import ToolError

STOP_WAIT = 10.0
"""Seconds a server's task has to close the connection (the SDK's own waits are shorter)."""
HTTP_TIMEOUT = 30.0
"""Seconds to connect to, or send to, an HTTP server."""
STDERR_TAIL = 300
"""Characters of a failed server's stderr its error line quotes."""


class ServerStartError(Exception):
    """A server that did not start; the message is one line saying why."""


@dataclass(frozen=True)
class ListedTool:
    """A tool as its server lists it (its own name, not "server.tool")."""

    name: str
    description: str
    input_schema: dict[str, Any]


class ServerConnection:
    """One server for one session: start it, call its tools, stop it."""

    def __init__(
        self, server: McpServer, secrets: tuple[str, ...] = (), environment: Mapping[str, str] | None = None
    ) -> None:
        self.server = server
        self.environment = environment or {}
        """Where "env:NAME" values are read from."""
        self.secrets = secrets
        self.tools: list[ListedTool] = []
        self.lost: str | None = None
        """Why the server stopped answering mid-session; None while it answers."""
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stop = asyncio.Event()
        self._stopping = False
        self._errlog: Any = None

    @property
    def name(self) -> str:
        return self.server.name

    async def start(self) -> None:
        """Start the server and list its tools, within its startup timeout; ServerStartError
        (one line, naming the server) when it cannot."""
        self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(), name=f"mcp-server:{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), self.server.startup_timeout)
        except TimeoutError:
            said = self._stderr_tail()
            self._ready.cancel()
            await self.stop()
            raise ServerStartError(f"no answer within {self.server.startup_timeout:g} s{said}") from None
        except BaseException:
            await self.stop()
            raise

    async def _hold(self) -> None:
        """The server's task: open the client, list the tools, then hold it until `stop`."""
        assert self._ready is not None
        try:
            from mcp import Client
            from mcp_types import Implementation

            transport, http = self._transport()
            client = Client(transport, client_info=Implementation(name="huddle", version="1"))
            if http is not None:
                async with http, client:
                    await self._serve(client)
            else:
                async with client:
                    await self._serve(client)
        except McpServerError as error:
            self._failed(str(error))
        except Exception as error:  # noqa: BLE001 - whatever the SDK or transport raised becomes one line
            self._failed(self._why(error))
        finally:
            self._client = None
            if not self._stopping and self._ready.done() and self.lost is None:
                self.lost = "its connection closed"

    async def _serve(self, client: Any) -> None:
        tools: list[ListedTool] = []
        cursor = None
        for _ in range(100):  # pages: a server that never stops paging cannot hang the start
            page = await client.list_tools(cursor=cursor)
            tools += [ListedTool(t.name, t.description or "", dict(t.input_schema)) for t in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        self.tools = tools
        self._client = client
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)
        await self._stop.wait()

    def _transport(self) -> tuple[Any, Any]:
        """The SDK transport for this server, and the HTTP client it uses (None for stdio)."""
        server = self.server
        if server.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=server.command[0], args=list(server.command[1:]), env=server.resolved_env(self.environment) or None,
                cwd=server.cwd, encoding_error_handler="replace",
            )
            self._errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
            return stdio_client(params, errlog=self._errlog), None
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers=server.resolved_headers(self.environment), timeout=httpx2.Timeout(HTTP_TIMEOUT, read=300.0))
        return streamable_http_client(str(server.url), http_client=http), http

    def _failed(self, message: str) -> None:
        assert self._ready is not None
        if not self._ready.done():
            self._ready.set_exception(ServerStartError(message))
        elif not self._stopping and self.lost is None:
            self.lost = message

    def _why(self, error: BaseException) -> str:
        """One line saying why the server could not start."""
        first = leaves(error)[0]
        if isinstance(first, FileNotFoundError) and self.server.command is not None:
            return f"cannot run {self.server.command[0]!r}: no such program"
        if isinstance(first, PermissionError) and self.server.command is not None:
            return f"cannot run {self.server.command[0]!r}: permission denied"
        text = self._clean(one_line(first) or type(first).__name__)
        if "Connection closed" in text and self.server.command is not None:
            text = "it exited before it answered"
        where = f" (at {self.server.url})" if self.server.url else ""
        return f"{text}{where}{self._stderr_tail()}"

    def _stderr_tail(self) -> str:
        """The last line the server wrote to stderr, as "(it said: ...)", or ""."""
        if self._errlog is None:
            return ""
        try:
            self._errlog.flush()
            self._errlog.seek(0)
            lines = [line.strip() for line in self._errlog.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        return f" (it said: {self._clean(lines[-1])[:STDERR_TAIL]})" if lines else ""

    def _clean(self, text: str) -> str:
        """Untrusted text from the server or its transport, on one line, redacted."""
        return cleaned(" ".join(text.split()), self.secrets, limit=500)

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """Call one of the server's tools; its result as text, or ToolError (one line).
        Sets `lost` when the server is found gone."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        full = f"{self.name}.{tool}"
        client = self._client
        if self.lost is not None or client is None:
            raise ToolError(f"{full} cannot run: the {self.name} server stopped ({self.lost or 'not running'})")
        limit = self.server.call_timeout
        try:
            result = await asyncio.wait_for(client.call_tool(tool, arguments, read_timeout_seconds=limit), limit + 5)
        except MCPError as error:
            if error.code == REQUEST_TIMEOUT:
                raise ToolError(f"{full} took longer than {limit:g} s and was stopped") from None
            if error.code == CONNECTION_CLOSED:
                self.lost = f"its connection closed during {full}{self._stderr_tail()}"
                raise ToolError(f"{full} failed: the {self.name} server stopped answering") from None
            raise ToolError(f"{full} failed: {self._clean(error.message)}") from None
        except TimeoutError:
            raise ToolError(f"{full} took longer than {limit:g} s and was stopped") from None
        except Exception as error:  # noqa: BLE001 - a transport failure: the server is gone
            self.lost = self._clean(one_line(error) or type(error).__name__)
            raise ToolError(f"{full} failed: the {self.name} server stopped answering") from None
        text = cleaned(content_text(result.content, result.structured_content), self.secrets)
        if result.is_error:
            raise ToolError(f"{full} failed: {text or 'the server gave no reason'}")
        return text

    async def stop(self) -> None:
        """Close the connection (a stdio server's process ends with it); bounded, idempotent."""
        self._stopping = True
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            done, _ = await asyncio.wait({task}, timeout=STOP_WAIT)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_WAIT)
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

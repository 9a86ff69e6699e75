"""A streamable-HTTP MCP server for the tests, on 127.0.0.1 at a free port, in the test's
own event loop. With `token`, every request must carry `Authorization: Bearer TOKEN`
(else 401): how a test sees that headers read from the environment were sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.fakes.mcp_tools import build


class _RequireToken:
    """ASGI middleware: 401 unless the request carries the bearer token."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != f"Bearer {self.token}".encode():
                await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"no token"})
                return
        await self.app(scope, receive, send)


@asynccontextmanager
async def http_server(token: str | None = None) -> AsyncIterator[str]:
    """Serve the test tools; yields the endpoint's URL. The socket listens before the
    server task starts, so a client may connect at once."""
    app: Any = build("fake-http").streamable_http_app()
    if token is not None:
        app = _RequireToken(app, token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()

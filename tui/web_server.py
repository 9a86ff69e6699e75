"""The web server of `huddle serve`: textual-serve's, behind a token.

textual-serve runs the app as a subprocess per browser tab (Textual's web driver over a
pipe) and streams it to xterm.js over a websocket. It guards nothing: anyone who can
reach the port can open the app, and with it run agents on the user's keys and read
every recorded session. Here its routes live under a random token (`/TOKEN/`, the
static files and the websocket too), so only someone given the printed address gets
in; every other request is refused with 403 before any handler runs. The token is made
here and kept in this process: it is on no command line and in no environment.

The page's links are made from the address the browser used (its Host), so the same
server works by name or by address when it listens on every interface (`--host 0.0.0.0`).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from textual_serve.server import Server

from engine.formats import one_line

log = logging.getLogger(__name__)

QUIT_WAIT_S = 15.0
"""How long stopping waits for the tabs' huddles to quit (and record how their sessions ended)."""
TOKEN_BYTES = 18
"""Random bytes in a token: 144 bits, 24 characters of URL-safe base64."""
REFUSED = "403: this huddle opens only at the address 'huddle serve' printed, with its token.\n"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    """A token for the address: random, URL-safe, unguessable."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_guard(token: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware that lets through only requests under `/TOKEN/` (compared in
    constant time) and answers every other one 403."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        first = request.path.lstrip("/").split("/", 1)[0]
        if not hmac.compare_digest(first.encode(), token.encode()):
            return web.Response(status=403, text=REFUSED)
        if request.path == f"/{token}":  # the address copied without its last slash
            raise web.HTTPPermanentRedirect(f"/{token}/")
        return await handler(request)

    return guard


HEADERS = {
    # The token is in every address: no page is told it as a referrer.
    "Referrer-Policy": "no-referrer",
    # The page may load and connect to this server only: textual-serve's page asks a font
    # stylesheet of another site, which the browser is told not to fetch (a local font is used).
    "Content-Security-Policy": "; ".join([
        "default-src 'none'", "script-src 'self' 'unsafe-inline'", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "font-src 'self'", "connect-src 'self'",
        "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
    ]),
    "X-Content-Type-Options": "nosniff",
}
"""Headers on every response, refusals, static files and the websocket's handshake included."""


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`HEADERS` on a response about to be sent (aiohttp's `on_response_prepare`)."""
    response.headers.update(HEADERS)


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only: `localhost` or a loopback address."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve to any interface
        return False


def exposure_warning(host: str) -> str | None:
    """The warning line for serving on `host`, or None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"huddle serve: warning: listening on {host}, not loopback: anyone who can reach this machine "
        "and has the address can drive huddle (and spend your keys), and the traffic is not encrypted"
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` (0: any free port), IPv4 or IPv6 as the host is.
    OSError when it cannot be had (the port taken, an unknown host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if family == socket.AF_INET and host and not _is_ipv4(host):
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family = infos[0][0]
    return socket.create_server((host, port), family=family, reuse_port=False)


def _is_ipv4(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        return False


def url_host(host: str) -> str:
    """`host` as it is written in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


class HuddleServer(Server):
    """textual-serve's server for one command, its routes under `/TOKEN/` (`token_guard`),
    printing nothing of its own (its records go to huddle's log, which the serve command
    configures)."""

    def __init__(self, command: str, *, token: str, title: str) -> None:
        super().__init__(command, title=title)
        self.token = token
        self._tabs: dict[asyncio.Task[Any], asyncio.Event] = {}
        """Each open tab's connection (the task serving it) and the event set once it is closed."""

    async def on_startup(self, app: web.Application) -> None:
        """Nothing printed: the serve command prints the address, once."""

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """A tab's connection, which runs its huddle; kept in `_tabs` while it is open."""
        task, closed = asyncio.current_task(), asyncio.Event()
        assert task is not None
        self._tabs[task] = closed
        try:
            return await super().handle_websocket(request)
        finally:
            del self._tabs[task]
            closed.set()

    async def on_shutdown(self, app: web.Application) -> None:
        """Stopping: every open tab is closed at once, its huddle told to quit (as closing the
        tab would), and waited for, up to `QUIT_WAIT_S`, so each records how its session ended."""
        tabs = list(self._tabs.items())
        for task, _ in tabs:
            task.cancel()  # textual-serve closes the websocket and stops the app on cancellation
        if tabs:
            waits = asyncio.gather(*(closed.wait() for _, closed in tabs))
            try:
                await asyncio.wait_for(waits, timeout=QUIT_WAIT_S)
            except TimeoutError:
                log.warning("%d tab(s) still closing after %.0f s; stopped anyway", len(self._tabs), QUIT_WAIT_S)

    async def _make_app(self) -> web.Application:
        """The app under `/TOKEN/`, inside one that refuses everything else."""
        served = await super()._make_app()
        root = web.Application(middlewares=[token_guard(self.token)])
        root.on_response_prepare.append(add_headers)
        root.add_subapp(f"/{self.token}", served)
        return root

    async def handle_index(self, request: web.Request) -> Any:
        """The page, its links (static files, the websocket) made from the address the
        browser used. Set here, read by the parent's handler before its first await."""
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""What stops the server cleanly: Ctrl+C, a kill, its terminal closed."""


async def serve(server: HuddleServer, sock: socket.socket, ready: Callable[[], None]) -> None:
    """Serve on `sock` until one of `STOP_SIGNALS`; `ready` is called once it accepts
    connections. Open tabs are closed (their apps told to quit) on the way out."""
    runner = web.AppRunner(await server._make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        ready()
        await stop.wait()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await runner.cleanup()


class OneLine(logging.Formatter):
    """A record as one line on the terminal, without its traceback (that goes to the log)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"huddle serve: {one_line(record.getMessage())}"

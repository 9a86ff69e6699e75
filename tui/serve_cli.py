"""`huddle serve [SCREEN]`: the app in a web browser, through textual-serve (`tui.web_server`).

Each browser tab runs its own `huddle` at SCREEN (the launch screen, the sessions browser
or the inbox; every other screen is reached from there), on the database and config this
command was given. It listens on loopback unless `--host` says otherwise, and opens only
at the address it prints, whose path holds a random token.

The parser is built at import with nothing heavy loaded; the command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from tui.arguments import number
from tui.exits import EXIT_FAILED, EXIT_OK
from tui.safe import report

SCREENS = {"launch": [], "sessions": ["sessions"], "inbox": ["inbox"]}
"""The screens a tab can open at, and the `huddle` arguments that open each."""
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
"""The driver textual-serve names in `TEXTUAL_DRIVER` for the app it runs in a tab."""
TAB_DRIVER = "tui.tab_driver:TabDriver"
"""The one huddle's tabs use instead (`tui.serve_tab`): the web driver, ending with the server."""
EVERY_INTERFACE = ("", "0.0.0.0", "::")


def in_a_browser() -> bool:
    """Whether this process draws into a browser tab (textual-serve started it with
    Textual's web driver), where standard input and output are pipes, not a terminal."""
    return os.environ.get("TEXTUAL_DRIVER") in (WEB_DRIVER, TAB_DRIVER)


def has_a_screen() -> bool:
    """Whether the app can be shown here: on a terminal, or in a browser tab."""
    return (sys.stdout.isatty() and sys.stdin.isatty()) or in_a_browser()


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0: any free one)."""
    port = int(number(int, "any")(text))
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535)")
    return port


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], db_option: argparse.ArgumentParser) -> None:
    """Add `serve`: `db_option` is the parent parser holding `--db`."""
    serve = commands.add_parser(
        "serve", parents=[db_option], help="open huddle in a web browser",
        description="Serve the app to a web browser: each tab runs its own huddle on this database and config. "
        "Prints the address to open, once; it holds a token, and requests without it are refused. "
        "Listens on loopback unless --host says otherwise. Ctrl+C stops it.",
    )
    serve.add_argument(
        "screen", nargs="?", choices=list(SCREENS), default="launch",
        help="the screen a tab opens at (default: launch; every other screen is reached from it)",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}, this machine only; 0.0.0.0 for every "
        "interface, with a warning: anyone who can reach it and has the address can drive huddle)",
    )
    serve.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT,
        help=f"the port to listen on (default {DEFAULT_PORT}; 0 for any free one)",
    )


def run(args: argparse.Namespace) -> int:
    """Run `huddle serve` until Ctrl+C (or SIGTERM); the exit status. A database that cannot
    be opened, a port taken or an unknown host is one line (status 1)."""
    import asyncio
    import errno
    import shlex
    import socket

    from tui import logs
    from tui.userfiles import database

    logs.configure()
    target = database(args.db)
    asyncio.run(_check(target))  # a database that cannot be opened is said here, not in each tab
    # The tabs' huddles: this database (a PostgreSQL address may hold a password, so in the
    # environment, not on a command line) and this log folder (chosen before HUDDLE_DB moves it).
    os.environ["HUDDLE_LOG_DIR"] = str(logs.log_dir())
    os.environ["HUDDLE_DB"] = str(target)
    # exec: no shell stays between the server and the tab's huddle. -P: the folder serve was
    # started in is not searched for modules.
    command = "exec " + shlex.join([sys.executable, "-P", "-m", "tui.serve_tab", *SCREENS[args.screen]])

    from tui.web_server import HuddleServer, exposure_warning, listening_socket, new_token, serve, url_host

    try:
        sock = listening_socket(args.host, args.port)
    except OSError as error:
        hint = " (--port another, or 0 for any free one)" if error.errno == errno.EADDRINUSE else ""
        report(f"huddle serve: cannot listen on {url_host(args.host)}:{args.port}: {error.strerror or error}{hint}")
        return EXIT_FAILED
    if warning := exposure_warning(args.host):
        report(warning)
    port = sock.getsockname()[1]
    host = socket.gethostname() if args.host in EVERY_INTERFACE else args.host
    token = new_token()
    title = "huddle" if args.screen == "launch" else f"huddle {args.screen}"
    server = HuddleServer(command, token=token, title=title)
    _show_server_warnings()
    url = f"http://{url_host(host)}:{port}/{token}/"
    asyncio.run(serve(server, sock, ready=lambda: print(url, flush=True)))
    return EXIT_OK


async def _check(target: object) -> None:
    """Open the database once (made if missing, as the app would): StoreError if it cannot be."""
    from sessions.opening import open_store

    async with await open_store(target):  # type: ignore[arg-type]
        pass


def _show_server_warnings() -> None:
    """textual-serve's warnings (an app that failed to start, a broken connection) as one
    line each on standard error; their details go to huddle's log."""
    import logging

    from tui.web_server import OneLine

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(OneLine())
    logging.getLogger("textual-serve").addHandler(handler)

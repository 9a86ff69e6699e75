"""`huddle attach ID`: the live screen of a session another process runs, on this machine
or another sharing the store (`tui.screens.attached`): it catches up from the record,
follows new events as they are committed, and answers escalations through the store.
Leaving (q) detaches; the session keeps running.

The parser is built at import with nothing heavy loaded; the command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse

from tui.exits import EXIT_FAILED, EXIT_OK
from tui.safe import report


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], db_option: argparse.ArgumentParser) -> None:
    """Add `attach`: `db_option` is the parent parser holding `--db`."""
    attach = commands.add_parser(
        "attach", parents=[db_option], help="watch and steer a session another huddle runs",
        description="Open the live screen of a running session, whichever huddle runs it on this database: "
        "it catches up from the record, then follows the session as it goes; answer its escalations there. "
        "q detaches and leaves the session running.",
    )
    attach.add_argument("id", metavar="ID", help="session id, or a prefix of it that only one session has")


def run(args: argparse.Namespace) -> int:
    """Run `huddle attach`; the exit status. A session that is not running, an unknown id or
    a database that cannot be read is one line (exit status 1)."""
    import asyncio

    return asyncio.run(_attach(args))


async def _attach(args: argparse.Namespace) -> int:
    from tui.userfiles import database
    from sessions.rows import LIVE_STATES
    from sessions.opening import open_store
    from tui.app import make_app, run_app
    from tui.following import ended_line

    async with await open_store(database(args.db), create=False) as store:
        row = await store.get_session(args.id)  # the store marks it interrupted if its process died
        if row.status not in LIVE_STATES:
            report(
                f"huddle: session {row.id} is not running ({row.status}): 'huddle sessions show {row.id[:8]}' "
                "or Enter in the browser replays it"
            )
            return EXIT_FAILED
        app = make_app(store=store, start=None, attach=row)
        await run_app(app)
        if app.return_code:  # the app itself failed
            return app.return_code
        now = await store.get_session(row.id)
    if now.status in LIVE_STATES:
        print(f"huddle: detached from session {row.id}; it keeps running ('huddle attach {row.id[:8]}' to come back)")
    else:
        print(f"huddle: {ended_line(now)}")
    return EXIT_OK

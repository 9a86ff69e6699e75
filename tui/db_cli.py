"""`huddle db migrate`, `huddle db copy SRC DST` and `huddle db recover`: bring a session
database's schema up to date, copy every session from one database to another
(`sessions.copying`), and write the events huddles that ended left waiting for a database
(`sessions.leftovers`).

The parser is built at import with nothing heavy loaded; the commands import what they
need when they run. A database is shown without its password (the stores' `path`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tui.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tui.safe import report

if TYPE_CHECKING:
    from sessions.pg_store import PgSessionStore
    from sessions.store import SessionStore


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    db_option: argparse.ArgumentParser,
    parser_class: type[argparse.ArgumentParser],
) -> None:
    """Add `db` and its subcommands: `db_option` is the parent parser holding `--db`."""
    db = commands.add_parser(
        "db", help="bring a session database up to date, copy sessions between databases, or write events left waiting",
        description="Work on session databases: a SQLite file, or a postgresql:// address.",
    )
    sub = db.add_subparsers(dest="db_command", metavar="COMMAND", parser_class=parser_class, required=True)
    sub.add_parser(
        "migrate", parents=[db_option], help="bring a database's schema up to date (make it if empty)",
        description="Bring the session database's schema up to date, making huddle's tables in it if it has "
        "none; one written by a newer huddle is refused and left untouched.",
    )
    copy = sub.add_parser(
        "copy", help="copy every session from one database to another",
        description="Copy every session (its row, events, search documents and decisions) from SRC to DST, "
        "each whole: one already in DST is skipped, one there with other content is reported and left as "
        "it is. Running twice copies nothing the second time. Exit status 1 when a session was not copied.",
    )
    copy.add_argument("src", metavar="SRC", help="the database to copy from: a file or a postgresql:// address")
    copy.add_argument("dst", metavar="DST", help="the database to copy into (made if need be)")
    sub.add_parser(
        "recover", parents=[db_option], help="write the events huddles that ended left waiting for a database",
        description="Write the events that waited on this machine for the session database while it was "
        "unreachable, left by huddles that ended before it was back (any huddle starting a session on it "
        "does the same). Events whose place in their session is taken by others are kept in a file, and "
        "said where. Exit status 1 when some were not written.",
    )


def run(args: argparse.Namespace) -> int:
    """Run the `db` subcommand in `args`; the exit status."""
    import asyncio

    if args.db_command == "migrate":
        return asyncio.run(_migrate(args))
    if args.db_command == "recover":
        return asyncio.run(_recover(args))
    return asyncio.run(_copy(args))


def _schema_version(store: SessionStore | PgSessionStore) -> int:
    from sessions.migrations import SCHEMA_VERSION
    from sessions.pg_store import PgSessionStore

    if isinstance(store, PgSessionStore):
        from sessions.pg_schema import SCHEMA_VERSION as PG_SCHEMA_VERSION

        return PG_SCHEMA_VERSION
    return SCHEMA_VERSION


async def _migrate(args: argparse.Namespace) -> int:
    from sessions.opening import open_store
    from tui.userfiles import database

    async with await open_store(database(args.db), create=True) as store:
        found, now = store.schema_found, _schema_version(store)
    if found == now:
        print(f"huddle: {store.path}: already at schema {now}")
    elif found == 0:
        print(f"huddle: {store.path}: made, schema {now}")
    else:
        print(f"huddle: {store.path}: schema {found} → {now}")
    return EXIT_OK


async def _copy(args: argparse.Namespace) -> int:
    from sessions.copying import copy_sessions
    from sessions.opening import open_store
    from sessions.paths import db_path

    src_path, dst_path = db_path(args.src), db_path(args.dst)
    async with await open_store(src_path, create=False) as src:
        if str(src_path) == str(dst_path):
            report(f"huddle: {src.path} is both SRC and DST; name two databases")
            return EXIT_USAGE
        async with await open_store(dst_path, create=True) as dst:
            done = await copy_sessions(src, dst, say=report)
    print(f"huddle: {done.summary()}")
    return EXIT_FAILED if done.differ or done.damaged else EXIT_OK


async def _recover(args: argparse.Namespace) -> int:
    from sessions.leftovers import write_leftovers
    from sessions.opening import open_store
    from tui.userfiles import database

    async with await open_store(database(args.db), create=False) as store:
        found = await write_leftovers(store)
    if not found:
        print(f"huddle: nothing left to write to {store.path}")
    for one in found:
        if one.outcome == "written":
            print(one.line)
        else:
            report(one.line)
    return EXIT_OK if all(one.outcome == "written" for one in found) else EXIT_FAILED

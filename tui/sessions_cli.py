"""`huddle sessions list|show|export|files|delete`: the recorded sessions, from the command line.

The parser is built at import with nothing heavy loaded (so `huddle --help`
stays fast); each command imports the store when it runs. `list` on a SQLite file
reads it without one when it can (`sessions.listing.quick_listing`: no asyncio, no
pydantic), and prints what it read the same way. A database problem leaves as a
`StoreError`, which `huddle` prints as one line (exit status 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sessions.rows import SESSION_STATES
from tui.exits import EXIT_OK, EXIT_USAGE
from tui.resume_cli import add_content_option
from tui.scratch_cli import add_files_command
from tui.safe import clean, report, safe

if TYPE_CHECKING:
    from sessions.listing import Listing
    from sessions.rows import SessionRow
    from sessions.store import SessionStore

DEFAULT_LIMIT = 20


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    db_option: argparse.ArgumentParser,
    parser_class: type[argparse.ArgumentParser],
    count: Callable[[str], int],
) -> None:
    """Add `sessions` and its subcommands: `db_option` is the parent parser holding
    `--db`, `count` parses a number that must be more than zero."""
    sessions = commands.add_parser(
        "sessions",
        parents=[db_option],
        help="list, search, show, export and delete recorded sessions, and list the files their code left",
        description="The sessions recorded in the session database (without a command: list).",
    )
    sessions.set_defaults(search=None, status=None, pattern=None, limit=DEFAULT_LIMIT, json=False)
    sub = sessions.add_subparsers(dest="sessions_command", metavar="COMMAND", parser_class=parser_class)

    listing = sub.add_parser(
        "list", parents=[db_option], help="list sessions, newest first",
        description="List recorded sessions, newest first.",
    )
    listing.add_argument(
        "--search", metavar="TEXT", help="only sessions whose task, agent replies or result hold every word of TEXT"
    )
    listing.add_argument("--status", choices=SESSION_STATES, help="only sessions with this status")
    listing.add_argument("--pattern", metavar="P", help="only sessions run under this pattern")
    listing.add_argument(
        "--limit", type=count, default=DEFAULT_LIMIT, metavar="N", help=f"at most N sessions (default {DEFAULT_LIMIT})"
    )
    listing.add_argument("--json", action="store_true", help="print the rows as a JSON array")

    show = sub.add_parser(
        "show", parents=[db_option], help="print a session's transcript",
        description="Print a session's transcript, as the headless run printed it.",
    )
    show.add_argument("id", metavar="ID", help="session id, or a prefix of it that only one session has")
    show.add_argument("--seq", action="store_true", help="say each event's seq (#12), the moments 'huddle fork --at' takes")
    show.add_argument(
        "--json", action="store_true",
        help="print the session's row and every event as one JSON document, the JSON export's (docs/events.md)",
    )

    export = sub.add_parser(
        "export", parents=[db_option], help="export a session as Markdown or JSON",
        description="Export a session: Markdown for people, JSON (every event, lossless) for tools.",
    )
    export.add_argument("id", metavar="ID", help="session id, or a unique prefix of it")
    export.add_argument("--format", choices=("md", "json", "otlp"), default="md",
                        help="md (default), json, or otlp: send it as an OpenTelemetry trace to --endpoint")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (readable by you only) instead of standard output")
    export.add_argument("--endpoint", metavar="URL", help="with --format otlp: the OTLP/HTTP receiver (http://host:4318; "
                        "default: $OTEL_EXPORTER_OTLP_ENDPOINT); needs huddle[otel]")
    add_content_option(export)

    add_files_command(sub, db_option)

    delete = sub.add_parser(
        "delete", parents=[db_option], help="delete sessions, their events and their scratch folders",
        description="Delete sessions, with their events and their scratch folders (the files their code wrote). "
                    "A session still running cannot be deleted.",
    )
    delete.add_argument("ids", nargs="+", metavar="ID", help="session ids, or unique prefixes of them")


def run(args: argparse.Namespace) -> int:
    """Run the `sessions` subcommand in `args`; the exit status."""
    handlers: dict[str, Callable[[argparse.Namespace], object]] = {
        "list": _list, "show": _show, "export": _export, "files": _files, "delete": _delete,
    }
    command = args.sessions_command or "list"
    if command == "list":  # read straight from the file when it can be: nothing is written, nor logged
        listed = _list_quickly(args)
        if listed is not None:
            return listed
    import asyncio

    from tui import logs

    logs.configure()
    return asyncio.run(handlers[command](args))  # type: ignore[arg-type]


def _path(args: argparse.Namespace) -> Path | str:
    from tui.userfiles import database

    return database(args.db)


async def _open(args: argparse.Namespace) -> SessionStore:
    """The existing database; a missing one is an error for every command but `list`."""
    from sessions.opening import open_store

    return await open_store(_path(args), create=False)


def note_damaged(rows: list[SessionRow], path: Path) -> None:
    """One line on standard error for each row with columns that could not be read."""
    for row in rows:
        if row.damaged:
            report(
                f"huddle: session {row.id or '?'} in {path} has a damaged row ({', '.join(row.damaged)} "
                "could not be read); it is shown with what could"
            )


# -- list -----------------------------------------------------------------------------


def _filters(args: argparse.Namespace) -> dict[str, str | None]:
    return {"search": args.search, "status": args.status, "pattern": args.pattern}


def _no_database(args: argparse.Namespace, path: Path | None) -> int:
    print("[]" if args.json else f"no sessions recorded yet (in {clean(str(path))})")
    return EXIT_OK


def _list_quickly(args: argparse.Namespace) -> int | None:
    """`list` read straight from a SQLite file; None when the store must do it (a
    PostgreSQL database, or a file that opening the store would change)."""
    from sessions.errors import NoDatabase
    from sessions.listing import quick_listing

    path = _path(args)
    if isinstance(path, str):  # a PostgreSQL address
        return None
    try:
        listing = quick_listing(path, **_filters(args), limit=args.limit, tabled=not args.json)
    except NoDatabase as missing:
        return _no_database(args, missing.path)
    if listing is None:
        return None
    return _print_listing(args, path, listing)


async def _list(args: argparse.Namespace) -> int:
    from sessions.errors import NoDatabase
    from sessions.listing import Listing

    try:
        store = await _open(args)
    except NoDatabase as missing:
        return _no_database(args, missing.path)
    async with store:
        rows = await store.list_sessions(**_filters(args), limit=args.limit)
        tabled = bool(rows) and not args.json  # JSON needs neither short ids nor a count
        short = await store.short_ids([row.id for row in rows]) if tabled else {}
        # Only a full page can have more behind it: count (a second search) only then.
        total = await store.count_sessions(**_filters(args)) if tabled and len(rows) == args.limit else len(rows)
    return _print_listing(args, store.path, Listing(rows, short, total))


def _print_listing(args: argparse.Namespace, path: Path, listing: Listing) -> int:
    """Print what `list` found in `path` (its rows through the gate), as a table or JSON."""
    rows = safe(listing.rows)
    note_damaged(rows, path)
    if args.json:  # every character beyond ASCII escaped: the terminal sees none of it raw
        import json

        print(json.dumps([row.to_json() for row in rows], indent=2))
        return EXIT_OK
    if not rows:
        filtered = any(value is not None for value in _filters(args).values())
        print(f"no sessions {'match' if filtered else 'recorded yet'} (in {clean(str(path))})")
        return EXIT_OK
    from engine.formats import count

    for line in table(rows, listing.short):
        print(line)
    if listing.total > len(rows):
        print(f"({count(len(rows))} of {count(listing.total)} sessions; --limit N shows more)")
    return EXIT_OK


def table(rows: list[SessionRow], short: dict[str, str]) -> list[str]:
    """The rows (through the gate, `tui.safe.safe`) as aligned columns under a header."""
    from engine.formats import clock, cost_text, outcome, preview, tokens, when

    header = ("ID", "STARTED", "STATUS", "PATTERN", "TOKENS", "COST", "TIME", "TITLE")
    cells = [
        (
            short.get(row.id, row.id),
            when(row.created_at),
            outcome(row.status, row.failed_steps, row.skipped_steps, short=True),
            preview(row.pattern),
            tokens(row.tokens),
            cost_text(row.cost, row.unpriced, short=True),
            clock(row.duration_s),
            preview(row.title) + (f"  ({row.lineage})" if row.lineage else ""),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header) - 1)]
    right = {4, 5, 6}
    lines = []
    for line in [header, *cells]:
        parts = [
            value.rjust(widths[i]) if i in right else value.ljust(widths[i]) for i, value in enumerate(line[:-1])
        ]
        lines.append("  ".join([*parts, line[-1]]))
    return lines


# -- show -----------------------------------------------------------------------------


async def _show(args: argparse.Namespace) -> int:
    from tui.transcript import Transcript, use_colour

    if args.json:
        return await _show_json(args)
    async with await _open(args) as store:
        row = safe(await store.get_session(args.id))
        note_damaged([row], store.path)
        transcript = Transcript(sys.stdout.write, colour=use_colour(sys.stdout), seqs=args.seq)
        ended = False
        async for event in store.iter_events(row.id):
            transcript.feed(event)
            ended = event.kind == "session.finished"
    if not ended:
        why = f": {' '.join(row.reason.split())}" if row.reason else ""
        print(f"\n({row.status}, no result recorded{why})")
    return EXIT_OK


async def _show_json(args: argparse.Namespace) -> int:
    """`show --json`: the JSON export on standard output. One document, as `list --json`
    and the export are: a recorded session is whole, its row beside its events; each event
    is the line `huddle run --json` printed for it."""
    from tui.exporting import write_export

    async with await _open(args) as store:
        row = await store.get_session(args.id)
        note_damaged([row], store.path)
        await write_export(store, row, "json", sys.stdout.write)
    return EXIT_OK


# -- export ---------------------------------------------------------------------------


async def _export(args: argparse.Namespace) -> int:
    from tui.exporting import export_to_file, write_export

    if args.format == "otlp":
        from tui.trace_export import export_trace

        return await export_trace(args, _open)
    if args.endpoint is not None or args.otlp_content:
        report("huddle: error: --endpoint and --otlp-content go with --format otlp")
        return EXIT_USAGE
    async with await _open(args) as store:
        row = await store.get_session(args.id)
        note_damaged([row], store.path)
        if args.output is None:
            await write_export(store, row, args.format, sys.stdout.write)
            return EXIT_OK
        target = await export_to_file(store, row, args.format, Path(args.output))
    print(target)
    return EXIT_OK


# -- files ----------------------------------------------------------------------------


async def _files(args: argparse.Namespace) -> int:
    from tui.scratch_cli import show_files

    return await show_files(args, _open)


# -- delete ---------------------------------------------------------------------------


async def _delete(args: argparse.Namespace) -> int:
    from engine.formats import plural
    from sessions.scratch import remove_scratch

    async with await _open(args) as store:
        rows = {}
        for wanted in args.ids:  # every id resolved before anything is deleted
            row = safe(await store.get_session(wanted))
            rows[row.id] = row
        for row in rows.values():
            await store.delete_session(row.id)
            files = " · its scratch folder too" if remove_scratch(row.id) else ""
            print(f"deleted {row.id} · {row.status} · {plural(row.last_seq, 'event')}{files} · {' '.join(row.title.split())}")
    return EXIT_OK

"""`huddle inbox`: every escalation waiting for a person in the running sessions of the
database. On a terminal it opens the app's inbox; `--list` (or not a terminal) prints a
line per escalation and `--json` all of each; `approve` and `reject` decide one, for
scripts, through the store (`tui.posting`), as "user@host from the command line".

The parser is built at import with nothing heavy loaded; the command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tui import serve_cli
from tui.exits import EXIT_FAILED, EXIT_OK
from tui.safe import clean, report

if TYPE_CHECKING:
    from tui.waiting import Waiting


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    db_option: argparse.ArgumentParser,
    parser_class: type[argparse.ArgumentParser],
    text: Callable[[str], str],
) -> None:
    """Add `inbox` and its commands: `db_option` is the parent parser holding `--db`; `text`
    reads an argument as text (bytes that are not UTF-8 replaced)."""
    inbox = commands.add_parser(
        "inbox", parents=[db_option], help="the escalations waiting for a decision in every running session",
        description="Every escalation waiting for a person in the running sessions of the database, oldest "
        "first (runs with '--approve inbox' wait here). On a terminal: the app's inbox; otherwise, or with "
        "--list, a line each.",
    )
    shown = inbox.add_mutually_exclusive_group()
    shown.add_argument("--list", action="store_true", help="print a line per escalation instead of opening the app: session, escalation, agent, trigger, age, reason")
    shown.add_argument("--json", action="store_true", help="print them as a JSON array, each with its whole payload")
    sub = inbox.add_subparsers(dest="inbox_command", metavar="COMMAND", parser_class=parser_class)
    for action, about in (("approve", "approve a waiting escalation"), ("reject", "reject a waiting escalation")):
        decide = sub.add_parser(
            action, parents=[db_option], help=about,
            description=f"{about[0].upper()}{about[1:]}: the session running it takes the decision within a second, "
            "recorded as yours, from the command line. Exit status 1 when it was decided already or waits nowhere.",
        )
        decide.add_argument("session", metavar="SESSION", help="session id, or a prefix of it that only one session has")
        decide.add_argument("escalation", metavar="ESCALATION", help="the escalation's id (e1, e2...; see 'huddle inbox --list')")
        if action == "reject":
            decide.add_argument("--reason", type=text, default="", metavar="TEXT", help="why: the agent gets this reason back")


def run(args: argparse.Namespace) -> int:
    """Run `huddle inbox`; the exit status."""
    import asyncio

    if args.inbox_command is not None:
        return asyncio.run(_decide(args))
    if args.list or args.json or not serve_cli.has_a_screen():  # a terminal, or a browser tab (`huddle serve inbox`)
        return asyncio.run(_list(args))
    return asyncio.run(_app(_path(args)))


def _path(args: argparse.Namespace) -> Path:
    from tui.userfiles import database

    return database(args.db)


async def _app(path: Path) -> int:
    """The app at the inbox."""
    from sessions.opening import open_store
    from tui.app import make_app, run_app

    async with await open_store(path) as store:
        app = make_app(store=store, start="inbox")
        await run_app(app)
    return app.return_code or EXIT_OK


async def _list(args: argparse.Namespace) -> int:
    from sessions.errors import NoDatabase
    from sessions.opening import open_store
    from tui.waiting import as_json, waiting

    path = _path(args)
    try:
        store = await open_store(path, create=False)
    except NoDatabase:
        print("[]" if args.json else f"nothing waits for a decision (no sessions recorded yet in {clean(str(path))})")
        return EXIT_OK
    async with store:
        items = await waiting(store)
    now = time.time()
    if args.json:  # every character beyond ASCII escaped: the terminal sees none of it raw
        print(json.dumps([as_json(item, now) for item in items], indent=2))
    elif not items:
        print(f"nothing waits for a decision (in {clean(str(path))})")
    else:
        for line in table(items, now):
            print(line)
    return EXIT_OK


def table(items: list[Waiting], now: float) -> list[str]:
    """The escalations (through the gate) as aligned columns under a header, the reason last, on one line."""
    from tui.waiting import age

    header = ("SESSION", "ESCALATION", "AGENT", "TRIGGER", "AGE", "REASON")
    cells = [
        (item.session_id, item.escalation_id, item.escalation.agent or "-", item.escalation.trigger,
         age(item.escalation, now), " ".join(item.escalation.reason.split()))
        for item in items
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header) - 1)]
    return ["  ".join([*(value.rjust(widths[i]) if i == 4 else value.ljust(widths[i]) for i, value in enumerate(line[:-1])), line[-1]])
            for line in [header, *cells]]


async def _decide(args: argparse.Namespace) -> int:
    """Approve or reject one waiting escalation; print what became of it (one line)."""
    from engine.approvals import DecisionError
    from engine.events import DECIDED
    from engine.formats import time_of_day
    from sessions.decisions import decider
    from sessions.rows import LIVE_STATES
    from sessions.opening import open_store
    from tui.posting import post_decision
    from tui.safe import safe
    from tui.waiting import FROM_THE_COMMAND_LINE, plain_decision, waiting

    action, wanted = args.inbox_command, args.escalation
    async with await open_store(_path(args), create=False) as store:
        row = safe(await store.get_session(args.session))
        where = f"session {row.id}, {clean(wanted)}"
        found = next((item for item in await waiting(store) if item.session_id == row.id and item.escalation_id == wanted), None)
        if found is None:
            posted = await store.posted(row.id, wanted)
            if posted is not None:
                report(f"huddle: {where}: already decided by {posted.decided_by} at {time_of_day(posted.decided_at)}")
            elif row.status not in LIVE_STATES:
                report(f"huddle: session {row.id} is {row.status}: nothing in it waits for a decision")
            else:
                report(f"huddle: {where}: no such escalation waits for a decision (see 'huddle inbox --list')")
            return EXIT_FAILED
        try:
            decision = plain_decision(found.escalation, action, getattr(args, "reason", ""))
        except DecisionError as error:
            report(f"huddle: {error}")
            return EXIT_FAILED
        outcome = await post_decision(store, row.id, wanted, decision, by=decider(FROM_THE_COMMAND_LINE))
    if not outcome.ok:
        report(f"huddle: {where}: {outcome.message}")
        return EXIT_FAILED
    print(f"{DECIDED[action]}: {where}: {outcome.message}")
    return EXIT_OK

"""`huddle fork ID --at SEQ`: a new session, the recorded one up to SEQ (answered from its
record), live from there, with what the person changed at the fork (`tui.forking`).

The parser is built at import with nothing heavy loaded; the command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.exits import EXIT_FAILED
from tui.resume_cli import add_run_options, headless, in_app, run_choices
from tui.safe import report

if TYPE_CHECKING:
    from engine.events import EventBase
    from sessions.store import SessionStore
    from tui.forking import ForkChoices
    from tui.recording import LiveSession


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    db_option: argparse.ArgumentParser,
    count: Callable[[str], Any],
    amount: Callable[[str], Any],
    pace: Callable[[str], Any],
    text: Callable[[str], str],
) -> None:
    """Add `fork`: `db_option` is the parent parser holding `--db`; `count`, `amount` and
    `pace` parse a whole number above zero, a number above zero, and one of zero or more;
    `text` reads an argument as text (bytes that are not UTF-8 replaced)."""
    fork = commands.add_parser(
        "fork", parents=[db_option], help="a new session: a recorded one up to a moment, live from there",
        description="Start a new session that is the recorded one up to seq SEQ (answered from its record: "
        "nothing before the fork is sent to a model or asked again) and live from there, with what you "
        "change at the fork. The parent is not changed. 'huddle sessions show ID --seq' shows the seqs.",
    )
    fork.add_argument("id", metavar="ID", help="session id, or a prefix of it that only one session has")
    fork.add_argument("--at", type=count, required=True, metavar="SEQ", help="the moment to fork at: the fork is the session up to and including this event")
    fork.add_argument("--task", type=text, metavar="TEXT", help="another task (calls that asked about the old one are made again)")
    fork.add_argument("--team", metavar="FILE|NAME", help="another team: a team file, one of yours by name, or a preset (the pattern stays)")
    fork.add_argument("--option", type=text, action="append", default=[], metavar="KEY=VALUE", help="a pattern option over the recorded ones (repeatable)")
    edits = fork.add_mutually_exclusive_group()
    edits.add_argument("--reply", type=text, metavar="TEXT", help="the reply at SEQ (a call.finished), edited to TEXT")
    edits.add_argument("--reply-file", metavar="PATH", help="the reply at SEQ, edited to what PATH holds ('-': standard input)")
    edits.add_argument("--decide", metavar="CHOICE", help="the decision at SEQ (an escalation), changed: one of its choices (e.g. approve, reject, edit, revise), or 'ask' to have it asked again")
    fork.add_argument("--answer", type=text, default="", metavar="TEXT", help="with --decide: what the choice asks for (a reason, a value, or the edited payload as JSON)")
    fork.add_argument("--answer-file", metavar="PATH", help="with --decide: the answer from PATH ('-': standard input)")
    add_run_options(fork, count, amount, pace, over="the recorded one")


def run(args: argparse.Namespace) -> int:
    """Run `huddle fork`; the exit status. A fork that cannot be made is one line (exit
    status 1), and nothing is changed."""
    import asyncio

    from tui.forking import CannotFork

    try:
        choices = _choices(args)
        return asyncio.run(_fork(args, choices))
    except CannotFork as error:
        report(str(error))
        return EXIT_FAILED


def _choices(args: argparse.Namespace) -> ForkChoices:
    from tui.forking import CannotFork, ForkChoices
    from tui.setup import SetupError, parse_option

    if (args.answer or args.answer_file) and args.decide is None:
        raise CannotFork("huddle: --answer goes with --decide: say which choice it answers")
    try:
        options = dict(parse_option(text) for text in args.option)
    except SetupError as error:
        raise CannotFork(f"huddle: {error}") from None
    return ForkChoices(
        **run_choices(args), at=args.at, task=args.task, team=args.team, options=options,
        reply=_text(args.reply, args.reply_file), decide=args.decide, answer=_text(args.answer, args.answer_file) or "",
    )


def _text(given: str | None, path: str | None) -> str | None:
    """`given`, or what the file at `path` holds ('-': standard input)."""
    from tui.forking import CannotFork

    if path is None:
        return given
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        return data.decode("utf-8")
    except OSError as error:
        raise CannotFork(f"huddle: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CannotFork(f"huddle: {path} is not UTF-8 text") from None


async def _fork(args: argparse.Namespace, choices: ForkChoices) -> int:
    from tui.userfiles import database
    from sessions.opening import open_store
    from tui.forking import load_forkable
    from tui.recording import LiveSession

    path = database(args.db)
    if args.headless:
        async with await open_store(path, create=False) as store:
            found = await load_forkable(store, args.id, choices)
        return await headless(found.setup, args, path, record=found.record)

    async def live(store: SessionStore) -> tuple[LiveSession, list[EventBase] | None]:
        found = await load_forkable(store, args.id, choices)
        setup = found.setup
        return LiveSession(setup.spec, setup.provider, setup.config, store=store, record=found.record), None

    return await in_app(path, live)

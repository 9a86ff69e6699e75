"""`huddle resume ID`: carry a session that ended (stopped, failed, cancelled, interrupted)
on in its own record, in the app or headless (`tui.resuming` says what runs again).

The parser is built at import with nothing heavy loaded; the command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.exits import EXIT_FAILED
from tui.safe import report

if TYPE_CHECKING:
    from tui.resuming import ResumeChoices


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    db_option: argparse.ArgumentParser,
    count: Callable[[str], Any],
    amount: Callable[[str], Any],
    pace: Callable[[str], Any],
) -> None:
    """Add `resume`: `db_option` is the parent parser holding `--db`; `count`, `amount` and
    `pace` parse a whole number above zero, a number above zero, and one of zero or more."""
    resume = commands.add_parser(
        "resume", parents=[db_option], help="carry a session that ended on in its own record",
        description="Carry a stopped, failed, cancelled or interrupted session on in its own record: "
        "finished calls and decisions are answered from it, the rest runs again.",
    )
    resume.add_argument("id", metavar="ID", help="session id, or a prefix of it that only one session has")
    resume.add_argument("--headless", action="store_true", help="print the session as it goes on instead of opening the app")
    resume.add_argument("--provider", metavar="NAME", help="run every agent on this provider (default: each on the one it was on)")
    resume.add_argument("--approve", choices=("ask", "approve", "reject"), help="who decides escalations: ask at the terminal, or always approve/reject (default: ask on a terminal, else reject)")
    resume.add_argument("--max-tokens", type=count, metavar="N", help="token budget, over the recorded one (what was used counts)")
    resume.add_argument("--max-cost", type=amount, metavar="USD", help="cost budget in US dollars, over the recorded one")
    resume.add_argument("--max-turns", type=count, metavar="N", help="budget of delegations to agents, over the recorded one")
    resume.add_argument("--timeout", type=amount, metavar="S", help="wall-time budget in seconds, over the recorded one (time worked counts)")
    resume.add_argument("--speed", type=pace, default=1.0, help="simulated streaming pace: 1 is about 50 tokens/s, 0 is instant")
    resume.add_argument("--call-timeout", type=amount, default=120.0, metavar="S", help="how long a model call may go quiet before it is retried (default 120)")
    resume.add_argument("--decision-timeout", type=amount, metavar="S", help="an unanswered escalation takes its safe default after S seconds")


def run(args: argparse.Namespace) -> int:
    """Run `huddle resume`; the exit status. A session that cannot be carried on is one
    line (exit status 1), and nothing is changed."""
    from tui.resuming import CannotResume

    try:
        return asyncio.run(_resume(args))
    except CannotResume as error:
        report(str(error))
        return EXIT_FAILED


async def _resume(args: argparse.Namespace) -> int:
    from sessions.paths import db_path
    from sessions.store import SessionStore
    from tui.headless import HeadlessRun, run_headless
    from tui.resuming import ResumeChoices, load_resumable

    # In the app the person at the screen answers; headless, only a terminal can ask.
    ask = args.approve == "ask" or (args.approve is None and (not args.headless or sys.stdin.isatty()))
    choices = ResumeChoices(
        provider=args.provider, approve="ask" if ask else (args.approve or "reject"),
        tokens=args.max_tokens, cost=args.max_cost, turns=args.max_turns, seconds=args.timeout,
        speed=args.speed, call_timeout=args.call_timeout, decision_timeout=args.decision_timeout,
    )
    path = db_path(args.db)
    if args.headless:
        async with await SessionStore.open(path, create=False) as store:
            found = await load_resumable(store, args.id, choices)
        setup = found.setup
        job = HeadlessRun(setup.spec, setup.provider, setup.config, ask=ask, db=path, session_id=found.row.id, resume=found.events)
        return await run_headless(job)
    return await _in_app(path, args.id, choices)


async def _in_app(path: Path, wanted: str, choices: ResumeChoices) -> int:
    """The app on the resumed session: what it recorded first, then the run going on."""
    from sessions.store import SessionStore
    from tui.app import make_app
    from tui.recording import LiveSession
    from tui.resuming import load_resumable

    async with await SessionStore.open(path, create=False) as store:
        found = await load_resumable(store, wanted, choices)
        setup = found.setup
        live = LiveSession(setup.spec, setup.provider, setup.config, store=store, resume=found.events)
        app = make_app(live, store=store, events=found.events)
        await app.run_async()
    if app.return_code:
        return app.return_code
    if live.error is not None:
        raise live.error
    return live.exit_status()

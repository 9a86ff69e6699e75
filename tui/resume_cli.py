"""`huddle resume ID`: carry a session that ended (stopped, failed, cancelled, interrupted)
on in its own record, in the app or headless (`tui.resuming` says what runs again).

The parser is built at import with nothing heavy loaded; the command imports what it
needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.exits import EXIT_FAILED
from tui.safe import report

if TYPE_CHECKING:
    from engine.events import EventBase
    from sessions.store import SessionStore
    from tui.recording import LiveSession
    from tui.setup import Setup


APPROVE_MODES = ("ask", "approve", "reject", "inbox")
APPROVE_HELP = (
    "who decides escalations: ask at the terminal, always approve or reject, or inbox: wait for a decision "
    "from 'huddle inbox' or 'huddle attach' on this database (default: ask on a terminal, else reject)"
)


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
    add_run_options(resume, count, amount, pace, over="the recorded one")


class _JsonLines(argparse.Action):
    """`--json`: only a headless run prints JSON lines, so asking for them makes the run headless."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None,
    ) -> None:
        namespace.json = namespace.headless = True


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """`--json` on a command that runs a session (`run`, `resume`, `fork`): `args.json`,
    and `args.headless` with it."""
    parser.add_argument(
        "--json", action=_JsonLines, help="print every event as a line of JSON on standard output (docs/events.md), "
        "and the transcript and messages on standard error; implies --headless",
    )


def add_run_options(
    parser: argparse.ArgumentParser, count: Callable[[str], Any], amount: Callable[[str], Any],
    pace: Callable[[str], Any], *, over: str | None = None,
    provider: str = "run every agent on this provider (default: each on the one it was on)",
) -> None:
    """The options of a command that runs a session (`run`, and `resume` and `fork`, which
    run one again from its record): where it runs, who decides, budgets (over `over`,
    what was used counting, for a session run again), pace, timeouts, and its trace."""
    used = f", over {over} (what was used counts)" if over else ""
    parser.add_argument("--headless", action="store_true", help="print the session as it goes on instead of opening the app")
    add_json_option(parser)
    parser.add_argument("--provider", metavar="NAME", help=provider)
    parser.add_argument("--approve", choices=APPROVE_MODES, help=APPROVE_HELP)
    parser.add_argument("--max-tokens", type=count, metavar="N", help=f"token budget{used}")
    parser.add_argument("--max-cost", type=amount, metavar="USD", help=f"cost budget in US dollars{used}")
    parser.add_argument("--max-turns", type=count, metavar="N", help=f"budget of delegations to agents{used}")
    parser.add_argument("--timeout", type=amount, metavar="S", help=f"wall-time budget in seconds{used}")
    parser.add_argument("--speed", type=pace, default=1.0, help="simulated streaming pace: 1 is about 50 tokens/s, 0 is instant")
    parser.add_argument(
        "--call-timeout", type=amount, default=120.0, metavar="S",
        help="how long a model call may go quiet (for its reply to start, or for the next part of it) before it is retried (default 120)",
    )
    parser.add_argument("--decision-timeout", type=amount, metavar="S", help="an unanswered escalation takes its safe default after S seconds")
    add_trace_options(parser)


def add_trace_options(parser: argparse.ArgumentParser) -> None:
    """`--otlp` and `--otlp-content` on a command that runs a session (`run`, `resume`, `fork`)."""
    parser.add_argument(
        "--otlp", metavar="ENDPOINT", help="send the session's trace as it runs to this OTLP/HTTP receiver "
        "(http://host:4318; default: $OTEL_EXPORTER_OTLP_ENDPOINT, if set); needs huddle[otel]",
    )
    add_content_option(parser)


def add_content_option(parser: argparse.ArgumentParser) -> None:
    """`--otlp-content`: a trace carries prompts, replies and tool input and output."""
    parser.add_argument(
        "--otlp-content", action="store_true", help="put prompts, replies and tool input and output in the trace "
        "(secrets taken out; default: names, models, tokens and times only, unless "
        "$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is true)",
    )


def asks(args: argparse.Namespace) -> bool:
    """Whether escalations are asked: in the app the person at the screen answers; headless,
    only a terminal can ask."""
    return args.approve == "ask" or (args.approve is None and (not args.headless or sys.stdin.isatty()))


def run_choices(args: argparse.Namespace) -> dict[str, Any]:
    """The `ResumeChoices` fields `add_run_options` parsed."""
    return dict(
        provider=args.provider, approve="ask" if asks(args) else (args.approve or "reject"),
        tokens=args.max_tokens, cost=args.max_cost, turns=args.max_turns, seconds=args.timeout,
        speed=args.speed, call_timeout=args.call_timeout, decision_timeout=args.decision_timeout,
        otlp=args.otlp, otlp_content=args.otlp_content,
    )


def run(args: argparse.Namespace) -> int:
    """Run `huddle resume`; the exit status. A session that cannot be carried on is one
    line (exit status 1), and nothing is changed."""
    import asyncio

    from tui.resuming import CannotResume

    try:
        return asyncio.run(_resume(args))
    except CannotResume as error:
        report(str(error))
        return EXIT_FAILED


async def _resume(args: argparse.Namespace) -> int:
    from tui.userfiles import database
    from sessions.opening import open_store
    from tui.recording import LiveSession
    from tui.resuming import ResumeChoices, load_resumable

    choices = ResumeChoices(**run_choices(args))
    path = database(args.db)
    if args.headless:
        async with await open_store(path, create=False) as store:
            found = await load_resumable(store, args.id, choices)
        return await headless(found.setup, args, path, session_id=found.row.id, resume=found.events)

    async def live(store: SessionStore) -> tuple[LiveSession, list[EventBase]]:
        found = await load_resumable(store, args.id, choices)
        setup = found.setup
        return LiveSession(setup.spec, setup.provider, setup.config, store=store, resume=found.events), found.events

    return await in_app(path, live)


async def headless(setup: Setup, args: argparse.Namespace, db: Path | str, **record: Any) -> int:
    """`setup` run headless, as `args` ask (who decides, JSON lines), recorded in `db`;
    `record`: a resumed session's id and events, or a fork's record."""
    from tui.headless import HeadlessRun, run_headless

    return await run_headless(
        HeadlessRun(setup.spec, setup.provider, setup.config, ask=asks(args), db=db, lines=args.json, **record)
    )


async def in_app(path: Path | str, start: Callable[[SessionStore], Awaitable[tuple[LiveSession, list[EventBase] | None]]]) -> int:
    """The app on the session `start` sets up in the store at `path` (with the events it
    recorded before, shown first); the exit status."""
    from sessions.opening import open_store
    from tui.app import make_app, run_app

    async with await open_store(path, create=False) as store:
        live, before = await start(store)
        app = make_app(live, store=store, events=before)
        await run_app(app)
    if app.return_code:
        return app.return_code
    if live.error is not None:
        raise live.error
    return live.exit_status()

"""The `huddle` command. Parsing only: each command imports what it needs when it runs,
so `huddle --help` answers at once."""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Sequence
from typing import NoReturn

from tui import sessions_cli

DEMO_TASK = (
    "Design a rate limiter for our public REST API: per-client quotas, "
    "burst handling, and clear errors when a client is throttled."
)

EXIT_USAGE = 2


class UsageError(Exception):
    """A command line that cannot run; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more")
    return value


def _positive(kind: type) -> object:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__ if kind is int else 'number'}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError("must be more than zero")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="huddle",
        description="Launch a team of LLM agents on a task, watch them work, steer them.",
    )
    db_help = "the session database (default: $HUDDLE_DB, else huddle.db in your user data directory)"
    parser.add_argument("--db", metavar="PATH", help=db_help)
    # The same option after a command; SUPPRESS keeps a subcommand from resetting a --db given before it.
    db_option = argparse.ArgumentParser(add_help=False)
    db_option.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run", parents=[db_option], help="run a session on a task", description="Run a team of agents on TASK."
    )
    run.add_argument("task", nargs="*", metavar="TASK", help="what the team should do ('-' reads it from standard input)")
    run.add_argument("--headless", action="store_true", help="print the session as it happens instead of opening the app")
    run.add_argument("--pattern", default="orchestrator", help="collaboration pattern (see 'huddle patterns'; default orchestrator)")
    run.add_argument("--seed", type=int, help="seed for the simulated provider (default: random, printed)")
    run.add_argument("--speed", type=_non_negative, default=1.0, help="simulated streaming pace: 1 is about 50 tokens/s, 0 is instant")
    run.add_argument("--faults", metavar="SPEC", help="inject faults: kind[:probability][@agent],... (kinds: rate_limit, overload, timeout, mid_stream, malformed, low_confidence, reject)")
    run.add_argument("--approve", choices=("ask", "approve", "reject"), help="who decides escalations: ask at the terminal, or always approve/reject (default: ask on a terminal, else reject)")
    run.add_argument("--max-tokens", type=_positive(int), metavar="N", help="token budget")
    run.add_argument("--max-cost", type=_positive(float), metavar="USD", help="cost budget in US dollars")
    run.add_argument("--max-turns", type=_positive(int), metavar="N", help="budget of delegations to agents")
    run.add_argument("--timeout", type=_positive(float), metavar="S", help="wall-time budget for the session, in seconds")
    run.add_argument("--call-timeout", type=_positive(float), default=120.0, metavar="S", help="time limit for one model call (default 120)")
    run.add_argument("--decision-timeout", type=_positive(float), metavar="S", help="an unanswered escalation takes its safe default after S seconds")

    commands.add_parser("patterns", help="list the collaboration patterns", description="List the collaboration patterns.")
    sessions_cli.add_commands(commands, db_option, _Parser, _positive(int))  # type: ignore[arg-type]
    return parser


def _task_text(words: Sequence[str]) -> str:
    if list(words) == ["-"]:
        return sys.stdin.read()
    return " ".join(words)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from engine.approvals import one_line
    from engine.budgets import Limits
    from engine.patterns import UnknownPattern, get_pattern
    from engine.policy import ApprovalPolicy
    from engine.providers.faults import FaultSpecError, parse_faults
    from engine.providers.simulated import SimulatedProvider
    from engine.session import EngineConfig, SessionSpec
    from sessions.paths import db_path
    from tui.headless import HeadlessRun, run_headless

    try:
        get_pattern(args.pattern)
        faults = parse_faults(args.faults)
    except (UnknownPattern, FaultSpecError) as error:
        raise UsageError(str(error)) from None

    task = _task_text(args.task) or DEMO_TASK
    # In the app the person at the screen answers; headless, only a terminal can ask.
    ask = args.approve == "ask" or (args.approve is None and (not args.headless or sys.stdin.isatty()))
    mode = "ask" if ask else (args.approve or "reject")
    seed = args.seed if args.seed is not None else random.randrange(10_000)
    try:
        spec = SessionSpec(
            task=task,
            pattern=args.pattern,
            seed=seed,
            limits=Limits(
                tokens=args.max_tokens, cost=args.max_cost, turns=args.max_turns, seconds=args.timeout
            ),
            policy=ApprovalPolicy(default=mode, timeout_s=args.decision_timeout),
        )
    except ValidationError as error:
        raise UsageError(one_line(error)) from None
    provider = SimulatedProvider(seed=seed, speed=args.speed, faults=faults)
    config = EngineConfig(call_timeout=args.call_timeout)
    if args.headless:
        return asyncio.run(run_headless(HeadlessRun(spec, provider, config, ask=ask, db=db_path(args.db))))
    return _run_app(spec, provider, config)


def _run_app(spec: object, provider: object, config: object) -> int:
    from tui.app import make_app
    from tui.bridge import LiveSession

    live = LiveSession(spec, provider, config)  # type: ignore[arg-type]
    make_app(live).run()
    finished = live.finished
    if finished is None or finished.status == "cancelled":
        return 130 if finished is not None else 1
    return 0 if finished.status == "completed" else 1


def _patterns(args: argparse.Namespace) -> int:
    from engine.patterns import PATTERNS

    width = max(len(name) for name in PATTERNS)
    for info in PATTERNS.values():
        print(f"{info.name:<{width}}  {info.summary}")
        print(f"{'':<{width}}  use when: {info.use_when}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"run": _run, "patterns": _patterns, "sessions": sessions_cli.run}
    if args.command is None:  # no command: run, keeping the options given (--db)
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "run"])
    try:
        return handlers[args.command](args)
    except UsageError as error:
        sys.stderr.write(f"huddle: error: {error}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

"""The `huddle` command. Parsing only: each command imports what it needs when it runs,
so `huddle --help` answers at once."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from sessions.errors import StoreError
from tui import attach_cli, db_cli, fork_cli, inbox_cli, providers_cli, resume_cli, serve_cli, sessions_cli, teams_cli
from tui.arguments import number, text_argument
from tui.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from tui.safe import report

if TYPE_CHECKING:
    from tui.setup import Setup

DEMO_TASK = (
    "Design a rate limiter for our public REST API: per-client quotas, "
    "burst handling, and clear errors when a client is throttled."
)


class UsageError(Exception):
    """A command line that cannot run; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        report(f"{self.prog}: error: {message} (see '{self.prog} --help')")
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="huddle",
        description="Launch a team of LLM agents on a task, watch them work, steer them.",
    )
    db_help = "the session database: a file, or a postgresql:// address (default: $HUDDLE_DB, else config.toml's db, else huddle.db in your user data directory)"
    parser.add_argument("--db", metavar="PATH", help=db_help)
    # The same option after a command; SUPPRESS keeps a subcommand from resetting a --db given before it.
    db_option = argparse.ArgumentParser(add_help=False)
    db_option.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run", parents=[db_option], help="run a session on a task", description="Run a team of agents on TASK."
    )
    run.add_argument("task", nargs="*", metavar="TASK", help="what the team should do ('-' reads it from standard input)")
    run.add_argument("--team", metavar="FILE|NAME", help="a team file, one of yours by name, or a preset (see 'huddle teams'; default: the pattern's preset)")
    run.add_argument("--pattern", help="collaboration pattern (see 'huddle patterns'; default: the team's, else orchestrator)")
    run.add_argument("--option", action="append", type=text_argument, default=[], metavar="KEY=VALUE", help="a pattern option, e.g. --option concurrency=2 (repeatable)")
    run.add_argument("--seed", type=number(int, "any"), help="seed for the simulated provider (default: random, printed)")
    run.add_argument("--faults", metavar="SPEC", help="inject faults: kind[:probability][@agent],... (kinds: rate_limit, overload, timeout, mid_stream, malformed, low_confidence, reject)")
    resume_cli.add_run_options(
        run, number(int), number(float), number(float, "zero"),
        provider="run every agent on this provider: simulated (offline), anthropic, openai, or one of yours "
        "(see 'huddle providers'; default: as the team file says, else simulated)",
    )

    commands.add_parser("patterns", help="list the collaboration patterns", description="List the collaboration patterns.")
    resume_cli.add_command(commands, db_option, number(int), number(float), number(float, "zero"))
    fork_cli.add_command(commands, db_option, number(int), number(float), number(float, "zero"), text_argument)
    attach_cli.add_command(commands, db_option)
    inbox_cli.add_command(commands, db_option, _Parser, text_argument)
    sessions_cli.add_commands(commands, db_option, _Parser, number(int))
    teams_cli.add_commands(commands, _Parser)
    providers_cli.add_commands(commands)
    db_cli.add_command(commands, db_option, _Parser)
    serve_cli.add_command(commands, db_option)
    return parser


def _task_text(words: Sequence[str]) -> str:
    """The task: the words given, or standard input for "-"; bytes that are not UTF-8
    become U+FFFD (the task is recorded and shown as text)."""
    if list(words) == ["-"]:
        raw = getattr(sys.stdin, "buffer", None)  # a text stream may stand in for stdin (tests, hosts)
        return raw.read().decode("utf-8", "replace") if raw is not None else sys.stdin.read()
    return " ".join(text_argument(word) for word in words)


def _run(args: argparse.Namespace) -> int:
    from tui.setup import Choices, SetupError, build, parse_option
    from tui.userfiles import database

    task = _task_text(args.task) or DEMO_TASK
    try:
        setup = build(Choices(
            task=task, team=args.team, pattern=args.pattern, options=dict(parse_option(text) for text in args.option),
            seed=args.seed, faults=args.faults, **resume_cli.run_choices(args),
        ))
    except SetupError as error:
        raise UsageError(str(error)) from None
    if args.headless:
        import asyncio

        return asyncio.run(resume_cli.headless(setup, args, database(args.db)))
    return _run_app(args, setup)


def _run_app(args: argparse.Namespace, setup: Setup | None = None, start: str = "launch") -> int:
    """The app: on a live session (`setup`), or at the launch screen or the browser."""
    import asyncio

    from sessions.opening import open_store
    from tui.app import make_app, run_app
    from tui.recording import LiveSession
    from tui.userfiles import database

    async def main() -> int:
        async with await open_store(database(args.db)) as store:
            live = LiveSession(setup.spec, setup.provider, setup.config, store=store) if setup is not None else None
            app = make_app(live, store=store, start=start)  # type: ignore[arg-type]
            await run_app(app)  # the sessions it ran record their ends before the store closes
        if app.return_code:  # the app itself failed
            return app.return_code
        if live is None:
            return EXIT_OK
        if live.error is not None:
            raise live.error
        return live.exit_status()

    return asyncio.run(main())


def _sessions(args: argparse.Namespace) -> int:
    """`huddle sessions` alone opens the browser on a terminal (or in a browser tab, `huddle serve
    sessions`); otherwise, and with a command, the CLI."""
    if args.sessions_command is None and serve_cli.has_a_screen():
        from tui import logs

        logs.configure()
        return _run_app(args, start="browser")
    return sessions_cli.run(args)


def _patterns(args: argparse.Namespace) -> int:
    import json

    from engine.patterns import PATTERNS

    for info in PATTERNS.values():
        print(f"{info.name} · {info.title}")
        print(f"  {info.summary}")
        print(f"  use when: {info.use_when}")
        for name, field in info.options.model_fields.items():
            about = " ".join((field.description or "").split())
            default = json.dumps(field.get_default(call_default_factory=True), default=str)
            print(f"    --option {name}=…  (default {default}) {about}")
        print()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"run": _run, "patterns": _patterns, "sessions": _sessions, "teams": teams_cli.run,
                "providers": providers_cli.run, "app": _run_app, "resume": resume_cli.run,
                "fork": fork_cli.run, "attach": attach_cli.run, "inbox": inbox_cli.run, "db": db_cli.run,
                "serve": serve_cli.run}
    if args.command is None:  # no command: the app's launch screen
        args.command = "app"
    if args.command in ("run", "app", "resume", "fork", "attach", "inbox"):  # `sessions` configures its own
        from tui import logs

        logs.configure()
    try:
        return handlers[args.command](args)
    except UsageError as error:
        report(f"huddle: error: {error}")
        return EXIT_USAGE
    except StoreError as error:  # a database problem: its message says what to do
        report(str(error))
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from
        # complaining about stdout once more on the way out.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - a bug: its traceback to the log, one line here
        from tui import logs

        logs.configure()
        report(f"huddle: {logs.internal_error(error, f'huddle {args.command}')}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

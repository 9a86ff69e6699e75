"""`huddle run --headless`: run a session and print its transcript as it happens; with
`--json`, its events as JSON lines on standard output and the transcript on standard error."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from engine.events import EventBase
from engine.providers.base import Provider
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, new_session_id
from sessions.opening import open_store
from tui.console import ConsolePrompter, Output, stdin_reader
from tui.event_lines import EventLines
from tui.exits import EXIT_CANCELLED
from tui.recording import LiveSession
from tui.safe import report
from tui.transcript import Transcript, use_colour


@dataclass
class HeadlessRun:
    spec: SessionSpec
    provider: Provider
    config: EngineConfig
    ask: bool
    """True when escalations that need a human are asked at the terminal."""
    db: Path | str
    """The session database it is recorded into."""
    session_id: str = field(default_factory=new_session_id)
    resume: list[EventBase] | None = None
    """The stored events of the session this carries on (`huddle resume`); its id is then theirs."""
    record: Record | None = None
    """What the session it is forked from answers, up to the fork (`huddle fork`)."""
    lines: bool = False
    """`--json`: every event this run adds as a JSON line on standard output (`tui.event_lines`),
    and everything for a person (the transcript, prompts, messages) on standard error."""


class ClosablePipe:
    """Standard output that may close under us (`huddle run --headless | head`): once the
    reader has gone, writes are dropped, and the session runs on to its end and is
    recorded whole, as a user who piped it into `head` to see the start expects."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.closed = False
        """True once the reader went away."""

    def write(self, text: str) -> None:
        if not self.closed:
            self._guarded(lambda: self._stream.write(text))

    def flush(self) -> None:
        if not self.closed:
            self._guarded(self._stream.flush)

    def _guarded(self, act: Callable[[], object]) -> None:
        try:
            act()
        except BrokenPipeError:
            self.closed = True
            # What is still buffered goes nowhere, so Python's own flush at exit
            # cannot complain about the closed pipe either.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)


async def run_headless(job: HeadlessRun) -> int:
    """Run and record the session, printing it as it happens; the exit status.

    A database that cannot be opened or written raises its `StoreError` before
    the session starts; recording that fails midway stops the session and
    raises it after. Ctrl+C cancels the session, which is recorded as cancelled.
    """
    async with await open_store(job.db) as store:
        live = LiveSession(job.spec, job.provider, job.config, store=store, session_id=job.session_id, resume=job.resume,
                           record=job.record)
        live.on_buffering = report  # the database went away, or came back: one line on stderr
        live.on_traces = report  # the trace's receiver cannot be reached: one line on stderr
        human = sys.stderr if job.lines else sys.stdout
        output = Output(ClosablePipe(human))  # type: ignore[arg-type]
        transcript = Transcript(output.write, colour=use_colour(human))
        if job.lines:
            live.bus.listen(EventLines(ClosablePipe(sys.stdout)).feed)
        if job.resume:
            transcript.follow(job.resume)
        live.bus.listen(transcript.feed)
        helpers: list[asyncio.Task[None]] = []
        reader = stdin_reader() if job.ask else None
        if reader is not None:
            prompter = ConsolePrompter(live.gate, output, reader, colour=use_colour(human))
            live.bus.listen(prompter.feed)
            helpers.append(asyncio.create_task(prompter.run()))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, live.cancel)
        try:
            await live.run()
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            for helper in helpers:
                helper.cancel()
            output.release()
    if live.error is not None:
        raise live.error
    code = live.exit_status()
    if live.problem is not None:
        report(f"huddle: {live.problem}")
    if code == EXIT_CANCELLED:
        report("huddle: session cancelled")
    report(f"recorded as {live.session_id} in {store.path}")
    return code

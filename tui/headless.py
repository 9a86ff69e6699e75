"""`huddle run --headless`: run a session and print its transcript as it happens."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass

from engine.approvals import ApprovalGate
from engine.bus import EventBus
from engine.session import EngineConfig, SessionSpec, run_session
from tui.console import ConsolePrompter, Output, stdin_reader
from tui.transcript import Transcript

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


@dataclass
class HeadlessRun:
    spec: SessionSpec
    provider: object
    config: EngineConfig
    ask: bool
    """True when escalations that need a human are asked at the terminal."""


def use_colour(stream: object) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


async def run_headless(job: HeadlessRun) -> int:
    output = Output(sys.stdout)
    bus = EventBus()
    gate = ApprovalGate(job.spec.policy)
    transcript = Transcript(output.write, colour=use_colour(sys.stdout))
    bus.listen(transcript.feed)

    helpers: list[asyncio.Task[None]] = []
    if job.ask:
        reader = stdin_reader()
        if reader is not None:
            prompter = ConsolePrompter(gate, output, reader)
            bus.listen(prompter.feed)
            helpers.append(asyncio.create_task(prompter.run()))

    session = asyncio.create_task(
        run_session(job.spec, job.provider, bus=bus, gate=gate, config=job.config)  # type: ignore[arg-type]
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, session.cancel)
    try:
        finished = await session
    except asyncio.CancelledError:
        output.release()
        sys.stderr.write("huddle: session cancelled\n")
        return EXIT_CANCELLED
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        for helper in helpers:
            helper.cancel()
        output.release()
    return EXIT_OK if finished.status == "completed" else EXIT_FAILED

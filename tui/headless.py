"""`huddle run --headless`: run a session and print its transcript as it happens."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.approvals import ApprovalGate
from engine.bus import EventBus
from engine.session import EngineConfig, SessionSpec, new_session_id, run_session
from sessions.errors import StoreError
from tui.console import ConsolePrompter, Output, stdin_reader
from tui.recording import LiveRecording
from tui.safe import report
from tui.transcript import Transcript

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


@dataclass
class HeadlessRun:
    spec: SessionSpec
    provider: object
    config: EngineConfig
    ask: bool
    """True when escalations that need a human are asked at the terminal."""
    db: Path
    """The session database it is recorded into."""
    session_id: str = field(default_factory=new_session_id)


def use_colour(stream: object) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


async def run_headless(job: HeadlessRun) -> int:
    """Run and record the session, printing it as it happens; the exit status.

    A database that cannot be opened or written is reported before the session
    starts; recording that fails midway stops the session. Either way: one line
    on standard error and exit status 1.
    """
    try:
        recording = await LiveRecording.open(job.db)
        async with recording:
            return await _record(job, recording)
    except StoreError as error:
        report(str(error))
        return EXIT_FAILED


async def _record(job: HeadlessRun, recording: LiveRecording) -> int:
    output = Output(sys.stdout)
    bus = EventBus()
    gate = ApprovalGate(job.spec.policy)
    transcript = Transcript(output.write, colour=use_colour(sys.stdout))
    bus.listen(transcript.feed)
    recording.attach(bus)

    helpers: list[asyncio.Task[None]] = []
    if job.ask:
        reader = stdin_reader()
        if reader is not None:
            prompter = ConsolePrompter(gate, output, reader)
            bus.listen(prompter.feed)
            helpers.append(asyncio.create_task(prompter.run()))

    session = asyncio.create_task(
        run_session(job.spec, job.provider, bus=bus, gate=gate, config=job.config, session_id=job.session_id)  # type: ignore[arg-type]
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, session.cancel)
    try:
        finished = await recording.watch(session)
        code = EXIT_OK if finished.status == "completed" else EXIT_FAILED
    except asyncio.CancelledError:
        output.release()
        sys.stderr.write("huddle: session cancelled\n")
        code = EXIT_CANCELLED
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        for helper in helpers:
            helper.cancel()
        output.release()
    await recording.finish()
    report(f"recorded as {job.session_id} in {recording.path}")
    return code

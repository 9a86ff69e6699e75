"""Running one launch of sandboxed code: its output read (bounded), its wall time kept, and
every process of it killed when it ends or overruns.

A backend (`engine.sandbox.bubblewrap`, `.containers`, `.direct`) says what to start
(`Launch`); this starts it in a process group of its own, reads standard output and
error, keeping at most `keep` bytes of each and counting the rest, and at the end (or at
the wall time) kills the whole group and whatever the backend's `stop` reaches (a
container), so nothing it started is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Launch:
    """What a backend starts for one run."""

    argv: list[str]
    env: dict[str, str] | None
    """The launching process's environment (the code's own, for a backend that runs it
    directly); None: huddle's, for a client that needs it (Docker's) and passes the code none of it."""
    cwd: Path | None = None
    stdin: bytes = b""
    """What the code reads on its standard input (a program `python3 -` runs), then end of file."""
    stop: Callable[[], Awaitable[None]] | None = None
    """What else ends the run (a container the client started); the process group is killed anyway."""
    exit_offset: bool = False
    """True when the launcher reports a signal as 128 + its number (bwrap, containers)."""


@dataclass
class Ran:
    """How a launch ended, and what it printed."""

    status: int | None = None
    """Its exit status; None when it ended on a signal (`signal`) or was killed at the wall time."""
    signal: int | None = None
    timed_out: bool = False
    stdout: bytes = b""
    stderr: bytes = b""
    left_out: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    """Bytes of each stream past what was kept."""
    seconds: float = 0.0


async def _read(stream: asyncio.StreamReader, keep: int, name: str, ran: Ran) -> None:
    kept = bytearray()
    while chunk := await stream.read(65536):
        room = keep - len(kept)
        kept += chunk[:max(room, 0)]
        if len(chunk) > room:
            ran.left_out[name] += len(chunk) - max(room, 0)
    setattr(ran, name, bytes(kept))


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    """Write `data` to the code's standard input and close it; code that never reads it is no error."""
    with contextlib.suppress(OSError):  # BrokenPipeError, ConnectionResetError: it ended first
        if data:
            stream.write(data)
            await stream.drain()
        stream.close()
        await stream.wait_closed()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_launch(launch: Launch, wall_s: float, keep: int) -> Ran:
    """Run `launch` to its end or for `wall_s` seconds, whichever comes first; OSError when
    it cannot be started at all."""
    ran = Ran()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *launch.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=launch.env, cwd=launch.cwd, start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    readers = asyncio.gather(
        _feed(process.stdin, launch.stdin), _read(process.stdout, keep, "stdout", ran), _read(process.stderr, keep, "stderr", ran),
    )
    try:
        try:
            await asyncio.wait_for(process.wait(), wall_s)
        except TimeoutError:
            ran.timed_out = True
        await _end(process, launch)
        # whatever a killed group left in the pipes; a pipe held by a process that escaped
        # the group (possible only unconfined) is not waited for long
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(readers), 2.0)
    finally:
        if process.returncode is None:
            await _end(process, launch)
        readers.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await readers
    ran.seconds = time.monotonic() - started
    code = process.returncode
    if not ran.timed_out and code is not None:
        if code < 0:
            ran.signal = -code
        elif launch.exit_offset and code > 128 and code - 128 < signal.NSIG:
            ran.signal = code - 128
        else:
            ran.status = code
    return ran


async def _end(process: asyncio.subprocess.Process, launch: Launch) -> None:
    """Kill the launch's process group (and what its `stop` reaches), then reap it."""
    _kill_group(process.pid)
    if launch.stop is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(launch.stop(), 15.0)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()

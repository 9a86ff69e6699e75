"""What a run of code gives back to the agent: one line saying how it ended, then what it
printed (cut where it printed too much, and saying so) and the files it changed."""

from __future__ import annotations

import signal

from engine.sandbox.folder import MAX_LISTED
from engine.sandbox.process import Ran
from engine.sandbox.settings import SandboxSettings


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def ending(ran: Ran, settings: SandboxSettings) -> str:
    """How the run ended, in a few words: "exit status 0", "stopped: ..."."""
    if ran.timed_out:
        return f"stopped: it ran past its time limit ({settings.wall_s:g} s); every process of it was killed"
    if ran.signal == signal.SIGXCPU:
        return f"stopped: it used up its CPU time ({settings.cpu_s:g} s)"
    if ran.signal == signal.SIGKILL:
        return f"stopped: killed (SIGKILL), over its CPU time ({settings.cpu_s:g} s) or memory ({settings.memory_mb} MB)"
    if ran.signal is not None:
        return f"ended by {_signal_name(ran.signal)}"
    status = f"exit status {ran.status}"
    if ran.status and b"MemoryError" in ran.stderr:
        return f"{status} (stopped: it went over its memory limit, {settings.memory_mb} MB)"
    if ran.status and b"Resource temporarily unavailable" in ran.stderr:
        return f"{status} (it may have hit its limit of {settings.processes} processes)"
    return status


def stopped(ran: Ran) -> bool:
    """Whether it failed: stopped, killed, or a non-zero exit status."""
    return ran.status != 0


def _stream(name: str, data: bytes, left_out: int, keep_kb: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if not text and not left_out:
        return f"[{name}: empty]"
    cut = f"\n[{name} cut at {keep_kb} KB: {left_out:,} more bytes left out]" if left_out else ""
    return f"[{name}]\n{text.rstrip(chr(10))}{cut}"


def describe(ran: Ran, settings: SandboxSettings, changed: list[str], note: str = "") -> str:
    """The whole result, as the agent reads it."""
    count = len(changed)
    files = "no file changed" if not count else f"{count} file{'s' if count != 1 else ''} changed"
    parts = [f"{ending(ran, settings)} · {files} · {ran.seconds:.1f} s"]
    if note:
        parts.append(f"[note: {note}]")
    parts.append(_stream("stdout", ran.stdout, ran.left_out["stdout"], settings.output_kb))
    parts.append(_stream("stderr", ran.stderr, ran.left_out["stderr"], settings.output_kb))
    if changed:
        listed = changed[:MAX_LISTED]
        more = f"\n(and {count - MAX_LISTED} more)" if count > MAX_LISTED else ""
        parts.append("[files changed in the scratch folder]\n" + "\n".join(listed) + more)
    return "\n".join(parts)

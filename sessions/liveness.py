"""Whether the process that records a session is still there: what tells a session that
runs from one whose process died (`interrupted`), on SQLite and PostgreSQL alike.

A recording process says it is alive every `BEAT_S` (its heartbeat, in the session's row).
A live session not heard from for `STALE_S` has lost its process, on whatever machine it
ran; on this machine, a process that is gone says so at once.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

HOST = socket.gethostname()
BEAT_S = 2.0
"""How often a recording process says it is alive (`SessionStore.beat`)."""
STALE_S = 20.0
"""A live session whose process has not said so for this long has lost it: `interrupted`."""


def why_ended(pid: int | None, host: str | None, heartbeat: object, now: float) -> str | None:
    """Why a live session's recording process is taken to have ended; None while it is
    taken to be there."""
    from engine.formats import period

    if process_gone(pid, host):
        return f"the huddle process that recorded it (pid {pid}) ended before the session did"
    if isinstance(heartbeat, int | float) and now - heartbeat > STALE_S:
        where = f"pid {pid} on {host}" if pid is not None else f"on {host}"
        return f"the huddle process that recorded it ({where}) was last heard from {period(now - heartbeat)} ago"
    return None


def process_gone(pid: int | None, host: str | None) -> bool:
    """True when the process that recorded a session is known to have ended.

    Only a process on this machine can be checked; one elsewhere, or without a
    pid, is taken to be alive. Windows has no signal 0 (there `os.kill` would end
    the process), so there every owner is taken to be alive.
    """
    if pid is None or (host is not None and host != HOST) or pid == os.getpid() or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, but someone else's
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """True for a process that has ended but was not yet reaped by its parent (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:  # ended a moment ago, or there is no /proc (macOS)
        return Path("/proc/self").exists()
    except OSError:  # cannot tell: taken to be alive
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]  # the state follows the command name

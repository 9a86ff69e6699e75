"""Drive the installed `huddle` command in a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import fcntl
import time
from pathlib import Path


def huddle_command() -> str:
    """The installed console script, next to the running interpreter."""
    candidate = Path(sys.executable).parent / "huddle"
    return str(candidate) if candidate.exists() else shutil.which("huddle") or "huddle"


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]P^_].*?(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]", re.DOTALL)


class Terminal:
    """A process on a pseudo-terminal of a given size; read what it shows, type into it."""

    def __init__(
        self, args: list[str], *, cols: int = 120, rows: int = 40, env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows), **(env or {})}
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=environment, start_new_session=True, close_fds=True,
            cwd=cwd,
        )
        os.close(slave)
        self.fd = master
        self.raw = b""

    @property
    def text(self) -> str:
        """Everything shown so far, with escape sequences removed."""
        return _ANSI.sub("", self.raw.decode(errors="replace"))

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            self.raw += chunk

    def mark(self) -> int:
        """Where the output is now: `expect(..., since=mark)` looks only at what comes after."""
        return len(self.raw)

    def _shown_since(self, since: int) -> str:
        return _ANSI.sub("", self.raw[since:].decode(errors="replace"))

    def expect(self, pattern: str, timeout: float = 20.0, *, since: int = 0) -> re.Match[str]:
        """Wait until `pattern` shows (with `since`, in what was drawn after that mark:
        text still in the output from an earlier screen does not count)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self._shown_since(since))
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; screen so far:\n{self.text[-3000:]}")
            if self.process.poll() is not None:
                self._pump(0.05)
                if not regex.search(self._shown_since(since)):
                    raise AssertionError(f"process exited ({self.process.returncode}) before {pattern!r}:\n{self.text[-3000:]}")
            self._pump(0.05)

    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._pump(0.05)
        self._pump(0.05)
        if self.process.poll() is None:
            self.close()
            raise AssertionError(f"process did not exit; screen:\n{self.text[-3000:]}")
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        try:
            os.close(self.fd)
        except OSError:
            pass

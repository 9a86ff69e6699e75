"""A session's code runner: what `run_python` and `run_shell` call. It picks the backend
once (`engine.sandbox.choice`), makes the scratch folder at the first run (a copy of the
project, `engine.sandbox.folder`), runs each use to its end or its limits, one at a time,
and gives back the result as text (`engine.sandbox.result`), redacted of secrets.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.events import SandboxShown
from engine.redaction import redact
from engine.sandbox.choice import Backend, SandboxUnavailable, choose
from engine.sandbox.folder import changes, give_to, seed, snapshot
from engine.sandbox.job import Job, unprivileged
from engine.sandbox.process import run_launch
from engine.sandbox.result import describe, stopped
from engine.sandbox.settings import SandboxSettings
from engine.tools import ToolError
from engine.trust import well_formed

FIELDS = {"run_python": "code", "run_shell": "command"}
"""The input field holding what to run."""


def command(tool: str, source: str) -> tuple[tuple[str, ...], bytes]:
    """How a code tool's input runs, and what it reads on standard input: Python reads the
    code from there (any length); a shell is given its command line."""
    if tool == "run_python":
        return ("python3", "-"), source.encode("utf-8", "replace")
    return ("sh", "-c", source), b""


class CodeRunner:
    """Runs one session's code (see the module's docstring)."""

    def __init__(
        self, settings: SandboxSettings, scratch: Path | None, root: Callable[[], Path],
        secrets: Callable[[], Sequence[str]], name: Callable[[], str] = lambda: "session",
    ) -> None:
        self.settings = settings
        self.scratch = scratch
        """The session's scratch folder (None: the front end gave none, and code cannot run)."""
        self._root = root
        self._secrets = secrets
        self._name = name
        self._backend: Backend | None = None
        self._lock = asyncio.Lock()
        self._runs = 0

    async def backend(self) -> Backend:
        """The backend code runs under; ToolError (one line) when there is none here."""
        if self._backend is None:
            try:
                self._backend = await asyncio.to_thread(choose, self.settings)
            except SandboxUnavailable as error:
                raise ToolError(str(error)) from None
        return self._backend

    async def shown(self) -> SandboxShown:
        """The sandbox as the person deciding sees it; ToolError when code cannot run here."""
        backend = await self.backend()
        return SandboxShown(backend=backend.name, isolated=backend.isolated, limits=self.settings.limits)

    async def run(self, tool: str, payload: dict[str, object]) -> str:
        """Run a `run_python` or `run_shell` input; its result, or ToolError carrying it
        when the code failed (a non-zero exit status, stopped at a limit)."""
        if self.scratch is None:
            raise ToolError(f"{tool} cannot run: this session has no scratch folder")
        backend = await self.backend()
        source = str(payload[FIELDS[tool]])
        async with self._lock:  # one run at a time: each sees the folder the last one left
            await backend.prepare(self.settings)
            seeded = await asyncio.to_thread(self._seeded)
            before = await asyncio.to_thread(snapshot, self.scratch)
            self._runs += 1
            job = Job(*command(tool, source), self.scratch, self.settings, f"huddle-{self._name()}-{os.getpid()}-{self._runs}")
            try:
                ran = await run_launch(backend.launch(job), self.settings.wall_s, self.settings.output_kb * 1024)
            except OSError as error:
                raise ToolError(f"{tool} could not start under {backend.name}: {error.strerror or error}") from None
            after = await asyncio.to_thread(snapshot, self.scratch)
        text = well_formed(redact(describe(ran, self.settings, changes(before, after), seeded), self._secrets()))
        if stopped(ran):
            raise ToolError(text)
        return text

    def _seeded(self) -> str:
        """Make the scratch folder if it is not there yet; a note when its copy left files out."""
        assert self.scratch is not None
        made = seed(self.scratch, self._root())
        user = unprivileged()
        if user is not None and self._backend is not None and self._backend.isolated:
            if made is not None or self.scratch.stat().st_uid != user[0]:
                give_to(self.scratch, *user)
        return made.note() if made is not None else ""

"""The "none" backend: code runs directly, as huddle's user, with nothing between it and the
machine. Only what a team asks for with `sandbox = "none"`; every dialog says so.

It still runs in the scratch folder with the short environment (no keys), in a process
group of its own that is killed at the end and at the wall time, and under `prlimit`'s
limits where util-linux is installed (a process limit counts all of the user's processes,
so it is not set; for root none would hold).
"""

from __future__ import annotations

import shutil

from engine.sandbox.job import Job, limit_args, safe_env
from engine.sandbox.process import Launch
from engine.sandbox.settings import SandboxSettings

NAME = "none"


class Direct:
    """Runs code as a plain child process."""

    name = NAME
    isolated = False

    def launch(self, job: Job) -> Launch:
        prlimit = shutil.which("prlimit")
        limits = [prlimit, *limit_args(job.settings, processes=False), "--"] if prlimit else []
        return Launch([*limits, *job.command], env=safe_env(str(job.scratch)), cwd=job.scratch, stdin=job.stdin)

    async def prepare(self, settings: SandboxSettings) -> None:
        """Nothing to fetch."""

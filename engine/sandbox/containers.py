"""The Docker and Podman backends: code runs in a throwaway container of the team's image
(`SandboxSettings.image`, pulled when first needed) with no network, a read-only root,
/tmp a small tmpfs, the scratch folder mounted at /scratch, every capability dropped, and
the daemon's own limits on memory, processes (`--pids-limit`) and CPU time. A small init
is its first process (`--init`): the code is not the namespace's init, which the kernel
would spare the CPU limit's SIGXCPU, and what it leaves behind is reaped.

The container is named for the run; at the end, or at the wall time, it is killed by
name (`docker kill`), so nothing it started outlives the call even when the client dies.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from typing import Literal

from engine.sandbox.job import INSIDE, Job, safe_env, unprivileged
from engine.sandbox.process import Launch
from engine.sandbox.settings import SandboxSettings
from engine.tools import ToolError

Engine = Literal["docker", "podman"]
OPEN_FILES = 1024
"""Files a process of the code may hold open (the engines' own default is far above what a
host without CAP_SYS_RESOURCE lets them set)."""
PULL_TIMEOUT = 600.0
"""Seconds an image may take to download, before the first run (not counted in its wall time)."""


def arguments(engine: Engine, job: Job, user: tuple[int, int] | None, *, cgroups: bool = True) -> list[str]:
    """The client's command line for `job`: `docker run ...` (or `podman run ...`).
    `cgroups`: whether the engine can set limits through cgroups here (rootless Podman on
    cgroups v1 cannot: it ignores them, and says so on the code's stderr)."""
    settings = job.settings
    scratch = str(job.scratch)
    if "," in scratch or "\n" in scratch:
        raise ToolError(f"the scratch folder's path cannot be mounted by {engine}: {scratch!r}")
    memory = f"{settings.memory_mb}m"
    cpu = settings.cpu_rlimit
    data = settings.memory_mb * 1024 * 1024  # what a process may allocate: past it, Python's MemoryError, as under bubblewrap
    limits = [
        "--ulimit", f"cpu={cpu}:{cpu + 1}", "--ulimit", f"data={data}:{data}", "--ulimit", "core=0",
        "--ulimit", f"nofile={OPEN_FILES}:{OPEN_FILES}",
    ]
    if cgroups:
        limits += ["--memory", memory, "--memory-swap", memory, "--pids-limit", str(settings.processes)]
    if engine == "podman" and user is None:  # rootless: the user's own id inside maps to the user
        identity = ["--userns", "keep-id"]
    else:
        uid, gid = user if user is not None else (os.getuid(), os.getgid())
        identity = ["--user", f"{uid}:{gid}"]
    if user is not None or engine == "podman":
        # A count of processes as bubblewrap's, where it counts only the code's: as nobody, or in
        # rootless Podman's user namespace. Not for Docker run as the user: the user's own
        # processes outside would count.
        limits += ["--ulimit", f"nproc={settings.processes}:{settings.processes}"]
    return [
        engine, "run", "--rm", "--interactive", "--init", "--name", job.name,
        "--network", "none",
        "--read-only", "--tmpfs", f"/tmp:rw,nosuid,nodev,size={memory}",
        "--mount", f"type=bind,source={scratch},target={INSIDE}", "--workdir", INSIDE,
        *limits,
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *identity,
        *[arg for name, value in safe_env(INSIDE).items() for arg in ("--env", f"{name}={value}")],
        "--", settings.image, *job.command,
    ]


def cgroup_limits(engine: Engine, user: tuple[int, int] | None) -> bool:
    """Whether `engine` can limit memory and processes through cgroups here: not rootless
    Podman on a machine with cgroups v1 (the rlimits `arguments` sets hold there too)."""
    rootless = engine == "podman" and user is None and os.geteuid() != 0
    return not rootless or os.path.exists("/sys/fs/cgroup/cgroup.controllers")


class Container:
    """Runs code in a Docker or Podman container."""

    isolated = True

    def __init__(self, engine: Engine) -> None:
        self.name = engine
        self.engine: Engine = engine
        self._pulled: set[str] = set()

    def launch(self, job: Job) -> Launch:
        user = unprivileged()

        async def stop() -> None:
            await _quietly([self.engine, "kill", job.name])
            await _quietly([self.engine, "rm", "--force", job.name])

        return Launch(
            arguments(self.engine, job, user, cgroups=cgroup_limits(self.engine, user)), env=None, stdin=job.stdin, stop=stop,
            exit_offset=True,
        )

    async def prepare(self, settings: SandboxSettings) -> None:
        """Have the image here before the first run (its download does not count as the run's time)."""
        image = settings.image
        if image in self._pulled:
            return
        if await _quietly([self.engine, "image", "inspect", image]) != 0:
            if await _quietly([self.engine, "pull", "--quiet", image], PULL_TIMEOUT) != 0:
                raise ToolError(f"{self.engine} could not get the image {image!r} (see `{self.engine} pull {image}`)")
        self._pulled.add(image)


async def _quietly(argv: list[str], timeout: float = 30.0) -> int:
    """Run a client command, its output dropped; its exit status (-1: it could not run or took too long)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    except OSError:
        return -1
    try:
        return await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1


def works(engine: Engine) -> str | None:
    """None when `engine`'s client is installed and its daemon (or Podman itself) answers; else why not."""
    if shutil.which(engine) is None:
        return f"{engine} is not installed"
    probe = [engine, "version", "--format", "{{.Server.Version}}" if engine == "docker" else "{{.Version}}"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return f"{engine} does not answer"
    if done.returncode != 0:
        return f"no {engine} daemon answers" if engine == "docker" else f"{engine} cannot run containers here"
    return None

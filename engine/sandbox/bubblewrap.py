"""The bubblewrap backend (Linux): code runs in new namespaces with no network, a root made
of the system's own folders read-only, the scratch folder at /scratch, /tmp a small tmpfs,
no view of the user's home, the project or other sessions, and its own process tree.

Limits on address space, CPU and processes are set inside the sandbox by `prlimit`
(util-linux). For a user, bubblewrap makes a user namespace, where the process limit
counts only the sandbox's processes. For root the kernel enforces no process limit, so
huddle running as root starts bubblewrap without a user namespace and the code drops to
"nobody" (`setpriv`, util-linux; `engine.sandbox.job.UNPRIVILEGED`), whose scratch folder
it hands over; the limit then counts nobody's processes. The pid namespace ends with its
first process: every process the code started is gone when it ends or is killed
(`--die-with-parent`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.sandbox.job import INSIDE, SAFE_PATH, Job, limit_args, safe_env, unprivileged
from engine.sandbox.process import Launch
from engine.sandbox.settings import SandboxSettings

NAME = "bubblewrap"
SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "opt")
"""The folders of / the code sees, read-only (a link among them stays a link)."""


def system_binds(root: Path = Path("/")) -> list[str]:
    args: list[str] = []
    for name in SYSTEM:
        path = root / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    return args


def arguments(command: tuple[str, ...], settings: SandboxSettings, scratch: Path,
              user: tuple[int, int] | None = None) -> list[str]:
    """bwrap's command line for a run in `scratch`; `user`: huddle runs as root, and the code
    as this uid and gid."""
    env = safe_env(INSIDE)
    if user is None:  # a user namespace of its own: the process limit counts the sandbox's processes
        namespaces = ["--unshare-all"]
        drop: list[str] = []
    else:  # root: no user namespace (it would map to root); the code drops to `user` itself
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                      "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        drop = ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--no-new-privs", "--"]
    return [
        shutil.which("bwrap") or "bwrap",
        *system_binds(),
        "--dev", "/dev",
        "--proc", "/proc",
        "--size", str(settings.memory_mb * 1024 * 1024), "--tmpfs", "/tmp",
        "--bind", str(scratch), INSIDE,
        "--remount-ro", "/",
        "--chdir", INSIDE,
        *namespaces,
        "--die-with-parent",
        "--new-session",
        "--clearenv", *[arg for name, value in env.items() for arg in ("--setenv", name, value)],
        "--",
        *drop,
        "prlimit", *limit_args(settings), "--",
        *command,
    ]


class Bubblewrap:
    """Runs code under bwrap."""

    name = NAME
    isolated = True

    def launch(self, job: Job) -> Launch:
        return Launch(
            arguments(job.command, job.settings, job.scratch, unprivileged()), env={"PATH": SAFE_PATH},
            stdin=job.stdin, exit_offset=True,
        )

    async def prepare(self, settings: SandboxSettings) -> None:
        """Nothing to fetch."""


def works() -> str | None:
    """None when bubblewrap runs a sandbox here; else why not, in a few words."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap runs on Linux only"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    if shutil.which("prlimit") is None:
        return "prlimit (util-linux) is not installed"
    user = unprivileged()
    if user is not None and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="huddle-probe-") as folder:
        try:
            done = subprocess.run(
                arguments(("true",), SandboxSettings(), Path(folder), user), capture_output=True, timeout=20,
                stdin=subprocess.DEVNULL, env={"PATH": SAFE_PATH},
            )
        except (OSError, subprocess.SubprocessError) as error:
            return f"bwrap could not start ({error})"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bwrap cannot make a sandbox here ({why[-1] if why else f'exit status {done.returncode}'})"
    return None

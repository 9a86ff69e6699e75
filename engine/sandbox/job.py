"""One run of code as every backend gets it: what to run inside, on which scratch folder,
under which limits, and the short environment the code sees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.sandbox.settings import SandboxSettings

INSIDE = "/scratch"
"""Where a confining backend shows the scratch folder to the code (its working directory and home)."""
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNPRIVILEGED = (65534, 65534)
"""The user and group ("nobody") code runs as when huddle runs as root: limits on processes
do not hold for root, and root's files are not the code's to write."""


@dataclass(frozen=True)
class Job:
    """What one `run_python` or `run_shell` use runs."""

    command: tuple[str, ...]
    """The program and its arguments, as run inside the sandbox: ("python3", "-")."""
    stdin: bytes
    """What it reads on standard input (the code for `python3 -`)."""
    scratch: Path
    """The session's scratch folder on this machine (made already)."""
    settings: SandboxSettings
    name: str
    """Unique to this run ("huddle-<session>-<n>"): a container's name."""


def safe_env(home: str) -> dict[str, str]:
    """The only environment code gets: a search path, a language, a home in the scratch
    folder, a plain terminal. No key, token or address of huddle's reaches it."""
    return {
        "PATH": SAFE_PATH,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": "/tmp",
        "TERM": "dumb",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def unprivileged() -> tuple[int, int] | None:
    """The uid and gid code runs as instead of root; None when huddle does not run as root."""
    return UNPRIVILEGED if os.geteuid() == 0 else None


def limit_args(settings: SandboxSettings, *, processes: bool = True) -> list[str]:
    """`prlimit` arguments setting a run's limits on the code's own processes: address space,
    CPU seconds (a SIGXCPU first, a kill a second later), processes, no core files."""
    cpu = settings.cpu_rlimit
    args = [f"--as={settings.memory_mb * 1024 * 1024}", f"--cpu={cpu}:{cpu + 1}", "--core=0"]
    if processes:
        args.append(f"--nproc={settings.processes}")
    return args

"""Which backend runs a team's code: the one its settings name, or ("auto") the first of
bubblewrap, Docker and Podman that works on this machine. Each is tried once per process."""

from __future__ import annotations

import functools
from typing import Protocol

from engine.agents import TeamSpec
from engine.sandbox import bubblewrap, containers
from engine.sandbox.bubblewrap import Bubblewrap
from engine.sandbox.containers import Container
from engine.sandbox.direct import Direct
from engine.sandbox.job import Job
from engine.sandbox.process import Launch
from engine.sandbox.settings import SandboxSettings

ORDER = ("bubblewrap", "docker", "podman")
"""What "auto" tries, in order."""
INSTALL = (
    "install bubblewrap (Debian, Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap) "
    "or start Docker or Podman, or set sandbox = \"none\" in the team file to run code unconfined"
)


class Backend(Protocol):
    """A way to run code: named in the dialog, confining it or not."""

    name: str
    isolated: bool

    def launch(self, job: Job) -> Launch:
        """How to start `job`: the command line, its environment, and what else ends it."""
        ...

    async def prepare(self, settings: SandboxSettings) -> None:
        """Whatever must be there before the first run (an image); ToolError when it cannot be."""
        ...


class SandboxUnavailable(Exception):
    """No backend the team's settings allow works here; the message says what to install, in one line."""


@functools.cache
def why_not(name: str) -> str | None:
    """None when backend `name` works here; else why not (asked once per process)."""
    if name == "bubblewrap":
        return bubblewrap.works()
    return containers.works(name)  # type: ignore[arg-type]


def choose(settings: SandboxSettings) -> Backend:
    """The backend `settings` choose on this machine; SandboxUnavailable says why there is none.
    May take a moment the first time (it starts a sandbox, asks a daemon): call it off the loop."""
    if settings.backend == "none":
        return Direct()
    names = ORDER if settings.backend == "auto" else (settings.backend,)
    reasons = []
    for name in names:
        reason = why_not(name)
        if reason is None:
            return Bubblewrap() if name == "bubblewrap" else Container(name)  # type: ignore[arg-type]
        reasons.append(reason)
    if settings.backend == "auto":
        raise SandboxUnavailable(f"agents that run code need a sandbox, and none works here: {INSTALL}")
    raise SandboxUnavailable(f"the team's sandbox is {settings.backend}, which does not work here ({reasons[0]}): {INSTALL}")


def refuse_without_sandbox(team: TeamSpec, settings: SandboxSettings) -> None:
    """SandboxUnavailable (one line: what to install) when `team` runs code and no backend
    `settings` allow works here. Called as a session is set up (`tui.setup.assemble`, which
    the command line, the app and the Python API all go through), so a team is refused at
    load rather than at its first code run."""
    if team.runs_code():
        choose(settings)

"""Carrying a recorded session on in its own record: `huddle resume ID` and `r` in the browser.

What runs again is what the session's `session.started` recorded (task, pattern, team,
options, approval policy, seed, budgets), with any budgets, provider or approval mode
the person chose now over it; every call that finished and every decision taken is
answered from the record (`engine.session.run_session(resume=...)`). A session that
cannot be carried on says why in one line (`CannotResume`), and nothing is changed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from engine.agents import TeamSpec
from engine.config import ConfigError, UserConfig
from engine.events import EventBase, ForkOrigin, SessionFinished, SessionStarted
from engine.mcp.spec import McpServer
from engine.teams import TeamFile
from engine.providers import assign
from engine.sandbox.settings import SandboxSettings
from engine.session import SessionSpec
from sessions.rows import LIVE_STATES, SessionRow
from sessions.store import SessionStore
from tui.setup import RunChoices, Setup, SetupError, assemble, limits_over, policy_over
from tui.userfiles import load_config


class CannotResume(ValueError):
    """A session that cannot be carried on; the message says why, in one line."""


ResumeChoices = RunChoices
"""What the person chose for the resumed run; None keeps what the session recorded."""


@dataclass
class Resumable:
    """A session that can be carried on: its row, its stored events, and how it runs now."""

    row: SessionRow
    events: list[EventBase]
    setup: Setup


async def load_resumable(store: SessionStore, wanted: str, choices: ResumeChoices, user: UserConfig | None = None) -> Resumable:
    """The session with id (or unique id prefix) `wanted`, ready to carry on. Raises
    `CannotResume` for one that completed, is still running or whose record cannot be
    read or set up again, the store's `StoreError` for an unknown id or a damaged event."""
    row = await store.get_session(wanted)
    check_row(row)
    events: list[EventBase] = [event async for event in store.iter_events(row.id)]
    started = events[0] if events else None
    if not isinstance(started, SessionStarted):
        raise CannotResume(f"huddle: session {row.id} cannot be resumed: its record does not start with session.started")
    if [event.seq for event in events] != list(range(1, len(events) + 1)):
        raise CannotResume(f"huddle: session {row.id} cannot be resumed: events are missing from its record")
    if isinstance(events[-1], SessionFinished) and events[-1].status == "completed":
        raise CannotResume(f"huddle: session {row.id} completed: there is nothing to resume")
    try:
        setup = await asyncio.to_thread(resumed_setup, started, choices, user)  # may probe for a sandbox
    except SetupError as error:
        raise CannotResume(f"huddle: session {row.id} cannot be resumed: {error}") from None
    return Resumable(row, events, setup)


def check_row(row: SessionRow) -> None:
    """`CannotResume` when the row alone says the session cannot be carried on: it
    completed, or it is still running (the store marks one whose process on this
    machine ended `interrupted` as it opens, so a live row's process is alive)."""
    if row.status == "completed":
        raise CannotResume(f"huddle: session {row.id} completed: there is nothing to resume")
    if row.status in LIVE_STATES:
        where = f" (pid {row.pid} on {row.host})" if row.pid is not None else ""
        raise CannotResume(f"huddle: session {row.id} is still running{where}; it can be resumed once it has ended")


def resumed_setup(
    started: SessionStarted, choices: ResumeChoices, user: UserConfig | None = None, *,
    task: str | None = None, team: TeamFile | None = None, options: dict[str, Any] | None = None,
    forked_from: ForkOrigin | None = None,
) -> Setup:
    """The session `started` began, set up to run again with `choices` over what it recorded,
    and, for a fork (`tui.forking`), another `task`, `team` or pattern `options` over it.
    Every mistake is a one-line `SetupError`."""
    try:
        user = user or load_config()
    except ConfigError as error:
        raise SetupError(str(error)) from None

    def spec() -> SessionSpec:
        if team is not None:
            agents = assign(team.team(), team.provider, choices.provider, user)
            servers = team.servers(user.mcp_servers)
        else:
            agents = assign(started.team, started.provider, choices.provider, user)
            servers = recorded_servers(started, agents, user)
        return SessionSpec(
            task=task or started.task, pattern=started.pattern, team=agents,
            limits=limits_over(started.limits, choices), policy=policy_over(started.policy, choices),
            seed=started.seed, options={**started.options, **(options or {})}, mcp_servers=servers,
            forked_from=forked_from, sandbox=team.sandbox if team is not None else started.sandbox or SandboxSettings(),
        )

    return assemble(spec, choices, user)


def recorded_servers(started: SessionStarted, team: TeamSpec, user: UserConfig) -> tuple[McpServer, ...]:
    """The MCP servers `started` recorded, to start again: as recorded, but one whose env or
    headers held a literal value (hidden in the record) is taken from config.toml, where
    `SetupError` says it must be. A record from before servers were recorded: config.toml's."""
    shared = {server.name: server for server in user.mcp_servers}
    if not started.mcp_servers:
        return tuple(server for server in shared.values() if team.uses_server(server.name))
    servers = []
    for server in started.mcp_servers:
        hidden = server.hidden_values()
        if hidden and server.name not in shared:
            raise SetupError(
                f"MCP server {server.name!r} was given {', '.join(hidden)} as a literal value, which a record "
                f"does not keep: declare the server in config.toml (a value written \"env:NAME\" is read from the environment)"
            )
        servers.append(shared[server.name] if hidden else server)
    return tuple(servers)

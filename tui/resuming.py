"""Carrying a recorded session on in its own record: `huddle resume ID` and `r` in the browser.

What runs again is what the session's `session.started` recorded (task, pattern, team,
options, approval policy, seed, budgets), with any budgets, provider or approval mode
the person chose now over it; every call that finished and every decision taken is
answered from the record (`engine.session.run_session(resume=...)`). A session that
cannot be carried on says why in one line (`CannotResume`), and nothing is changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import ValidationError

from engine.config import ConfigError, UserConfig
from engine.events import EventBase, SessionFinished, SessionStarted
from engine.formats import one_line
from engine.mcp.spec import McpServer
from engine.providers import assign, team_provider
from engine.session import EngineConfig, SessionSpec
from engine.agents import TeamSpec
from sessions.rows import LIVE_STATES, SessionRow
from sessions.store import SessionStore
from tui.setup import Setup, SetupError
from tui.userfiles import config_path, load_config


class CannotResume(ValueError):
    """A session that cannot be carried on; the message says why, in one line."""


@dataclass
class ResumeChoices:
    """What the person chose for the resumed run; None keeps what the session recorded."""

    provider: str | None = None
    """Every agent on this provider; None: each on the one it was on."""
    approve: str | None = None
    """ask | approve | reject for every trigger; None: the recorded policy."""
    tokens: int | None = None
    cost: float | None = None
    turns: int | None = None
    seconds: float | None = None
    speed: float = 1.0
    call_timeout: float = 120.0
    decision_timeout: float | None = None


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
        setup = resumed_setup(started, choices, user)
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


def resumed_setup(started: SessionStarted, choices: ResumeChoices, user: UserConfig | None = None) -> Setup:
    """The session `started` began, set up to run again with `choices` over what it recorded.
    Every mistake is a one-line `SetupError`."""
    try:
        user = user or load_config()
    except ConfigError as error:
        raise SetupError(str(error)) from None
    limits = started.limits.model_copy(update={
        name: value for name, value in (
            ("tokens", choices.tokens), ("cost", choices.cost), ("turns", choices.turns), ("seconds", choices.seconds),
        ) if value is not None
    })
    policy = started.policy
    if choices.approve is not None:
        policy = policy.decided_by(choices.approve)  # type: ignore[arg-type]
    if choices.decision_timeout is not None:
        policy = policy.model_copy(update={"timeout_s": choices.decision_timeout})
    try:
        team = assign(started.team, started.provider, choices.provider, user)
        spec = SessionSpec(
            task=started.task, pattern=started.pattern, team=team, limits=limits, policy=policy,
            seed=started.seed, options=started.options, mcp_servers=servers_for(team, user),
        )
        provider = team_provider(team, user, seed=started.seed, speed=choices.speed, config_file=str(config_path()))
    except ValidationError as error:
        raise SetupError(one_line(error)) from None
    except ValueError as error:  # an unknown provider, a server the config no longer has, among others
        raise SetupError(str(error)) from None
    config = EngineConfig(call_timeout=choices.call_timeout, prices=user.price_table(), environment=dict(os.environ))
    return Setup(spec, provider, config)


def servers_for(team: TeamSpec, user: UserConfig) -> tuple[McpServer, ...]:
    """The MCP servers of the config the team's tools name (all of them for a wildcard):
    `session.started` does not record servers (their settings may hold secrets), so a
    resumed session starts those the config has now."""
    members = team.members()
    used = {name for agent in members for name in agent.mcp_servers_named()}
    wildcard = any("*" in tool.partition(".")[0] for agent in members for tool in agent.tools)
    return tuple(server for server in user.mcp_servers if wildcard or server.name in used)

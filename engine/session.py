"""Run one session: a team, a task and a pattern, from `session.started` to `session.finished`."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from functools import cached_property
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.agents import TeamSpec
from engine.approvals import ApprovalGate
from engine.budgets import Limits
from engine.bus import EventBus
from engine.context import Run, RunContext
from engine.events import ErrorEvent, ForkOrigin, SessionFinished, SessionResumed, SessionStarted, ToolServer, Usage
from engine.formats import headline, one_line
from engine.guards import CallFailedError, CircuitBreaker, RetryPolicy, StopSession, leaves
from engine.mcp.hub import McpHub, Status
from engine.mcp.names import server_of
from engine.mcp.spec import McpServer, unique_names
from engine.otel.target import TraceTarget
from engine.patterns import get_pattern
from engine.policy import ApprovalPolicy
from engine.pricing import PriceTable
from engine.providers.base import Provider
from engine.run.record import Record
from engine.sandbox.settings import SandboxSettings
from engine.toolbox import Toolbox, built_in_tools, mcp_tools
from engine.trust import well_formed


log = logging.getLogger(__name__)
"""Where a bug that ends a session leaves its traceback (the front end decides where that goes)."""


class SessionSpec(BaseModel):
    """What to run: everything a session needs that is not machinery."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    pattern: str = "orchestrator"
    team: TeamSpec
    """The team; left out, the pattern's preset team."""
    limits: Limits = Field(default_factory=Limits)
    policy: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    seed: int = Field(default=0, ge=-(2**63), lt=2**63)
    """Any whole number a database stores (64 bits)."""
    options: dict[str, Any] = Field(default_factory=dict)
    mcp_servers: tuple[McpServer, ...] = ()
    """The MCP servers the team's agents may use (config.toml's with the team file's over
    them): started when the session starts, stopped when it ends. Part of what to run, like
    the team whose `tools` name them; `session.started` records them with each literal env
    or header value hidden (it may be a secret)."""
    forked_from: ForkOrigin | None = None
    """The session this one is forked from (`session.started` records it); its record
    answers the work before the fork (`run_session(record=...)`)."""
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    """Where and under which limits the agents' code runs (`run_python`, `run_shell`)."""

    @field_validator("task")
    @classmethod
    def _task_given(cls, value: str) -> str:
        value = well_formed(value).strip()
        if not value:
            raise ValueError("the task is empty: say what the team should do")
        return value

    @model_validator(mode="before")
    @classmethod
    def _preset_team(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("team") is None:
            data = {**data, "team": get_pattern(data.get("pattern", "orchestrator")).team()}
        return data

    @field_validator("mcp_servers")
    @classmethod
    def _servers_unique(cls, value: tuple[McpServer, ...]) -> tuple[McpServer, ...]:
        return tuple(unique_names(list(value)))

    @model_validator(mode="after")
    def _servers_declared(self) -> SessionSpec:
        declared = {server.name for server in self.mcp_servers}
        for agent in self.team.members():
            missing = sorted(agent.mcp_servers_named() - declared)
            if missing:
                raise ValueError(f"agent {agent.name!r} uses tools of server {missing[0]!r}, which the session does not declare")
        return self

    @model_validator(mode="after")
    def _options_fit(self) -> SessionSpec:
        get_pattern(self.pattern)  # an unknown pattern says which there are
        try:
            self.pattern_options  # noqa: B018 - parsed once, here, and kept
        except ValueError as error:
            raise ValueError(f"{self.pattern} options: {error}") from None
        return self

    @cached_property
    def pattern_options(self) -> BaseModel:
        """The options, parsed by the pattern."""
        return get_pattern(self.pattern).parse_options(self.options)


@dataclass
class EngineConfig:
    """Machinery settings: how hard to retry, how long to wait, what things cost."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    call_timeout: float | None = 120.0
    """Seconds a call may go quiet (before its reply starts, or between two parts of it)
    before the attempt fails as a timeout and is retried; None: wait as long as it takes."""
    breaker_threshold: int = 4
    prices: PriceTable = field(default_factory=PriceTable)
    clock: Callable[[], float] = time.time
    """Wall-clock time stamped on events (tests pass a fake one for stable screens)."""
    tool_root: Path = field(default_factory=Path.cwd)
    """The folder agents' tools may look at: where huddle was started."""
    max_tool_rounds: int = 8
    """Rounds of tool use one call may take; then the model must answer."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Where MCP servers' "env:NAME" values (headers, env) are read from: the front end
    passes its process's environment; the engine reads none itself."""
    traces: TraceTarget | None = None
    """Where the session's trace is sent as it runs (OTLP/HTTP, `engine.otel`), if anywhere:
    the front end that runs it sends it (`tui.recording.LiveSession`)."""
    scratch: Path | None = None
    """The session's scratch folder, where its agents' code runs (`sessions.scratch` says
    where; the front end that knows the session's id sets it); None: code cannot run."""


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


def partial_result(partials: list[tuple[str, str]], reason: str) -> str:
    if not partials:
        return f"No result: {reason}, before any work was finished."
    body = "\n\n".join(f"### {label}\n\n{text}" for label, text in partials)
    return f"Partial result ({reason}). What was finished:\n\n{body}"


async def run_session(
    spec: SessionSpec,
    provider: Provider,
    *,
    bus: EventBus | None = None,
    gate: ApprovalGate | None = None,
    config: EngineConfig | None = None,
    session_id: str | None = None,
    record: Record | None = None,
    resume: Record | None = None,
) -> SessionFinished:
    """Run the session to its end and return its `session.finished` event.

    Failures inside the session (a failed call, a budget stop, an open breaker,
    a bug in a pattern) end it with a status and a result, never an exception.
    Cancelling the task records the session as cancelled, then re-raises. `record`
    (`Record.from_events` of an earlier run of it) answers the calls that ask what they
    asked then and the decisions raised again about the same, so that work is neither
    paid for, carried out nor asked about again; whether it is emitted again is the
    record's `emit` (yes for a fork, no for a resume into the same record).

    `resume` (`Record.from_events` of all of a session's events) carries that session on
    in its own record instead: the same id, seqs on from its last, `session.resumed` where
    `session.started` would be, its calls and decisions answered from it and not emitted
    again, and what it used counted from the start (budgets included). Its duration is the
    time it worked, over its runs: the time between its end and the resume is left out.
    Raises `ValueError` when the record cannot be resumed (no session in it, or one that
    completed).
    """
    if resume is not None:
        session_id, record = _resumable(resume, session_id, record), replace(resume, emit=False)
    pattern = get_pattern(spec.pattern)
    config = config or EngineConfig()
    bus = bus or EventBus()
    gate = gate or ApprovalGate(spec.policy)
    if record is not None and not record.emit:
        gate.taken |= record.escalation_ids  # the same record: its ids are taken
    run = Run(
        session_id=session_id or new_session_id(),
        task=spec.task,
        team=spec.team,
        provider=provider,
        bus=bus,
        gate=gate,
        limits=spec.limits,
        seed=spec.seed,
        retry=config.retry,
        call_timeout=config.call_timeout,
        breaker=CircuitBreaker(config.breaker_threshold),
        prices=config.prices,
        record=record,
        clock=config.clock,
        tool_root=config.tool_root,
        max_tool_rounds=config.max_tool_rounds,
        resumed=resume is not None,
        scratch=config.scratch,
        sandbox=spec.sandbox,
    )
    ctx = RunContext(run)
    if resume is not None:
        await ctx.emit(
            SessionResumed, after_seq=resume.last_seq, previous_status=resume.ended, previous_reason=resume.reason,
            calls=resume.answers, decisions=len(resume.decisions), worked_s=round(resume.worked_s, 3), pid=os.getpid(),
        )
    else:
        await _started(ctx, spec, provider)
    await run.budget.start(ctx)

    status, partial, reason = "completed", False, None
    hub = McpHub(spec.mcp_servers, environment=config.environment, secrets=run.secrets)
    try:
        await _open_toolbox(ctx, spec, hub)
        result = await pattern.run(ctx, spec.task, spec.pattern_options)
    except asyncio.CancelledError:
        _finish(ctx, "cancelled", partial_result(run.partials, "cancelled"), True, "cancelled by the user")
        raise
    except Exception as error:  # noqa: BLE001 - every ending becomes a status
        found = leaves(error)
        stop = next((e for e in found if isinstance(e, StopSession)), None)
        failed = next((e for e in found if isinstance(e, CallFailedError)), None)
        if stop is not None:
            status, reason = stop.status, stop.reason
        elif failed is not None:
            status, reason = "failed", str(failed)
        else:
            bug = found[0]
            log.error("internal error in session %s (pattern %s)", run.session_id, spec.pattern, exc_info=bug)
            status, reason = "failed", run.outside_text(f"internal error: {type(bug).__name__}: {one_line(bug)}")
            await ctx.emit(ErrorEvent, error_type="internal", message=reason, fatal=True)
        result = partial_result(run.partials, reason)
        partial = True
    finally:
        gate.cancel_all()
        run.cancel_background()
        await hub.stop()  # cancelled or failed too: no server process outlives its session
    return _finish(ctx, status, result, partial, reason)


def _resumable(resume: Record, session_id: str | None, record: Record | None) -> str:
    """The id of the session `resume` carries on; `ValueError` when it cannot be carried on."""
    if record is not None:
        raise ValueError("a session is resumed from its own record: pass resume= or record=, not both")
    if resume.session_id is None or resume.ended is None:
        raise ValueError("nothing to resume: the record holds no session.started")
    if resume.ended == "completed":
        raise ValueError(f"session {resume.session_id} completed: there is nothing to resume")
    if session_id is not None and session_id != resume.session_id:
        raise ValueError(f"a resume carries on session {resume.session_id}, not {session_id}")
    return resume.session_id


async def _started(ctx: RunContext, spec: SessionSpec, provider: Provider) -> None:
    """Emit `session.started`: what runs, with which team, limits and policy, in which process."""
    await ctx.emit(
        SessionStarted,
        task=spec.task,
        title=headline(spec.task),
        pattern=spec.pattern,
        team=spec.team,
        provider=provider.name,
        seed=spec.seed,
        limits=spec.limits,
        policy=spec.policy,
        options=spec.options,
        pid=os.getpid(),
        mcp_servers=[server.hidden() for server in spec.mcp_servers],
        forked_from=spec.forked_from,
        sandbox=spec.sandbox if spec.team.runs_code() or spec.sandbox != SandboxSettings() else None,
    )


async def _open_toolbox(ctx: RunContext, spec: SessionSpec, hub: McpHub) -> None:
    """Start the session's MCP servers (each one a timeline line: started with its tools, or
    why not), put their tools in the toolbox beside the built-in ones, and say which agent's
    tool selectors choose nothing. A server that fails leaves its tools out; the session goes on."""
    run = ctx.run

    async def report(server: str, status: Status, tools: tuple[str, ...], message: str) -> None:
        await ctx.emit(ToolServer, server=server, status=status, tools=tools, message=message)

    if spec.mcp_servers:
        hub.report = report
        await hub.start()
        run.secrets = tuple(dict.fromkeys(run.secrets + hub.secrets))
        run.toolbox = Toolbox([*built_in_tools(lambda: run.tool_root, lambda: run.secrets, run.code), *mcp_tools(hub)])
    lost = {server.name for server in spec.mcp_servers} - set(hub.connections)  # already a line each
    for agent in spec.team.callers():
        for selector in run.toolbox.unmatched(agent.tools):
            if server_of(selector) in lost:
                continue
            await ctx.emit(
                ErrorEvent, agent=agent.name, error_type="tool", fatal=False,
                message=f"{agent.name}'s tools: {selector!r} matches no tool this session has",
            )


def _finish(ctx: RunContext, status: str, result: str, partial: bool, reason: str | None) -> SessionFinished:
    run = ctx.run
    usage = sum((tally.usage for tally in run.tallies.values()), Usage())
    failed_steps, skipped_steps = run.steps_not_done()
    event = ctx.build(
        SessionFinished,
        status=status,
        result=result,
        partial=partial,
        reason=reason,
        usage=usage,
        cost=round(run.spent.cost, 8),
        calls=run.calls,
        turns=run.spent.turns,
        duration_s=round(run.elapsed(), 3),
        unpriced=run.spent.unpriced,
        failed_steps=failed_steps,
        skipped_steps=skipped_steps,
    )
    run.bus.publish(event)
    return event

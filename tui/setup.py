"""Setting a session up from what the user chose, on the command line or the launch screen.

A team file (a preset or the user's) gives the team, pattern, options,
budgets, approval policy and provider; anything chosen explicitly wins over
it. Every mistake is a `SetupError` with a one-line message.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from engine.budgets import Limits
from engine.config import ConfigError, UserConfig
from engine.formats import one_line
from engine.otel.target import trace_target
from engine.patterns import UnknownPattern
from engine.sandbox.choice import SandboxUnavailable, refuse_without_sandbox
from engine.providers import assign, team_provider
from engine.providers.base import Provider
from engine.policy import ApprovalPolicy
from engine.providers.faults import Fault, FaultSpecError, parse_faults
from engine.session import EngineConfig, SessionSpec
from engine.teams import TeamFile, TeamFileError, preset
from tui.userfiles import config_path, load_config, resolve_team


INBOX = "inbox"
"""The approve mode of a run whose escalations wait for a decision posted through the store
(`huddle inbox`, `huddle attach`), asked at no terminal."""


class SetupError(ValueError):
    """A choice that cannot run; the message says what to fix, in one line."""


@dataclass
class RunChoices:
    """How a session runs, as a person chose it over what a team file or a recorded session
    says (None keeps that): its provider, who decides, budgets, pace and timeouts."""

    provider: str | None = None
    """Every agent on this provider; None: each on its own (the team file's, or the one it was on)."""
    approve: str | None = None
    """ask | approve | reject | inbox for every trigger; None: the team file's or recorded policy."""
    tokens: int | None = None
    cost: float | None = None
    turns: int | None = None
    seconds: float | None = None
    speed: float = 1.0
    call_timeout: float = 120.0
    decision_timeout: float | None = None
    otlp: str | None = None
    """An OTLP/HTTP receiver the session's trace goes to as it runs (`--otlp`); None: the
    one OTEL_EXPORTER_OTLP_ENDPOINT names, if any."""
    otlp_content: bool = False
    """Prompts, replies and tool input and output go in the trace too (redacted of secrets)."""


@dataclass(kw_only=True)
class Choices(RunChoices):
    """What a new session runs: the task and team, and how (`RunChoices`)."""

    task: str
    team: str | TeamFile | None = None
    """A team file (loaded), its path, the name of one of the user's team files, or a
    preset's name; None: the pattern's preset."""
    pattern: str | None = None
    limits: Limits | None = None
    """Every budget exactly (a form where empty means no limit); None: the team file's,
    with `tokens`, `cost`, `turns` and `seconds` replacing the ones given."""
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    faults: str | None = None


@dataclass
class Setup:
    spec: SessionSpec
    provider: Provider
    config: EngineConfig


def team_for(choices: Choices) -> TeamFile:
    if isinstance(choices.team, TeamFile):
        return choices.team
    try:
        if choices.team is not None:
            return resolve_team(choices.team)
        return preset(choices.pattern or "orchestrator")
    except (TeamFileError, UnknownPattern) as error:
        raise SetupError(str(error)) from None


def budget_number(text: str, kind: type, label: str) -> float | None:
    """A budget typed into a form: None when empty, else a number above zero (a whole one for
    `kind` int); `SetupError` says what is wrong with anything else."""
    text = text.strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise SetupError(f"{label}: {text!r} is not a {'whole ' if kind is int else ''}number") from None
    if value <= 0:
        raise SetupError(f"{label} must be more than zero (leave it empty for no limit)")
    return value


def limits_over(limits: Limits, choices: RunChoices) -> Limits:
    """`limits` with the budgets `choices` give over them."""
    given = {"tokens": choices.tokens, "cost": choices.cost, "turns": choices.turns, "seconds": choices.seconds}
    return limits.model_copy(update={name: value for name, value in given.items() if value is not None})


def policy_over(policy: ApprovalPolicy, choices: RunChoices) -> ApprovalPolicy:
    """`policy` with a run-wide approve mode and decision timeout, when `choices` give them."""
    if choices.approve is not None:  # "inbox": a person decides, from wherever they are
        policy = policy.decided_by("ask" if choices.approve == INBOX else choices.approve)  # type: ignore[arg-type]
    if choices.decision_timeout is not None:
        policy = policy.model_copy(update={"timeout_s": choices.decision_timeout})
    return policy


def assemble(
    make_spec: Callable[[], SessionSpec], choices: RunChoices, user: UserConfig, faults: tuple[Fault, ...] = (),
) -> Setup:
    """The spec `make_spec` gives, the provider its team runs on and the engine's settings;
    every mistake (a bad option, an unknown pattern or provider, a missing key) one line."""
    try:
        spec = make_spec()
        provider = team_provider(
            spec.team, user, seed=spec.seed, speed=choices.speed, faults=faults, config_file=str(config_path()),
        )
    except ValidationError as error:
        raise SetupError(one_line(error)) from None
    except ValueError as error:  # an unknown pattern or provider, a missing key, among others
        raise SetupError(str(error)) from None
    try:
        refuse_without_sandbox(spec.team, spec.sandbox)
    except SandboxUnavailable as error:
        raise SetupError(str(error)) from None
    try:
        traces = trace_target(choices.otlp, choices.otlp_content, os.environ)
    except ValueError as error:
        raise SetupError(str(error)) from None
    config = EngineConfig(call_timeout=choices.call_timeout, prices=user.price_table(), environment=dict(os.environ),
                          traces=traces)
    return Setup(spec, provider, config)


def build(choices: Choices, user: UserConfig | None = None) -> Setup:
    """Everything a session needs, from the user's choices."""
    team_file = team_for(choices)
    try:
        user = user or load_config()
        faults = parse_faults(choices.faults)
    except (ConfigError, FaultSpecError) as error:
        raise SetupError(str(error)) from None
    pattern = choices.pattern or team_file.pattern
    options = {**(team_file.options if pattern == team_file.pattern else {}), **choices.options}

    def spec() -> SessionSpec:
        return SessionSpec(
            task=choices.task, pattern=pattern, team=assign(team_file.team(), team_file.provider, choices.provider, user),
            limits=choices.limits or limits_over(team_file.budgets, choices), policy=policy_over(team_file.approval, choices),
            seed=choices.seed if choices.seed is not None else random.randrange(10_000), options=options,
            mcp_servers=team_file.servers(user.mcp_servers), sandbox=team_file.sandbox,
        )

    return assemble(spec, choices, user, faults)


def parse_option(text: str) -> tuple[str, Any]:
    """`key=value` from the command line; the value is read as JSON when it is JSON."""
    import json

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SetupError(f"option {text!r}: write it as key=value")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value

"""What the Python API's arguments make: the session's spec, the provider its team runs
on, the engine's settings and the database it is recorded into. Every mistake is a
one-line `ValueError`, raised before anything runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from engine.agents import TeamSpec
from engine.budgets import Limits
from engine.patterns import get_pattern
from engine.policy import ApprovalPolicy, Mode
from engine.providers import SIMULATED, assign
from engine.providers.base import Provider
from engine.sandbox.settings import BackendName, SandboxSettings
from engine.session import EngineConfig, SessionSpec

PolicyChoice = Mode | ApprovalPolicy
"""Who decides escalations: "ask" (you, through the session), "approve" or "reject"
(every one, by rule), or a whole `ApprovalPolicy` (per trigger, per tool, with a timeout)."""

SandboxChoice = BackendName | SandboxSettings
"""Where agents given `run_python` or `run_shell` run code: "auto" (the first of
bubblewrap, Docker, Podman that works here), one of them by name, "none" (directly,
unconfined), or `SandboxSettings` with limits and an image."""

Database = bool | str | os.PathLike[str]
"""Where a session is recorded: False, nowhere; True, the database `huddle sessions`
shows (`--db`'s default: $HUDDLE_DB, config.toml's `db`, else the user data folder);
or a SQLite file's path or a PostgreSQL address."""


@dataclass(frozen=True)
class Setup:
    """Everything a session needs, made from the API's arguments."""

    spec: SessionSpec
    provider: Provider
    config: EngineConfig
    db: Path | str | None
    """The database it is recorded into; None: not recorded."""


def setup(
    task: str, *, team: TeamSpec | None, pattern: str, provider: str | None, policy: PolicyChoice,
    limits: Limits | None, options: Mapping[str, Any] | None, seed: int, speed: float, record: Database,
    sandbox: SandboxChoice,
) -> Setup:
    """The session the arguments describe; `ValueError` (one line) for any mistake: an
    unknown pattern or provider, a missing API key, options the pattern does not take, a
    team whose agents run code where no sandbox works. It is set up as the command line
    sets one up (`tui.setup.assemble`): the user's config (config.toml, with the providers'
    keys and addresses from the environment over it), prices, the sandbox check, and a
    trace where OTEL_EXPORTER_OTLP_ENDPOINT says."""
    from tui.setup import RunChoices, assemble  # here: `import huddle` loads nothing of the app
    from tui.userfiles import load_config

    user = load_config()

    def spec() -> SessionSpec:
        members = team if team is not None else get_pattern(pattern).team()
        return SessionSpec(
            task=task, pattern=pattern, team=assign(members, SIMULATED, provider, user), limits=limits or Limits(),
            policy=approval_policy(policy), seed=seed, options=dict(options or {}),
            sandbox=SandboxSettings.model_validate(sandbox),
        )

    made = assemble(spec, RunChoices(speed=speed), user)  # as the command line sets a session up (a one-line ValueError)
    return Setup(made.spec, made.provider, made.config, _database(record))


def approval_policy(policy: PolicyChoice) -> ApprovalPolicy:
    """The policy a choice stands for: a mode for every trigger, or the policy given."""
    if isinstance(policy, ApprovalPolicy):
        return policy
    if policy not in get_args(Mode):
        raise ValueError(f"policy {policy!r}: give 'ask', 'approve', 'reject' or an ApprovalPolicy")
    return ApprovalPolicy().decided_by(policy)


def asks(policy: ApprovalPolicy) -> bool:
    """Whether some escalation would wait for a person, with no timeout to end the wait."""
    if policy.timeout_s is not None:
        return False
    modes = {policy.default, *policy.triggers.values(), *policy.tools.values()}
    return "ask" in modes


def _database(record: Database) -> Path | str | None:
    """The database `record` names (True: the one `huddle sessions` shows); None when the
    session is not recorded."""
    from tui.userfiles import database

    if record is False:
        return None
    if record is not True and not str(record).strip():
        raise ValueError("record: give True, a database file's path or a PostgreSQL address")
    return database(None if record is True else str(record))

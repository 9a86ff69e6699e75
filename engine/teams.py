"""Team files: a team, its pattern, budgets, approval policy and provider, in TOML.

    name = "api-review"
    description = "Reviews API designs"
    pattern = "orchestrator"
    provider = "simulated"          # or "anthropic"
    lead = "lead"

    [options]                       # the pattern's options (huddle patterns lists them)
    max_plan_revisions = 2

    [budgets]                       # tokens, cost (USD), turns, seconds
    cost = 2.0

    [approval]                      # default: ask | approve | reject
    default = "ask"
    triggers = { budget = "approve" }

    [[agents]]
    name = "lead"
    role = "lead engineer"
    model = "claude-opus-5-5"
    system_prompt = "..."
    effort = "high"
    max_tokens = 4096
    tools = ["list_files", "read_file"]   # read the folder huddle runs in; each use asks first

A member that is itself a team has `pattern = "..."` and an `[agents.team]`
table with its own `lead` and `agents`. Every pattern ships a preset team,
named after the pattern; `huddle teams new NAME --from PRESET` writes an
editable copy into the config directory's `teams/` folder.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.agents import AgentSpec, TeamSpec
from engine.approvals import one_line
from engine.budgets import Limits
from engine.config import config_dir
from engine.patterns import PATTERNS, UnknownPattern, get_pattern
from engine.policy import ApprovalPolicy

PRESET_BUDGETS = Limits(cost=2.0, turns=40, seconds=1800)
"""Presets are meant to be safe to point at a real model: a couple of dollars at most."""


class TeamFileError(ValueError):
    """A team file that cannot run; the message names the file, the key path and the problem."""


class TeamFile(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str
    description: str = ""
    pattern: str = "orchestrator"
    provider: Literal["simulated", "anthropic"] = "simulated"
    lead: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    budgets: Limits = Field(default_factory=Limits)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    agents: list[AgentSpec] = Field(min_length=1)

    def team(self) -> TeamSpec:
        return TeamSpec(name=self.name, description=self.description, lead=self.lead, agents=tuple(self.agents))


def parse_team_file(text: str, source: str) -> TeamFile:
    """A validated team file from TOML text; TeamFileError names `source`, the key path and the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TeamFileError(f"{source}: not valid TOML: {error}") from None
    try:
        team_file = TeamFile.model_validate(raw)
        team_file.team()
    except ValidationError as error:
        raise TeamFileError(f"{source}: {one_line(error)}") from None
    try:
        pattern = get_pattern(team_file.pattern)
        pattern.parse_options(team_file.options)
    except UnknownPattern as error:
        raise TeamFileError(f"{source}: pattern: {error}") from None
    except ValueError as error:
        raise TeamFileError(f"{source}: options: {error}") from None
    return team_file


def load_team_file(path: Path) -> TeamFile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TeamFileError(f"{path}: no such team file") from None
    except OSError as error:
        raise TeamFileError(f"{path}: cannot read it: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise TeamFileError(f"{path}: not UTF-8 text (byte {error.start + 1}); save it as UTF-8") from None
    return parse_team_file(text, str(path))


# -- presets and the user's teams ---------------------------------------------------


def preset(name: str) -> TeamFile:
    """The preset team of a pattern, as a team file."""
    pattern = get_pattern(name)
    team = pattern.team()
    return TeamFile(
        name=name,
        description=team.description or pattern.summary,
        pattern=name,
        lead=team.lead,
        options=pattern.options().model_dump(mode="json", exclude_none=True),
        budgets=PRESET_BUDGETS,
        approval=ApprovalPolicy(),
        agents=list(team.agents),
    )


def teams_dir() -> Path:
    return config_dir() / "teams"


def user_team_paths() -> list[Path]:
    folder = teams_dir()
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def resolve_team(name_or_path: str) -> TeamFile:
    """A team by file path, by the name of a file in the teams folder, or by preset name."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        return load_team_file(path)
    user_file = teams_dir() / f"{name_or_path}.toml"
    if user_file.exists():
        return load_team_file(user_file)
    if name_or_path in PATTERNS:
        return preset(name_or_path)
    known = [p.stem for p in user_team_paths()] + list(PATTERNS)
    raise TeamFileError(f"no team called {name_or_path!r}; choose from {', '.join(known)} or give a .toml path")


def to_toml(team_file: TeamFile) -> str:
    """The team file as TOML a person can read and edit."""
    import tomli_w

    data = team_file.model_dump(mode="json", exclude={"agents"})
    data["agents"] = [_agent_data(agent) for agent in team_file.agents]
    return tomli_w.dumps(_without_none(data), multiline_strings=True)


def _without_none(value: Any) -> Any:
    """TOML has no null: leave unset keys out."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _agent_data(agent: AgentSpec) -> dict[str, Any]:
    data = agent.model_dump(mode="json", exclude={"team"})
    for empty in ("capabilities", "tools", "system_prompt"):  # empty ones left out
        if not data.get(empty):
            data.pop(empty, None)
    if agent.team is not None:
        data["team"] = {
            "name": agent.team.name,
            "description": agent.team.description or None,
            "lead": agent.team.lead,
            "agents": [_agent_data(member) for member in agent.team.agents],
        }
    return data


NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


def write_team_file(name: str, team_file: TeamFile, *, overwrite: bool = False) -> Path:
    """Save a copy in the teams folder; TeamFileError if the name is bad or the file exists."""
    if not NAME_RE.match(name):
        raise TeamFileError(f"team name {name!r}: use lowercase letters, digits, '-' and '_'")
    path = teams_dir() / f"{name}.toml"
    if path.exists() and not overwrite:
        raise TeamFileError(f"{path} already exists; pick another name or pass --force")
    path.parent.mkdir(parents=True, exist_ok=True)
    copy = team_file.model_copy(update={"name": name})
    path.write_text(f"# huddle team file, made from the {team_file.name!r} preset\n" + to_toml(copy), encoding="utf-8")
    return path

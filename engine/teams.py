"""Team files: a team, its pattern, budgets, approval policy and provider, in TOML.

    name = "api-review"
    description = "Reviews API designs"
    pattern = "orchestrator"
    provider = "simulated"          # the team's provider: anthropic, openai, one of yours
                                    # (huddle providers); an agent may name its own
    lead = "lead"

    [options]                       # the pattern's options (huddle patterns lists them)
    max_plan_revisions = 2

    [budgets]                       # tokens, cost (USD), turns, seconds
    cost = 2.0

    [approval]                      # default: ask | approve | reject
    default = "ask"
    triggers = { budget = "approve" }
    tools = { "read_file" = "approve", "*.delete*" = "reject" }   # per tool: reject > ask > approve

    [[agents]]
    name = "lead"
    role = "lead engineer"
    model = "claude-opus-5-5"
    provider = "anthropic"          # this agent's, over the team's
    system_prompt = "..."
    effort = "high"
    max_tokens = 4096
    tools = ["list_files", "read_file"]   # read the folder huddle runs in; each use asks first
                                          # "git.*", "docs.search": an MCP server's tools
                                          # "run_python", "run_shell": run code in a sandbox
                                          # (by exact name only: a glob never gives them)

    [sandbox]                       # where code runs (or: sandbox = "none", unconfined)
    backend = "auto"                # auto (bubblewrap, docker, podman) | one of them | none
    image = "python:3.12-slim"      # docker, podman
    wall_s = 30                     # limits: seconds, CPU seconds, MB, processes, KB printed
    cpu_s = 30
    memory_mb = 512
    processes = 64
    output_kb = 64

    [[mcp_servers]]                 # tools from MCP servers (config.toml's are every team's;
    name = "git"                    # one here of the same name replaces it)
    command = ["uvx", "mcp-server-git", "--repository", "."]
    [[mcp_servers]]
    name = "docs"
    url = "http://127.0.0.1:8765/mcp"
    headers = { Authorization = "env:DOCS_TOKEN" }   # read from the environment

A member that is itself a team has `pattern = "..."` and an `[agents.team]`
table with its own `lead` and `agents`. Every pattern ships a preset team,
named after the pattern: a team file in `engine/presets/`, read by the same
parser as the user's own. This module holds the model and the parsing; the
user's team files are found, read and written by `tui.userfiles`.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from engine.agents import NAME_RE, AgentSpec, TeamSpec
from engine.budgets import Limits
from engine.formats import one_line
from engine.mcp.spec import McpServer, merged, unique_names
from engine.patterns import UnknownPattern, get_pattern
from engine.policy import ApprovalPolicy
from engine.sandbox.settings import SandboxSettings


class TeamFileError(ValueError):
    """A team file that cannot run; the message names the file, the key path and the problem."""


class TeamFile(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str
    description: str = ""
    pattern: str = "orchestrator"
    provider: str = "simulated"
    """The provider of every agent that names none; `--provider` puts the whole team on one."""
    lead: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    budgets: Limits = Field(default_factory=Limits)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    agents: list[AgentSpec] = Field(min_length=1)
    mcp_servers: list[McpServer] = Field(default_factory=list)
    """MCP servers whose tools the agents may use (see `engine.mcp.spec`)."""
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    """Where agents given `run_python` or `run_shell` run code, and its limits (`engine.sandbox.settings`)."""

    @field_validator("mcp_servers")
    @classmethod
    def _servers_unique(cls, value: list[McpServer]) -> list[McpServer]:
        return unique_names(value)

    @model_validator(mode="after")
    def _servers_declared(self, info: ValidationInfo) -> TeamFile:
        """Every server an agent's tools name is declared here or in config.toml (the
        `shared_servers` of the validation context)."""
        shared = (info.context or {}).get("shared_servers", ())
        declared = {server.name for server in [*self.mcp_servers, *shared]}
        members = [m for agent in self.agents for m in [agent, *(agent.team.members() if agent.team else [])]]
        for agent in members:
            missing = sorted(agent.mcp_servers_named() - declared)
            if missing:
                raise ValueError(
                    f"agent {agent.name!r} uses tools of server {missing[0]!r}, which is not declared "
                    "(add an [[mcp_servers]] table for it here or in config.toml)"
                )
        return self

    @field_validator("provider")
    @classmethod
    def _provider_ok(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a provider's name (huddle providers lists them)")
        return value

    def team(self) -> TeamSpec:
        return TeamSpec(name=self.name, description=self.description, lead=self.lead, agents=tuple(self.agents))

    def servers(self, shared: tuple[McpServer, ...] | list[McpServer] = ()) -> tuple[McpServer, ...]:
        """The MCP servers a session of this team starts: `shared` (config.toml's) with the
        team's own over them, only those some agent's tools use."""
        team = self.team()
        return tuple(server for server in merged(shared, self.mcp_servers) if team.uses_server(server.name))


def parse_team_file(text: str, source: str, shared_servers: tuple[McpServer, ...] | list[McpServer] = ()) -> TeamFile:
    """A validated team file from TOML text; TeamFileError names `source`, the key path and the problem.
    `shared_servers` (config.toml's) may be named by the agents' tools as well as the file's own."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TeamFileError(f"{source}: not valid TOML: {error}") from None
    try:
        team_file = TeamFile.model_validate(raw, context={"shared_servers": tuple(shared_servers)})
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


# -- presets ------------------------------------------------------------------------


@cache
def preset_text(name: str) -> str:
    """The preset team file of pattern `name`, as shipped (comments and all): what a
    copy of it starts from. UnknownPattern says which patterns there are."""
    get_pattern(name)
    return (resources.files("engine") / "presets" / f"{name}.toml").read_text(encoding="utf-8")


def preset(name: str) -> TeamFile:
    """The preset team of pattern `name`, read by the same parser as the user's team files.
    Presets are safe to point at a real model: a couple of dollars at most."""
    return parse_team_file(preset_text(name), f"presets/{name}.toml")


def to_toml(team_file: TeamFile) -> str:
    """The team file as TOML a person can read and edit."""
    import tomli_w

    data = team_file.model_dump(mode="json", exclude={"agents"})
    data["agents"] = [_agent_data(agent) for agent in team_file.agents]
    data["mcp_servers"] = [{k: v for k, v in server.items() if v not in ({}, None)} for server in data["mcp_servers"]]
    if not data["mcp_servers"]:
        del data["mcp_servers"]
    if not data["approval"]["tools"]:  # no tool rules: no empty table
        del data["approval"]["tools"]
    if team_file.sandbox == SandboxSettings():  # the defaults: no table
        del data["sandbox"]
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

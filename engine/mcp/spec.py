"""`McpServer`: one MCP server a team's agents may use, as a team file or config.toml declares it.

    [[mcp_servers]]
    name = "git"
    command = ["uvx", "mcp-server-git", "--repository", "."]   # stdio: huddle starts it
    env = { GIT_AUTHOR = "huddle" }                            # optional; a value "env:NAME"
    cwd = "."                                                  # is read from the environment

    [[mcp_servers]]
    name = "docs"
    url = "http://127.0.0.1:8765/mcp"                          # streamable HTTP
    headers = { Authorization = "env:DOCS_TOKEN" }

A value written "env:NAME" is read from huddle's environment when the session
starts (the front end hands it over: `EngineConfig.environment`); a variable
that is not set stops that server with a one-line error naming it. Values are never recorded: events carry the server's name and tools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.redaction import SECRET_ENV

SERVER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
"""What a server may be called: its tools are "NAME.tool" to agents and "NAME__tool" to models,
so it holds neither '.' nor '_'."""

FROM_ENV = "env:"
HIDDEN = "<hidden>"
"""What a literal env or header value reads as where it may not be shown or kept."""


class McpServerError(ValueError):
    """A server that cannot be started as declared (an environment variable not set)."""


class McpServer(BaseModel):
    """One MCP server: started by huddle over stdio (`command`) or reached over
    streamable HTTP (`url`), with how long to wait for it."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str
    """Lowercase id; the server's tools are "name.tool" (e.g. "git.status")."""
    command: tuple[str, ...] | None = None
    """The program and its arguments, started over stdio for the session."""
    env: dict[str, str] = Field(default_factory=dict)
    """Variables added to the command's environment (a value "env:NAME" is read from huddle's)."""
    cwd: str | None = None
    """The folder the command runs in; default: where huddle runs."""
    url: str | None = None
    """A streamable-HTTP server's address."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every HTTP request (a value "env:NAME" is read from the environment)."""
    startup_timeout: float = Field(default=20.0, gt=0, le=600)
    """Seconds the server has to start and list its tools."""
    call_timeout: float = Field(default=60.0, gt=0, le=3600)
    """Seconds one tool call may take before it fails as too slow."""

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not SERVER_NAME.match(value):
            raise ValueError(
                f"{value!r}: a server's name starts with a lowercase letter and holds only a-z, 0-9 and '-' "
                "(at most 32 characters)"
            )
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> McpServer:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"server {self.name!r}: give exactly one of command (stdio) or url (streamable HTTP)")
        if self.command is not None and (not self.command or not self.command[0].strip()):
            raise ValueError(f"server {self.name!r}: command is empty")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"server {self.name!r}: url must start with http:// or https://")
        if self.url is not None and (self.env or self.cwd):
            raise ValueError(f"server {self.name!r}: env and cwd are for a command; an HTTP server takes headers")
        if self.command is not None and self.headers:
            raise ValueError(f"server {self.name!r}: headers are for a url; a command takes env")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    def resolved_env(self, environment: Mapping[str, str]) -> dict[str, str]:
        """`env` with every "env:NAME" read from `environment`; McpServerError names a
        variable that is not set."""
        return {key: self._value(key, value, "env", environment) for key, value in self.env.items()}

    def resolved_headers(self, environment: Mapping[str, str]) -> dict[str, str]:
        """`headers` with every "env:NAME" read from `environment`; McpServerError names a
        variable that is not set."""
        return {key: self._value(key, value, "headers", environment) for key, value in self.headers.items()}

    def _value(self, key: str, value: str, table: str, environment: Mapping[str, str]) -> str:
        if not value.startswith(FROM_ENV):
            return value
        variable = value[len(FROM_ENV):].strip()
        found = environment.get(variable)
        if not found:
            raise McpServerError(f"{table}.{key} reads ${variable}, which is not set")
        return found

    def secrets(self, environment: Mapping[str, str]) -> tuple[str, ...]:
        """The values this server is given that may be secrets: everything read from the
        environment, and literal values under secret-sounding names ("Authorization",
        "API_TOKEN"). Unresolvable ones are left out (the server does not start then)."""
        found: list[str] = []
        for table in (self.env, self.headers):
            for key, value in table.items():
                if value.startswith(FROM_ENV):
                    value = environment.get(value[len(FROM_ENV):].strip(), "")
                elif not SECRET_ENV.search(key):
                    continue
                for part in (value, *value.split()):  # "Bearer abc...": the token on its own too
                    if len(part) >= 8:
                        found.append(part)
        return tuple(dict.fromkeys(found))

    def hidden(self) -> McpServer:
        """This server with each literal env and header value written `HIDDEN` (it may be
        a token), "env:NAME" references kept: what a listing prints and a record holds."""

        def hide(table: dict[str, str]) -> dict[str, str]:
            return {key: value if value.startswith(FROM_ENV) else HIDDEN for key, value in table.items()}

        return self.model_copy(update={"env": hide(self.env), "headers": hide(self.headers)})

    def hidden_values(self) -> list[str]:
        """The env and header keys whose values are `HIDDEN` ("env.API_TOKEN"): a server
        read back from a record cannot be started with them."""
        return [f"{table}.{key}" for table, values in (("env", self.env), ("headers", self.headers))
                for key, value in values.items() if value == HIDDEN]

    def described(self) -> str:
        """How it is reached, for a listing: the command or the address (no values of env or headers)."""
        if self.command is not None:
            return " ".join(self.command)
        return str(self.url)


def merged(shared: tuple[McpServer, ...] | list[McpServer], own: tuple[McpServer, ...] | list[McpServer]) -> tuple[McpServer, ...]:
    """config.toml's servers with a team's own over them (a team's server replaces a shared
    one of the same name)."""
    by_name = {server.name: server for server in shared}
    by_name.update({server.name: server for server in own})
    return tuple(by_name.values())


def unique_names(servers: list[McpServer]) -> list[McpServer]:
    """`servers`, or ValueError naming one declared twice in the same file."""
    seen: set[str] = set()
    for server in servers:
        if server.name in seen:
            raise ValueError(f"server {server.name!r} is declared twice")
        seen.add(server.name)
    return servers

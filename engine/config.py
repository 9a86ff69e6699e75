"""The user's huddle configuration: providers (their keys, addresses, models) and prices.

`config.toml` (in the config folder; `tui.userfiles` finds and reads it) may hold:

    api_key = "sk-ant-..."          # Anthropic; ANTHROPIC_API_KEY wins when both are set
    base_url = "https://gateway"    # Anthropic; ANTHROPIC_BASE_URL wins when both are set

    [providers.openai]              # the built-in OpenAI provider; OPENAI_API_KEY and
    model = "gpt-5-mini"            # OPENAI_BASE_URL win when set

    [providers.ollama]              # any server that speaks the OpenAI Chat Completions API
    kind = "openai"
    base_url = "http://localhost:11434/v1"
    model = "llama3.2"              # no key needed on a local server

    [providers.openrouter]          # a gateway, its key read from the environment
    kind = "openai"
    base_url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"

    [[mcp_servers]]                 # MCP servers every team may use (a team file's own
    name = "git"                    # server of the same name replaces one of these)
    command = ["uvx", "mcp-server-git", "--repository", "."]

    db = "postgresql://ana@db.internal/huddle"   # the session database, when neither --db
                                    # nor HUDDLE_DB says (a file's path, or a PostgreSQL address)

    [prices."claude-sonnet-5-5"]    # US dollars per million tokens
    input = 2.0
    output = 10.0
    cache_write = 2.5
    cache_read = 0.1

Keys are held as secrets: never shown, logged, recorded or exported.
"""

from __future__ import annotations

import tomllib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from engine.agents import NAME_RE
from engine.formats import one_line
from engine.mcp.spec import McpServer, unique_names
from engine.pricing import Price, PriceTable, price_of


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the key."""


class PriceOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    """Default: 1.25 x input."""
    cache_read: float | None = Field(default=None, ge=0)
    """Default: 0.1 x input."""

    def price(self) -> Price:
        return price_of(self.input, self.output, cache_write=self.cache_write, cache_read=self.cache_read)


OPENAI_MODEL = "gpt-5-mini"
"""The model agents run on the built-in OpenAI provider when it is chosen for a whole team."""

PROVIDER_NAME = NAME_RE
"""What a provider may be called, as an agent may: it is typed on the command line and in team files."""


class Endpoint(BaseModel):
    """A provider a team can name: a kind of API at an address, with its key and model."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: str | None = None
    """The API it speaks: "anthropic", "openai" (every Chat Completions server), or a
    plug-in's kind. Default: its own name (so `[providers.openai]` needs none)."""
    base_url: str | None = None
    """Where the API is; default: the kind's own (api.openai.com, api.anthropic.com)."""
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    """The environment variable that holds the key, instead of writing it here."""
    model: str | None = None
    """The model every agent runs on it when it is chosen for a whole team (--provider)."""
    structured: Literal["auto", "json_schema", "tool"] = "auto"
    """How structured replies are asked of an OpenAI-compatible server: its JSON-schema
    response format, a forced function call, or the first and then the second if refused."""

    def key(self) -> str | None:
        """The key to use; None when none is set (or it is blank)."""
        key = self.api_key.get_secret_value() if self.api_key else ""
        return key.strip() or None


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    api_key: SecretStr | None = None
    """Anthropic's key (the same as `[providers.anthropic] api_key`)."""
    base_url: str | None = None
    """Anthropic's address (the same as `[providers.anthropic] base_url`)."""
    providers: dict[str, Endpoint] = Field(default_factory=dict)
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    mcp_servers: list[McpServer] = Field(default_factory=list)
    """MCP servers shared by every team (`engine.mcp.spec`); a team's own override them by name."""
    db: SecretStr | None = None
    """The session database when neither `--db` nor `HUDDLE_DB` names one: a file's path or a
    PostgreSQL address (held as a secret: an address may carry a password)."""

    @field_validator("mcp_servers")
    @classmethod
    def _servers_unique(cls, value: list[McpServer]) -> list[McpServer]:
        return unique_names(value)

    @field_validator("providers")
    @classmethod
    def _names_ok(cls, value: dict[str, Endpoint]) -> dict[str, Endpoint]:
        for name in value:
            if not PROVIDER_NAME.match(name):
                raise ValueError(
                    f"{name!r}: a provider's name starts with a lowercase letter and holds only a-z, 0-9, '-' or '_'"
                )
        return value

    def endpoints(self) -> dict[str, Endpoint]:
        """Every provider endpoint this config names: the built-in ones ("anthropic",
        "openai"), with what the config sets on them, then its own, each with its kind."""
        found = {"anthropic": Endpoint(kind="anthropic", api_key=self.api_key, base_url=self.base_url),
                 "openai": Endpoint(kind="openai", model=OPENAI_MODEL)}
        for name, endpoint in self.providers.items():
            base = found.get(name, Endpoint(kind=name))
            found[name] = base.model_copy(update={field: getattr(endpoint, field) for field in endpoint.model_fields_set})
        return found

    def price_table(self) -> PriceTable:
        return PriceTable({model: override.price() for model, override in self.prices.items()})


def parse_config(text: str, source: str) -> UserConfig:
    """The config from TOML text; ConfigError names `source`, the key and the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    try:
        return UserConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source}: {one_line(error)}") from None

"""The user's huddle configuration: the Anthropic key and gateway, prices.

`config.toml` (in the config folder; `tui.userfiles` finds and reads it) may hold:

    api_key = "sk-ant-..."          # ANTHROPIC_API_KEY wins when both are set
    base_url = "https://gateway"    # ANTHROPIC_BASE_URL wins when both are set

    [prices."claude-sonnet-5-5"]    # US dollars per million tokens
    input = 2.0
    output = 10.0
    cache_write = 2.5
    cache_read = 0.1

The key is held as a secret: it is never shown, logged, recorded or exported.
"""

from __future__ import annotations

import tomllib

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.formats import one_line
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


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    api_key: SecretStr | None = None
    base_url: str | None = None
    prices: dict[str, PriceOverride] = Field(default_factory=dict)

    def anthropic_key(self) -> str | None:
        """The key to use; None when none is set (or it is blank)."""
        key = self.api_key.get_secret_value() if self.api_key else ""
        return key.strip() or None

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

"""The user's huddle configuration: where it lives, the Anthropic key and gateway, prices.

`config.toml` in the platform's config directory (HUDDLE_CONFIG_DIR overrides
it) may hold:

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

import os
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.approvals import one_line
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
        """The key to use: ANTHROPIC_API_KEY, else the config's; None when neither is set."""
        key = os.environ.get("ANTHROPIC_API_KEY") or (self.api_key.get_secret_value() if self.api_key else "")
        return key.strip() or None

    def anthropic_base_url(self) -> str | None:
        return os.environ.get("ANTHROPIC_BASE_URL") or self.base_url

    def price_table(self) -> PriceTable:
        return PriceTable({model: override.price() for model, override in self.prices.items()})


def config_dir() -> Path:
    override = os.environ.get("HUDDLE_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("huddle", appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def load_config(path: Path | None = None) -> UserConfig:
    """The user's config (empty when there is no file); ConfigError naming the problem."""
    path = path or config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return UserConfig()
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start + 1}); save it as UTF-8") from None
    try:
        return UserConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{path}: {one_line(error)}") from None

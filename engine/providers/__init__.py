"""Model providers: the simulated default, and Anthropic (imported only when used)."""

from __future__ import annotations

from engine.config import UserConfig
from engine.providers.base import Provider
from engine.providers.faults import Fault
from engine.providers.simulated import SimulatedProvider

PROVIDERS = ("simulated", "anthropic")


class ProviderSetupError(ValueError):
    """A provider that cannot be used as asked (no key, faults on a real model)."""


def make_provider(
    name: str, config: UserConfig, *, seed: int = 0, speed: float = 1.0, faults: tuple[Fault, ...] = (),
    config_file: str = "the huddle config",
) -> Provider:
    """The provider called `name`; ProviderSetupError says what to fix (naming
    `config_file`, where the user's config lives, when a key is missing)."""
    if name == "simulated":
        return SimulatedProvider(seed=seed, speed=speed, faults=faults)
    if name != "anthropic":
        raise ProviderSetupError(f"unknown provider {name!r}; choose from {', '.join(PROVIDERS)}")
    if faults:
        raise ProviderSetupError("faults are injected by the simulated provider only; drop --faults or use --provider simulated")
    key = config.anthropic_key()
    if key is None:
        raise ProviderSetupError(
            f"no Anthropic API key: set ANTHROPIC_API_KEY or add api_key to {config_file}"
        )
    from engine.providers.anthropic import AnthropicProvider

    return AnthropicProvider(api_key=key, base_url=config.base_url)

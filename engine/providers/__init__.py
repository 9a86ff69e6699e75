"""Model providers: the simulated default, Anthropic, every OpenAI-compatible server,
and plug-ins; the SDKs are imported only when a provider that needs one is made.

A provider is named in a team file (for the team, or per agent) or on the command
line. The names are "simulated", the user's endpoints (`UserConfig.endpoints`: the
built-in "anthropic" and "openai", and every `[providers.NAME]` of config.toml), and
the kinds plug-ins add. A plug-in is a package with an entry point in the group
`huddle.providers`: its name is the kind, its object a factory called with the
endpoint's name and settings that returns a `Provider`:

    [project.entry-points."huddle.providers"]
    mykind = "my_package.provider:make"     # def make(name: str, endpoint: Endpoint) -> Provider
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from engine.agents import AgentSpec, TeamSpec
from engine.config import Endpoint, UserConfig
from engine.providers.base import Provider
from engine.providers.faults import Fault
from engine.providers.routing import ByAgent
from engine.providers.simulated import SimulatedProvider

SIMULATED = "simulated"
ENTRY_POINTS = "huddle.providers"
Factory = Callable[[str, Endpoint], Provider]


class ProviderSetupError(ValueError):
    """A provider that cannot be used as asked (unknown, no key, faults on a real model)."""


def _anthropic(name: str, endpoint: Endpoint, config_file: str) -> Provider:
    from engine.providers.anthropic import AnthropicProvider

    provider = AnthropicProvider(api_key=endpoint.key() or "", base_url=endpoint.base_url)
    provider.name = name
    return provider


def _openai(name: str, endpoint: Endpoint, config_file: str) -> Provider:
    from engine.providers.openai import OpenAIProvider

    return OpenAIProvider(
        name=name, api_key=endpoint.key(), base_url=endpoint.base_url, structured=endpoint.structured,
        key_hint=key_hint(name, endpoint, config_file),
    )


BUILT_IN: dict[str, Callable[[str, Endpoint, str], Provider]] = {"anthropic": _anthropic, "openai": _openai}
"""The kinds of API huddle speaks itself."""


def kinds() -> list[str]:
    """Every kind of provider: the built-in ones, then the plug-ins' (loaded when made)."""
    return list(dict.fromkeys([*BUILT_IN, *(point.name for point in entry_points(group=ENTRY_POINTS))]))


def _plugin(kind: str) -> Factory:
    for point in entry_points(group=ENTRY_POINTS, name=kind):
        try:
            return point.load()
        except Exception as error:  # noqa: BLE001 - a broken plug-in is one line, not a traceback
            raise ProviderSetupError(f"the {kind!r} provider plug-in ({point.value}) failed to load: {error}") from None
    raise ProviderSetupError(f"no provider plug-in of kind {kind!r} is installed")


def endpoints(config: UserConfig) -> dict[str, Endpoint]:
    """Every provider a team can name but the simulated one, by name: the config's
    endpoints, then each plug-in kind not configured, with its default settings."""
    found = config.endpoints()
    for kind in kinds():
        found.setdefault(kind, Endpoint(kind=kind))
    return found


def names(config: UserConfig) -> list[str]:
    """Every provider name, the simulated one first."""
    return [SIMULATED, *endpoints(config)]


def key_hint(name: str, endpoint: Endpoint, config_file: str) -> str:
    """Where this endpoint's key is set."""
    if name == "anthropic":
        return f"set ANTHROPIC_API_KEY or add api_key to {config_file}"
    variable = endpoint.api_key_env or ("OPENAI_API_KEY" if name == "openai" else None)
    table = f"add api_key to [providers.{name}] in {config_file}"
    return f"set {variable} or {table}" if variable else table


def missing(name: str, endpoint: Endpoint, config_file: str) -> str | None:
    """What must be set before this endpoint can be used, in a line; None when nothing."""
    kind = endpoint.kind or name
    if kind not in BUILT_IN and kind not in kinds():  # a plug-in's: only then are they looked for
        return f"its kind {kind!r} is not one huddle knows (built in: {', '.join(BUILT_IN)}; or install a plug-in)"
    if endpoint.key() is None and (endpoint.api_key_env or _needs_key(kind, endpoint)):
        return f"no API key: {key_hint(name, endpoint, config_file)}"
    return None


def _needs_key(kind: str, endpoint: Endpoint) -> bool:
    """Anthropic always does; an OpenAI-compatible server only at OpenAI itself (a local
    server or a gateway that takes none does not); a plug-in says so when it is made."""
    if kind == "anthropic":
        return True
    if kind == "openai":
        return endpoint.base_url is None or urlsplit(endpoint.base_url).hostname == "api.openai.com"
    return False


def unknown(name: str, config: UserConfig, who: str = "") -> ProviderSetupError:
    """The error for a provider name nobody declared, with the names there are."""
    return ProviderSetupError(f"{who}unknown provider {name!r}; choose from {', '.join(names(config))} (huddle providers lists them)")


def make_provider(
    name: str, config: UserConfig, *, seed: int = 0, speed: float = 1.0, faults: tuple[Fault, ...] = (),
    config_file: str = "the huddle config",
) -> Provider:
    """The provider called `name`; ProviderSetupError says what to fix (naming
    `config_file`, where the user's config lives, when a key is missing)."""
    if name == SIMULATED:
        return SimulatedProvider(seed=seed, speed=speed, faults=faults)
    if faults:
        raise ProviderSetupError("faults are injected by the simulated provider only; drop --faults or use --provider simulated")
    endpoint = endpoints(config).get(name)
    if endpoint is None:
        raise unknown(name, config)
    problem = missing(name, endpoint, config_file)
    if problem is not None:
        raise ProviderSetupError(f"provider {name!r}: {problem}")
    kind = endpoint.kind or name
    try:
        return BUILT_IN[kind](name, endpoint, config_file) if kind in BUILT_IN else _plugin(kind)(name, endpoint)
    except ValueError as error:
        raise ProviderSetupError(f"provider {name!r}: {error}") from None


def assign(team: TeamSpec, default: str, override: str | None, config: UserConfig) -> TeamSpec:
    """The team with every agent's provider named, at every level: `override` for all when
    given (a whole team put on one provider, each agent on that provider's `model` when it
    has one), else the agent's own, else `default` (the team file's). ProviderSetupError
    names a provider that does not exist."""
    known = endpoints(config)
    model = known[override].model if override in known else None
    if override is not None and override != SIMULATED and override not in known:
        raise unknown(override, config)

    def placed(agent: AgentSpec) -> AgentSpec:
        if agent.team is not None:
            return agent.model_copy(update={"team": on(agent.team)})
        if override is not None:
            return agent.model_copy(update={"provider": override, "model": model or agent.model})
        return agent.model_copy(update={"provider": agent.provider or default})

    def on(members: TeamSpec) -> TeamSpec:
        return members.model_copy(update={"agents": tuple(placed(agent) for agent in members.agents)})

    placed_team = on(team)
    for agent in placed_team.callers():
        if agent.provider != SIMULATED and agent.provider not in known:
            raise unknown(str(agent.provider), config, f"agent {agent.name!r}: ")
    return placed_team


def team_provider(
    team: TeamSpec, config: UserConfig, *, seed: int = 0, speed: float = 1.0, faults: tuple[Fault, ...] = (),
    config_file: str = "the huddle config",
) -> Provider:
    """What the session calls: the one provider its agents use, or, when they use several,
    one that sends each agent's calls to its own (`ByAgent`). The team comes from `assign`."""
    by_agent = {agent.name: agent.provider or SIMULATED for agent in team.callers()}
    used = list(dict.fromkeys(by_agent.values()))
    if faults and used != [SIMULATED]:
        raise ProviderSetupError("faults are injected by the simulated provider only; drop --faults or use --provider simulated")
    made = {
        name: make_provider(name, config, seed=seed, speed=speed, faults=faults, config_file=config_file)
        for name in used
    }
    return made[used[0]] if len(made) == 1 else ByAgent(made, by_agent)

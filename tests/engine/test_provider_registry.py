"""Which provider each agent runs on: endpoints from the config, the team file's
choices, `--provider` over them all, plug-ins, and one session on several providers."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.config import Endpoint, UserConfig, parse_config
from engine.providers import (
    ProviderSetupError,
    assign,
    endpoints,
    make_provider,
    missing,
    names,
    team_provider,
)
from engine.providers.routing import ByAgent
from engine.providers.simulated import SimulatedProvider
from engine.providers.base import ProviderError, ProviderRequest, Stop, TextDelta
from tests.helpers import ScriptedProvider, run

CONFIG = parse_config(
    '[providers.ollama]\nkind = "openai"\nbase_url = "http://localhost:11434/v1"\nmodel = "llama3.2"\n'
    '[providers.gateway]\nkind = "openai"\nbase_url = "https://gw.example/v1"\napi_key_env = "GW_KEY"\n'
    '[providers.openai]\nmodel = "gpt-5"\n',
    "config.toml",
)


def mixed_team() -> TeamSpec:
    member = TeamSpec(lead="boss", agents=(AgentSpec(name="boss", role="lead"), AgentSpec(name="helper", role="helper", provider="anthropic")))
    return TeamSpec(lead="lead", agents=(
        AgentSpec(name="lead", role="lead", model="claude-opus-5-5", provider="anthropic"),
        AgentSpec(name="coder", role="coder", model="qwen3"),
        AgentSpec(name="crew", role="a team", team=member),
    ))


def providers_of(team: TeamSpec) -> dict[str, tuple[str | None, str]]:
    return {agent.name: (agent.provider, agent.model) for agent in team.callers()}


def test_the_config_names_endpoints_over_the_built_in_ones():
    found = endpoints(CONFIG)
    assert list(found)[:2] == ["anthropic", "openai"]
    assert found["openai"].kind == "openai" and found["openai"].model == "gpt-5"  # the config's model over the default
    assert found["ollama"].kind == "openai" and found["ollama"].base_url == "http://localhost:11434/v1"
    assert names(CONFIG)[0] == "simulated" and "gateway" in names(CONFIG)
    assert endpoints(UserConfig())["openai"].model == "gpt-5-mini"


def test_what_each_endpoint_still_needs_is_one_line():
    found = endpoints(CONFIG)
    assert missing("ollama", found["ollama"], "c.toml") is None  # a local server takes no key
    assert missing("openai", found["openai"], "c.toml") == (
        "no API key: set OPENAI_API_KEY or add api_key to [providers.openai] in c.toml"
    )
    assert "set GW_KEY" in missing("gateway", found["gateway"], "c.toml")
    assert "ANTHROPIC_API_KEY" in missing("anthropic", found["anthropic"], "c.toml")
    assert "not one huddle knows" in missing("odd", Endpoint(kind="martian"), "c.toml")


def test_a_bad_provider_name_in_the_config_says_which():
    from engine.config import ConfigError

    with pytest.raises(ConfigError, match=r"^config.toml: providers: 'My Server': a provider's name starts"):
        parse_config('[providers."My Server"]\nkind = "openai"\n', "config.toml")


def test_agents_keep_their_own_providers_and_the_rest_take_the_teams():
    placed = assign(mixed_team(), "ollama", None, CONFIG)
    assert providers_of(placed) == {
        "lead": ("anthropic", "claude-opus-5-5"),
        "coder": ("ollama", "qwen3"),  # the team file's model: it named the provider
        "boss": ("ollama", "claude-sonnet-5-5"),
        "helper": ("anthropic", "claude-sonnet-5-5"),
    }


def test_one_provider_for_the_whole_team_puts_everyone_on_its_model():
    assert {p for p, _ in providers_of(assign(mixed_team(), "ollama", "simulated", CONFIG)).values()} == {"simulated"}
    on_ollama = providers_of(assign(mixed_team(), "simulated", "ollama", CONFIG))
    assert set(on_ollama.values()) == {("ollama", "llama3.2")}
    on_anthropic = providers_of(assign(mixed_team(), "simulated", "anthropic", CONFIG))
    assert on_anthropic["lead"] == ("anthropic", "claude-opus-5-5")  # no model of its own: the team file's


def test_an_unknown_provider_is_named_with_the_choices():
    with pytest.raises(ProviderSetupError, match=r"unknown provider 'nope'; choose from simulated, anthropic, openai, ollama, gateway"):
        assign(mixed_team(), "simulated", "nope", CONFIG)
    team = TeamSpec(agents=(AgentSpec(name="a", role="r", provider="lmstudio"),))
    with pytest.raises(ProviderSetupError, match=r"agent 'a': unknown provider 'lmstudio'"):
        assign(team, "simulated", None, CONFIG)


def test_a_team_on_one_provider_gets_that_provider_and_faults_need_the_simulated_one():
    team = assign(mixed_team(), "simulated", "simulated", CONFIG)
    assert isinstance(team_provider(team, CONFIG), SimulatedProvider)
    mixed = assign(mixed_team(), "simulated", None, CONFIG)
    from engine.providers.faults import parse_faults

    with pytest.raises(ProviderSetupError, match="faults are injected by the simulated provider only"):
        team_provider(mixed, CONFIG, faults=parse_faults("rate_limit"))


def test_a_provider_without_its_key_says_where_to_set_it():
    with pytest.raises(ProviderSetupError, match=r"provider 'gateway': no API key: set GW_KEY"):
        make_provider("gateway", CONFIG, config_file="config.toml")


class Echo:
    """A plug-in's provider."""

    def __init__(self, name: str, endpoint: Endpoint) -> None:
        self.name = name
        self.endpoint = endpoint

    async def stream(self, request):
        yield TextDelta(f"{self.name} echoes {request.agent}")
        yield Stop("end_turn")


async def test_a_plug_in_kind_is_listed_and_made_through_its_entry_point(monkeypatch):
    import engine.providers as providers

    point = EntryPoint(name="echo", value="tests.engine.test_provider_registry:Echo", group=providers.ENTRY_POINTS)
    monkeypatch.setattr(providers, "entry_points", lambda **which: [
        p for p in [point] if which.get("name") in (None, p.name)
    ])
    config = parse_config('[providers.mine]\nkind = "echo"\nbase_url = "http://127.0.0.1:9/"\n', "c")
    assert "echo" in providers.kinds() and "mine" in names(config)
    made = make_provider("mine", config)
    assert isinstance(made, Echo) and made.name == "mine" and made.endpoint.base_url == "http://127.0.0.1:9/"
    request = ProviderRequest(model="m", system="", messages=(), agent="coder")
    assert [event async for event in made.stream(request)] == [TextDelta("mine echoes coder"), Stop("end_turn")]
    assert isinstance(make_provider("echo", config), Echo)  # a plug-in kind is a provider of its own name too


def test_a_plug_in_that_fails_to_load_is_one_line(monkeypatch):
    import engine.providers as providers

    point = EntryPoint(name="broken", value="tests.no_such_module:make", group=providers.ENTRY_POINTS)
    monkeypatch.setattr(providers, "entry_points", lambda **which: [point])
    with pytest.raises(ProviderSetupError, match=r"the 'broken' provider plug-in \(tests.no_such_module:make\) failed to load"):
        make_provider("broken", UserConfig())


async def test_each_agents_calls_go_to_its_own_provider_and_every_key_is_kept_out():
    claude = ScriptedProvider(lambda request: f"claude answers {request.agent}")
    claude.name, claude.secrets = "anthropic", ("sk-ant-routing-secret-123",)
    def locally(request):  # the first attempt fails with an error that quotes the key
        if request.attempt == 1:
            return ProviderError("server", "upstream refused sk-local-routing-secret-456", retryable=True, status=502)
        return f"local answers {request.agent}"

    local = ScriptedProvider(locally)
    local.name, local.secrets = "ollama", ("sk-local-routing-secret-456",)
    team = TeamSpec(lead="lead", agents=(
        AgentSpec(name="lead", role="lead", provider="anthropic"),
        AgentSpec(name="coder", role="coder", provider="ollama"),
    ))
    routed = ByAgent({"anthropic": claude, "ollama": local}, {"lead": "anthropic", "coder": "ollama"})
    assert routed.name == "anthropic, ollama"

    async def one(ctx, task):
        return (await ctx.call("lead", task)) + " / " + (await ctx.call("coder", task))

    from engine import patterns
    from tests.helpers import pattern_info

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(patterns.PATTERNS, "two-calls", pattern_info("two-calls", one, lambda: team))
        ran = await run(routed, pattern="two-calls", team=team)
    assert ran.finished.status == "completed"
    assert ran.finished.result == "claude answers lead / local answers coder"
    assert [request.agent for request in local.requests] == ["coder", "coder"] and len(claude.requests) == 1
    assert ran.of("session.started")[0].provider == "anthropic, ollama"
    recorded = "".join(event.model_dump_json() for event in ran.events)
    assert "upstream refused" in recorded and "sk-local-routing-secret-456" not in recorded

"""Team files and the user config: every way a file can be wrong says where and what."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config
from engine.patterns import PATTERNS
from engine.teams import (
    TeamFileError,
    load_team_file,
    parse_team_file,
    preset,
    resolve_team,
    to_toml,
    write_team_file,
)

GOOD = '''
name = "api-review"
pattern = "orchestrator"
provider = "anthropic"
lead = "lead"

[options]
max_plan_revisions = 1

[budgets]
cost = 1.5
turns = 12

[approval]
default = "ask"
triggers = { budget = "approve" }

[[agents]]
name = "lead"
role = "lead engineer"
model = "claude-opus-5-5"
system_prompt = "Plan carefully."
effort = "high"
max_tokens = 4096

[[agents]]
name = "coder"
role = "software engineer"
capabilities = ["python"]
tools = ["read_file"]
'''


def test_a_good_team_file_gives_the_whole_session_setup():
    team_file = parse_team_file(GOOD, "api-review.toml")
    team = team_file.team()
    assert team.lead == "lead" and team.names == ("lead", "coder")
    lead = team.get("lead")
    assert (lead.model, lead.effort, lead.max_tokens, lead.system()) == ("claude-opus-5-5", "high", 4096, "Plan carefully.")
    assert team_file.provider == "anthropic"
    assert team_file.budgets.cost == 1.5 and team_file.budgets.turns == 12
    assert team_file.approval.mode_for("budget")[0] == "approve"
    assert team_file.options == {"max_plan_revisions": 1}
    assert team_file.team().get("coder").tools == ("read_file",)
    assert 'tools = [\n    "read_file",\n]' in to_toml(team_file) or 'tools = ["read_file"]' in to_toml(team_file)
    assert parse_team_file(to_toml(team_file), "copy.toml") == team_file


def _with(replacement: tuple[str, str]) -> str:
    old, new = replacement
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('name = "api-review"', 'name = "api-review'), "not valid TOML"),
        (('name = "api-review"', ''), "name: Field required"),
        (('pattern = "orchestrator"', 'pattern = "telepathy"'), "pattern: unknown pattern 'telepathy'"),
        (('provider = "anthropic"', 'provider = "openai"'), "provider: Input should be 'simulated' or 'anthropic'"),
        (('lead = "lead"', 'lead = "boss"'), "lead 'boss' is not one of the agents"),
        (('max_plan_revisions = 1', 'max_plan_revisions = "two"'), "options: max_plan_revisions: Input should be a valid integer"),
        (('max_plan_revisions = 1', 'plan_harder = true'), "options: plan_harder: Extra inputs are not permitted"),
        (('cost = 1.5', 'cost = -1'), "budgets.cost: Input should be greater than 0"),
        (('turns = 12', 'minutes = 12'), "budgets.minutes: Extra inputs are not permitted"),
        (('default = "ask"', 'default = "sometimes"'), "approval.default: Input should be 'ask', 'approve' or 'reject'"),
        (('triggers = { budget = "approve" }', 'triggers = { coffee = "approve" }'), "approval.triggers.coffee"),
        (('name = "coder"', 'name = "Coder!"'), "agents[1].name: must start with a lowercase letter"),
        (('name = "coder"', 'name = "lead"'), "agent name 'lead' is used twice"),
        (('role = "software engineer"\n', ''), "agents[1].role: Field required"),
        (('max_tokens = 4096', 'max_tokens = 0'), "agents[0].max_tokens: Input should be greater than or equal to 1"),
        (('effort = "high"', 'effort = "extreme"'), "agents[0].effort: Input should be"),
        (('effort = "high"', 'temprature = 0.5'), "agents[0].temprature: Extra inputs are not permitted"),
        (('capabilities = ["python"]', 'capabilities = "python"'), "agents[1].capabilities: Input should be a valid"),
        (('tools = ["read_file"]', 'tools = ["rm_rf"]'), "agents[1].tools: unknown tool 'rm_rf' (huddle has: list_files, read_file)"),
    ],
)
def test_each_mistake_names_the_file_the_key_and_the_problem(change, expected):
    with pytest.raises(TeamFileError) as caught:
        parse_team_file(_with(change), "teams/api-review.toml")
    message = str(caught.value)
    assert message.startswith("teams/api-review.toml: ")
    assert expected in message
    assert "\n" not in message


def test_no_agents_and_nested_team_mistakes():
    with pytest.raises(TeamFileError, match="agents: List should have at least 1 item"):
        parse_team_file('name = "x"\nagents = []\n', "t.toml")
    nested = GOOD + '''
[[agents]]
name = "backend"
role = "backend team"
pattern = "orchestrator"

[agents.team]
lead = "be-lead"
agents = [ { name = "be-lead", role = "lead" }, { name = "be-dev", role = "dev", model = 3 } ]
'''
    with pytest.raises(TeamFileError, match=r"agents\[2\]\.team\.agents\[1\]\.model: Input should be a valid string"):
        parse_team_file(nested, "t.toml")
    fixed = nested.replace(", model = 3", "")
    team = parse_team_file(fixed, "t.toml").team()
    assert team.path_of("be-dev") == ["backend"]


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(TeamFileError, match="no such team file"):
        load_team_file(tmp_path / "nope.toml")
    folder = tmp_path / "adir.toml"
    folder.mkdir()
    with pytest.raises(TeamFileError, match="cannot read it"):
        load_team_file(folder)


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_has_a_preset_that_survives_a_round_trip(name):
    team_file = preset(name)
    assert team_file.pattern == name and team_file.agents
    assert team_file.budgets.cost is not None  # presets are capped in dollars
    again = parse_team_file(to_toml(team_file), f"{name}.toml")
    assert again == team_file


def test_teams_resolve_by_path_then_user_file_then_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("HUDDLE_CONFIG_DIR", str(tmp_path))
    assert resolve_team("orchestrator").name == "orchestrator"
    path = write_team_file("mine", preset("orchestrator"))
    assert path == tmp_path / "teams" / "mine.toml"
    assert oct(path.stat().st_mode & 0o777) != "0o777"
    assert resolve_team("mine").name == "mine"
    assert resolve_team(str(path)).name == "mine"
    with pytest.raises(TeamFileError, match="already exists"):
        write_team_file("mine", preset("orchestrator"))
    write_team_file("mine", preset("orchestrator"), overwrite=True)
    with pytest.raises(TeamFileError, match="team name"):
        write_team_file("My Team", preset("orchestrator"))
    with pytest.raises(TeamFileError, match="no team called 'ghost'; choose from mine, orchestrator"):
        resolve_team("ghost")


def test_config_key_env_wins_and_the_key_never_shows(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('api_key = "sk-file-secret"\nbase_url = "http://gw"\n[prices."my-model"]\ninput = 1\noutput = 2\n')
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    config = load_config(path)
    assert config.anthropic_key() == "sk-file-secret"
    assert "sk-file-secret" not in repr(config) and "sk-file-secret" not in str(config.model_dump())
    assert config.anthropic_base_url() == "http://gw"
    assert config.price_table().price("my-model").output == 2
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    assert load_config(path).anthropic_key() == "sk-env"
    assert load_config(tmp_path / "absent.toml").anthropic_key() == "sk-env"


def test_bad_config_files_say_where(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('api_key = 12\n')
    with pytest.raises(ConfigError, match=r"config.toml: api_key: Input should be a valid string"):
        load_config(path)
    path.write_text('[prices.x]\ninput = "cheap"\noutput = 1\n')
    with pytest.raises(ConfigError, match=r"prices.x.input"):
        load_config(path)
    path.write_text('api_key = "sk-oops\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(path)
    assert "sk-oops" not in str(caught.value)


def test_the_readme_example_team_file_is_valid(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("```toml\nname = ", 1)[1].split("```", 1)[0]
    team_file = parse_team_file("name = " + block, "README.md")
    assert team_file.pattern == "review" and team_file.team().names == ("engineer", "reviewer")

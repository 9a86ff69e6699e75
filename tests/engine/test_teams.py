"""Team files, presets and the user config as text: every way one can be wrong says where and what.
(Finding and reading the user's files: tests/tui/test_userfiles.py.)"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from engine.config import ConfigError, parse_config
from engine.patterns import PATTERNS, UnknownPattern
from engine.teams import TeamFileError, parse_team_file, preset, preset_text, to_toml

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
        (('provider = "anthropic"', 'provider = "Open AI"'), "provider: 'Open AI' is not a provider's name (huddle providers lists them)"),
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
        (('tools = ["read_file"]', 'tools = ["rm_rf"]'), "agents[1].tools: unknown tool 'rm_rf' (huddle has: list_files, read_file, run_python, run_shell)"),
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


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_has_a_preset_file_that_loads_and_survives_a_round_trip(name):
    text = preset_text(name)
    team_file = parse_team_file(text, f"{name}.toml")  # the parser of the user's own files
    assert team_file == preset(name)
    assert team_file.name == name and team_file.pattern == name and team_file.agents
    assert team_file.budgets.cost is not None  # presets are capped in dollars
    assert PATTERNS[name].team() == team_file.team()  # the team a pattern runs when given none
    assert parse_team_file(to_toml(team_file), f"{name}.toml") == team_file
    for option in team_file.options:  # every option set in a preset says what it does
        assert re.search(rf"^# .+\n{option} = ", text, re.MULTILINE), option


def test_the_presets_shipped_are_the_patterns_presets():
    shipped = {f.name for f in (resources.files("engine") / "presets").iterdir() if f.name.endswith(".toml")}
    assert shipped == {f"{name}.toml" for name in PATTERNS}
    with pytest.raises(UnknownPattern, match="unknown pattern 'telepathy'; choose from orchestrator"):
        preset("telepathy")


def test_presets_are_the_teams_each_pattern_was_written_for():
    """What each preset holds, in a few facts the patterns rely on."""
    hierarchical = preset("hierarchical").team()
    assert hierarchical.lead == "lead" and hierarchical.path_of("docs-writer") == ["writers"]
    assert [a.name for a in hierarchical.agents if a.team] == ["engineering", "writers"]
    assert preset("mesh").lead is None and preset("pipeline").lead is None
    auction = preset("auction").team()
    assert len({agent.model for agent in auction.workers}) == 3  # bids differ in price as well as skill
    assert preset("orchestrator").team().names == ("lead", "researcher", "coder", "reviewer")
    assert all(not agent.tools for name in PATTERNS for agent in preset(name).team().members())  # presets have none


def test_config_text_mistakes_say_where():
    with pytest.raises(ConfigError, match=r"^config.toml: api_key: Input should be a valid string"):
        parse_config('api_key = 12\n', "config.toml")
    with pytest.raises(ConfigError, match=r"prices.x.input"):
        parse_config('[prices.x]\ninput = "cheap"\noutput = 1\n', "config.toml")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        parse_config('api_key = "sk-oops\n', "config.toml")
    assert "sk-oops" not in str(caught.value)
    config = parse_config('api_key = " sk-file-secret "\n[prices."my-model"]\ninput = 1\noutput = 2\n', "c")
    assert config.endpoints()["anthropic"].key() == "sk-file-secret" and config.price_table().price("my-model").output == 2
    assert "sk-file-secret" not in repr(config) and "sk-file-secret" not in str(config.model_dump())
    assert parse_config('api_key = "  "\n', "c").endpoints()["anthropic"].key() is None


def test_the_readme_example_team_file_is_valid(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("```toml\nname = ", 1)[1].split("```", 1)[0]
    team_file = parse_team_file("name = " + block, "README.md")
    assert team_file.pattern == "review" and team_file.team().names == ("engineer", "reviewer")


def test_the_readme_tools_example_declares_its_servers_and_chooses_from_them():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("\n### Tools\n", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    team_file = parse_team_file('name = "tooled"\n' + block, "README.md")
    assert [server.name for server in team_file.servers()] == ["git", "docs"]
    assert team_file.agents[0].tools == ("read_file", "git.*", "docs.search")


def test_the_engine_reads_none_of_the_users_files():
    """Config and team files are found and read by the front end (tui.userfiles); the
    engine parses text. (Redaction reads the environment only to find secrets to hide.)"""
    engine = Path(__file__).parents[2] / "engine"
    reading = re.compile(r"platformdirs|os\.environ|getenv|HUDDLE_CONFIG_DIR|expanduser|Path\.home")
    found = [
        f"{path.relative_to(engine)}:{number}"
        for path in engine.rglob("*.py") if path.name != "redaction.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if reading.search(line)
    ]
    assert found == []

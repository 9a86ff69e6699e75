"""MCP servers from config.toml and team files reach a session's spec: config.toml's are
every team's, a team's own replace them by name, and `huddle teams show` prints the team's."""

from __future__ import annotations

import pytest

from engine.events import SessionStarted
from engine.teams import TeamFileError
from tui.cli import main
from tui.resuming import ResumeChoices, resumed_setup
from tui.setup import Choices, SetupError, build
from tui.userfiles import config_path, load_team_file, teams_dir

TEAM = """
name = "mine"
pattern = "review"

[[agents]]
name = "engineer"
role = "engineer"
tools = ["read_file", "docs.search", "git.*"]

[[agents]]
name = "reviewer"
role = "reviewer"

[[mcp_servers]]
name = "git"
command = ["git-mcp", "--repository", "."]
"""

CONFIG = """
[[mcp_servers]]
name = "docs"
url = "http://127.0.0.1:8765/mcp"
headers = { Authorization = "env:DOCS_TOKEN" }

[[mcp_servers]]
name = "git"
command = ["shared-git-mcp"]
"""


@pytest.fixture
def files(user_config):
    teams_dir().mkdir(parents=True)
    (teams_dir() / "mine.toml").write_text(TEAM)
    config_path().write_text(CONFIG)
    return teams_dir() / "mine.toml"


def test_config_servers_are_shared_and_a_teams_own_win(files, monkeypatch):
    monkeypatch.setenv("DOCS_TOKEN", "Bearer from-the-environment")
    setup = build(Choices(task="Review the docs", team="mine"))
    servers = {server.name: server for server in setup.spec.mcp_servers}
    assert set(servers) == {"docs", "git"}
    assert servers["git"].command == ("git-mcp", "--repository", ".")  # the team's, over config.toml's
    assert servers["docs"].headers == {"Authorization": "env:DOCS_TOKEN"}  # read when the session starts
    assert setup.config.environment["DOCS_TOKEN"] == "Bearer from-the-environment"


def test_a_team_naming_a_server_nobody_declares_is_a_team_file_error(files):
    config_path().write_text("")
    with pytest.raises(TeamFileError, match="uses tools of server 'docs', which is not declared"):
        load_team_file(files)
    config_path().write_text("[[mcp_servers]]\nname = 'x'\n")
    with pytest.raises(TeamFileError, match="config.toml.*give exactly one of command"):
        load_team_file(files)


def test_teams_show_prints_the_teams_servers_and_says_which_did_not_start(files, capsys):
    assert main(["teams", "show", "mine"]) == 0
    out = capsys.readouterr().out
    assert "[[mcp_servers]]" in out and 'name = "git"' in out and "git-mcp" in out
    assert "#   git: did not start: cannot run 'git-mcp'" in out
    assert "#   docs: did not start:" in out


def test_teams_show_lists_each_servers_tools_and_hides_the_values_it_is_given(user_config, capsys):
    import sys
    from pathlib import Path

    stdio = str(Path(__file__).parents[1] / "fakes" / "mcp_stdio_server.py")
    teams_dir().mkdir(parents=True)
    (teams_dir() / "tooled.toml").write_text(
        'name = "tooled"\n[[agents]]\nname = "a"\nrole = "r"\ntools = ["fake.*"]\n'
        f'[[mcp_servers]]\nname = "fake"\ncommand = [{sys.executable!r}, {stdio!r}]\n'
        'env = { FAKE_TOKEN = "sk-literal-in-the-file-1234", OTHER = "env:HOME" }\n'
    )
    assert main(["teams", "show", "tooled"]) == 0
    out = capsys.readouterr().out
    assert "sk-literal-in-the-file-1234" not in out and "<hidden>" in out and "env:HOME" in out
    listed = next(line for line in out.splitlines() if line.startswith("#   fake:"))
    assert "tools:" in listed and "fake.echo" in listed and "fake.fail" in listed


def _started(setup) -> SessionStarted:
    """The `session.started` a session of `setup` records."""
    spec = setup.spec
    return SessionStarted(
        session_id="s1", seq=1, ts=0.0, task=spec.task, title=spec.task, pattern=spec.pattern, team=spec.team,
        provider="simulated", seed=1, limits=spec.limits, policy=spec.policy,
        mcp_servers=[server.hidden() for server in spec.mcp_servers],
    )


def test_a_resume_starts_the_servers_the_session_recorded_and_asks_config_for_hidden_values(files):
    team = TEAM.replace('command = ["git-mcp", "--repository", "."]', 'command = ["git-mcp"]\nenv = { GIT_TOKEN = "sk-literal-9876543210" }')
    (teams_dir() / "mine.toml").write_text(team)
    started = _started(build(Choices(task="Review the docs", team="mine")))
    assert "sk-literal-9876543210" not in started.model_dump_json()  # the record never holds it

    servers = {s.name: s for s in resumed_setup(started, ResumeChoices()).spec.mcp_servers}
    assert servers["git"].command == ("shared-git-mcp",)  # its value was hidden: config.toml's, by name
    assert servers["docs"].headers == {"Authorization": "env:DOCS_TOKEN"}  # as recorded

    config_path().write_text(CONFIG.split("[[mcp_servers]]\nname = \"git\"")[0])
    with pytest.raises(SetupError, match=r"MCP server 'git' was given env.GIT_TOKEN as a literal value.*config.toml"):
        resumed_setup(started, ResumeChoices())


def test_a_resume_of_a_team_files_server_needs_no_config(files):
    started = _started(build(Choices(task="Review the docs", team="mine")))
    config_path().write_text("")
    (teams_dir() / "mine.toml").unlink()  # the team file is gone too: the record is enough

    servers = {s.name: s for s in resumed_setup(started, ResumeChoices()).spec.mcp_servers}
    assert servers["git"].command == ("git-mcp", "--repository", ".")

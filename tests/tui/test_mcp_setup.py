"""MCP servers from config.toml and team files reach a session's spec: config.toml's are
every team's, a team's own replace them by name, and `huddle teams show` prints the team's."""

from __future__ import annotations

import pytest

from engine.teams import TeamFileError
from tui.cli import main
from tui.setup import Choices, build
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

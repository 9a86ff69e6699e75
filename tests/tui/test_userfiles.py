"""The user's files: config.toml and the team files in teams/, found, read and copied
(what is in them is parsed by the engine: tests/engine/test_teams.py)."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, Endpoint, UserConfig
from engine.patterns import PATTERNS
from engine.teams import TeamFileError, parse_team_file, preset, preset_text
from tui.cli import main
from tui.userfiles import config_path, copy_team, load_config, load_team_file, resolve_team, teams_dir


def test_missing_unreadable_and_non_utf8_team_files_say_which(tmp_path):
    with pytest.raises(TeamFileError, match=r"nope.toml: no such team file"):
        load_team_file(tmp_path / "nope.toml")
    folder = tmp_path / "adir.toml"
    folder.mkdir()
    with pytest.raises(TeamFileError, match="adir.toml: cannot read it"):
        load_team_file(folder)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(TeamFileError, match=r"latin.toml: not UTF-8 text \(byte 12\); save it as UTF-8"):
        load_team_file(latin)


def test_teams_resolve_by_path_then_user_file_then_preset(user_config):
    assert resolve_team("orchestrator") == preset("orchestrator")
    path = copy_team("mine", "orchestrator")
    assert path == user_config / "teams" / "mine.toml" == teams_dir() / "mine.toml"
    assert oct(path.stat().st_mode & 0o777) != "0o777"
    assert resolve_team("mine").name == "mine"
    assert resolve_team(str(path)).name == "mine"
    with pytest.raises(TeamFileError, match="already exists"):
        copy_team("mine", "orchestrator")
    copy_team("mine", "review", overwrite=True)
    assert resolve_team("mine").pattern == "review"
    with pytest.raises(TeamFileError, match="team name"):
        copy_team("My Team", "orchestrator")
    with pytest.raises(TeamFileError, match="no team called 'ghost'; choose from mine, orchestrator"):
        resolve_team("ghost")


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_copy_of_a_preset_is_its_file_under_the_new_name(user_config, name):
    path = copy_team("mine", name)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(f"# Your team mine, made from huddle's {name} preset")
    assert load_team_file(path) == preset(name).model_copy(update={"name": "mine"})
    shipped_comments = [line for line in preset_text(name).splitlines() if line.lstrip().startswith("#")][2:]  # not its heading
    assert shipped_comments and all(line in text.splitlines() for line in shipped_comments)


def test_a_copy_is_a_file_to_edit(user_config):
    path = copy_team("mine", "review")
    edited = path.read_text(encoding="utf-8").replace("max_revisions = 2", "max_revisions = 5").replace(
        'default = "ask"', 'default = "approve"'
    )
    assert edited != path.read_text(encoding="utf-8")
    path.write_text(edited, encoding="utf-8")
    mine = resolve_team("mine")
    assert mine.options["max_revisions"] == 5 and mine.approval.default == "approve"
    again = copy_team("yours", "mine")  # a copy of the user's own team: huddle writes it out
    assert parse_team_file(again.read_text(encoding="utf-8"), "yours.toml") == mine.model_copy(update={"name": "yours"})


def test_teams_show_prints_a_preset_as_it_ships_and_new_copies_it(user_config, capsys):
    assert main(["teams", "show", "review"]) == 0
    assert capsys.readouterr().out == preset_text("review")
    assert main(["teams", "new", "mine", "--from", "review"]) == 0
    assert capsys.readouterr().out.strip() == str(teams_dir() / "mine.toml")
    assert main(["teams", "show", "mine"]) == 0
    shown = capsys.readouterr().out
    assert parse_team_file(shown, "shown") == resolve_team("mine")
    assert main(["teams", "new", "mine", "--from", "review"]) == 1
    assert "already exists; pick another name or pass --force" in capsys.readouterr().err


def anthropic(config: UserConfig) -> Endpoint:
    return config.endpoints()["anthropic"]


def test_config_key_env_wins_and_the_key_never_shows(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('api_key = "sk-file-secret"\nbase_url = "http://gw"\n[prices."my-model"]\ninput = 1\noutput = 2\n')
    config = load_config(path)
    assert anthropic(config).key() == "sk-file-secret"
    assert "sk-file-secret" not in repr(config) and "sk-file-secret" not in str(config.model_dump())
    assert anthropic(config).base_url == "http://gw"
    assert config.price_table().price("my-model").output == 2
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://env-gw")
    assert anthropic(load_config(path)).key() == "sk-env" and anthropic(load_config(path)).base_url == "http://env-gw"
    assert load_config(path).price_table().price("my-model").output == 2  # the rest still from the file
    assert anthropic(load_config(tmp_path / "absent.toml")).key() == "sk-env"
    assert "sk-env" not in repr(load_config(path))


def test_the_config_is_found_in_the_config_folder(user_config):
    assert config_path() == user_config / "config.toml"
    assert anthropic(load_config()).key() is None  # no file: an empty config
    user_config.mkdir(parents=True, exist_ok=True)
    config_path().write_text('api_key = "sk-from-the-folder"\n', encoding="utf-8")
    assert anthropic(load_config()).key() == "sk-from-the-folder"


def test_bad_config_files_say_where(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('api_key = 12\n')
    with pytest.raises(ConfigError, match=r"config.toml: api_key: Input should be a valid string"):
        load_config(path)
    path.write_text('api_key = "sk-oops\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(path)
    assert "sk-oops" not in str(caught.value)
    path.write_bytes(b'api_key = "\xff"\n')
    with pytest.raises(ConfigError, match=r"config.toml: not UTF-8 text \(byte 12\)"):
        load_config(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(ConfigError, match="config.toml: cannot read it"):
        load_config(path)


def test_the_database_comes_from_db_then_huddle_db_then_config_toml(user_config, monkeypatch, tmp_path):
    from tui.userfiles import config_path, database

    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('db = "postgresql://ana:pw-secret@db.internal/huddle"\n')
    monkeypatch.delenv("HUDDLE_DB")
    assert database() == "postgresql://ana:pw-secret@db.internal/huddle"  # config.toml's, as an address
    monkeypatch.setenv("HUDDLE_DB", str(tmp_path / "mine.db"))
    assert database() == tmp_path / "mine.db"  # the environment over the file
    assert database(str(tmp_path / "flag.db")) == tmp_path / "flag.db"  # --db over both


def test_a_config_toml_that_cannot_be_read_is_one_line_when_it_names_the_database(user_config, monkeypatch):
    from sessions.errors import StoreError
    from tui.userfiles import config_path, database

    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text("db = [1\n")
    monkeypatch.delenv("HUDDLE_DB")
    with pytest.raises(StoreError, match=r"^huddle: .*config.toml: not valid TOML"):
        database()


def test_a_headless_run_records_where_config_toml_says_as_sessions_list_reads(user_config, monkeypatch, tmp_path, capsys):
    from tui.userfiles import config_path

    configured = tmp_path / "configured.db"
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(f'db = "{configured}"\n')
    monkeypatch.delenv("HUDDLE_DB")
    assert main(["run", "--headless", "--approve", "approve", "--speed", "0", "--seed", "1", "A word counter"]) == 0
    assert f"in {configured}" in capsys.readouterr().err and configured.exists()
    assert main(["sessions", "list"]) == 0
    assert "A word counter" in capsys.readouterr().out

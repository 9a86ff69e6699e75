"""`huddle providers`, and the environment and config that name providers' keys and addresses."""

from __future__ import annotations

from tui.cli import main
from tui.userfiles import config_path, load_config

CONFIG = '''
[providers.ollama]
kind = "openai"
base_url = "http://localhost:11434/v1"
model = "llama3.2"

[providers.gateway]
kind = "openai"
base_url = "https://gw.example/v1"
api_key_env = "GW_KEY"
'''


def write_config(text: str) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(text, encoding="utf-8")


def test_the_list_says_where_each_provider_is_and_what_it_still_needs(capsys):
    write_config(CONFIG)
    assert main(["providers"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    assert list(lines) == ["simulated", "anthropic", "openai", "ollama", "gateway"]
    assert lines["simulated"].endswith("ready")
    assert "http://localhost:11434/v1 · model llama3.2" in lines["ollama"] and lines["ollama"].endswith("ready")
    assert "no API key: set OPENAI_API_KEY" in lines["openai"]
    assert "no API key: set GW_KEY" in lines["gateway"]


def test_keys_from_the_environment_make_a_provider_ready_and_never_show(capsys, monkeypatch):
    write_config(CONFIG)
    monkeypatch.setenv("GW_KEY", "sk-gateway-env-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-env-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "sk-gateway-env-secret" not in out and "sk-openai-env-secret" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["gateway"].endswith("ready") and lines["openai"].endswith("ready")
    assert "http://127.0.0.1:9/v1" in lines["openai"]
    found = load_config().endpoints()
    assert found["gateway"].key() == "sk-gateway-env-secret" and found["openai"].key() == "sk-openai-env-secret"
    assert "sk-gateway-env-secret" not in repr(load_config())


def test_a_broken_config_is_one_line(capsys):
    write_config('[providers.x]\nkind = 3\n')
    assert main(["providers"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.toml: providers.x.kind" in err


def test_an_unknown_provider_on_the_command_line_lists_the_choices(capsys):
    write_config(CONFIG)
    assert main(["run", "--headless", "--provider", "lmstudio", "a task"]) == 2
    err = capsys.readouterr().err
    assert "unknown provider 'lmstudio'; choose from simulated, anthropic, openai, ollama, gateway" in err

"""OpenAI-compatible providers end to end through the installed `huddle`: a team whose
lead is on Anthropic and whose workers are on a local server, both loopback fakes,
in one recorded session; neither key reaches the database, an export, the transcript,
the log or an error."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.e2e.terminal import huddle_command
from tests.fakes.chat_completions import ChatCompletionsAPI, text_chunks
from tests.fakes.chat_completions import Reply as ChatReply
from tests.fakes.chat_completions import error_reply as chat_error
from tests.fakes.messages_api import MessagesAPI, Reply, text_events, tool_events
from tests.helpers import plan_of

ANTHROPIC_KEY = "sk-ant-mixed-SECRET-7b2e4c1d"
LOCAL_KEY = "sk-local-mixed-SECRET-93af0e5b"
TASK = "Design a rate limiter for our public REST API"
TEAM = """
name = "mixed"
pattern = "orchestrator"
provider = "local"
lead = "lead"

[[agents]]
name = "lead"
role = "lead engineer"
model = "claude-opus-5-5"
provider = "anthropic"

[[agents]]
name = "researcher"
role = "researcher"
model = "qwen3:8b"

[[agents]]
name = "coder"
role = "software engineer"
model = "gpt-5-mini"
"""


def claude(seen):
    if "tools" in seen.body:
        return Reply(events=tool_events(plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))))
    return Reply(events=text_events("The lead's synthesis."))


def local(seen):
    return ChatReply(chunks=text_chunks(f"Work by {seen.body['model']}.", prompt_tokens=40, cached=10))


def huddle(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([huddle_command(), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def configure(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        f'[providers.local]\nkind = "openai"\nbase_url = "{base_url}"\napi_key_env = "LOCAL_KEY"\n'
    )
    team = folder / "mixed.toml"
    team.write_text(TEAM)
    return team


def test_a_mixed_team_runs_each_agent_on_its_own_provider_and_keeps_both_keys_out(tmp_path, user_config):
    db = tmp_path / "mixed.db"
    with MessagesAPI(claude) as anthropic, ChatCompletionsAPI(local) as server:
        team = configure(user_config, server.base_url)
        env = {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": anthropic.base_url, "LOCAL_KEY": LOCAL_KEY,
               "HUDDLE_LOG_DIR": str(tmp_path / "log")}
        done = huddle("--db", str(db), "run", "--headless", "--team", str(team), "--approve", "approve", TASK, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        session_id = done.stderr.split("recorded as ")[1].split()[0]
        md = huddle("--db", str(db), "sessions", "export", session_id, "--format", "md", env=env)
        js = huddle("--db", str(db), "sessions", "export", session_id, "--format", "json", env=env)
        shown = huddle("--db", str(db), "sessions", "show", session_id, env=env)
    assert "result (completed)" in done.stdout and "anthropic, local" in done.stdout
    assert {r.body["model"] for r in anthropic.requests} == {"claude-opus-5-5"}  # plan and synthesis
    assert sorted(r.body["model"] for r in server.requests) == ["gpt-5-mini", "qwen3:8b"]  # one step each
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {LOCAL_KEY}"}
    started = json.loads(js.stdout)["events"][0]
    assert started["provider"] == "anthropic, local"
    assert {a["name"]: a["provider"] for a in started["team"]["agents"]} == {
        "lead": "anthropic", "researcher": "local", "coder": "local",
    }
    finished = json.loads(js.stdout)["events"][-1]
    assert finished["usage"]["cache_read_tokens"] >= 20  # the local server's cached tokens, counted
    everything = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    everything += (done.stdout + done.stderr + md.stdout + js.stdout + shown.stdout + md.stderr).encode()
    for key in (ANTHROPIC_KEY, LOCAL_KEY):
        assert key.encode() not in everything and key[-10:].encode() not in everything


def test_a_refused_key_at_a_local_server_is_one_line_naming_where_to_set_it(tmp_path, user_config):
    with ChatCompletionsAPI(lambda seen: chat_error(401, f"Incorrect API key provided: {LOCAL_KEY}", code="invalid_api_key")) as server:
        configure(user_config, server.base_url)
        done = huddle("--db", str(tmp_path / "a.db"), "run", "--headless", "--provider", "local", "--approve", "approve",
                      TASK, env={"LOCAL_KEY": LOCAL_KEY})
    assert done.returncode == 1
    assert "local refused the API key (401): set LOCAL_KEY or add api_key to [providers.local]" in done.stdout
    assert LOCAL_KEY not in done.stdout + done.stderr and LOCAL_KEY[-10:] not in done.stdout + done.stderr
    assert len(server.requests) == 1  # no retries for a refused key

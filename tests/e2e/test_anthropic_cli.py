"""`huddle run --provider anthropic` end to end against a loopback Messages API; the key
never reaches the database, an export, the transcript or an error."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.terminal import huddle_command
from tests.fakes.messages_api import MessagesAPI, Reply, error_reply, text_events, tool_events
from tests.helpers import plan_of

KEY = "sk-ant-e2e-SECRET-4f1c9a7d"
TASK = "Design a rate limiter for our public REST API"


def script(seen):
    if "tools" in seen.body:
        return Reply(events=tool_events(plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))))
    return Reply(events=text_events(f"Answer from {seen.body['model']}.", cache_read=1200, cache_write=300))


def huddle(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([huddle_command(), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def test_a_recorded_anthropic_session_keeps_the_key_out_of_everything(tmp_path):
    db = tmp_path / "anthropic.db"
    with MessagesAPI(script) as api:
        env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}
        done = huddle("--db", str(db), "run", "--headless", "--provider", "anthropic", "--approve", "approve", TASK, env=env)
        assert done.returncode == 0, done.stderr
        assert "anthropic" in done.stdout and "result (completed)" in done.stdout
        assert {r.headers.get("authorization") for r in api.requests} == {f"Bearer {KEY}"}
        session_id = done.stderr.split("recorded as ")[1].split()[0]
        md = huddle("--db", str(db), "sessions", "export", session_id, "--format", "md", env=env)
        js = huddle("--db", str(db), "sessions", "export", session_id, "--format", "json", env=env)
        shown = huddle("--db", str(db), "sessions", "show", session_id, env=env)
    exported = json.loads(js.stdout)
    finished = exported["events"][-1]
    assert finished["kind"] == "session.finished" and finished["usage"]["cache_read_tokens"] > 0
    everything = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    everything += (done.stdout + done.stderr + md.stdout + js.stdout + shown.stdout + md.stderr).encode()
    assert KEY.encode() not in everything
    assert KEY[-10:].encode() not in everything


def test_a_refused_key_is_one_clear_line_without_the_key(tmp_path):
    with MessagesAPI(lambda seen: error_reply(401, "authentication_error", "invalid x-api-key")) as api:
        env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}
        done = huddle("--db", str(tmp_path / "a.db"), "run", "--headless", "--provider", "anthropic",
                      "--approve", "approve", TASK, env=env)
    assert done.returncode == 1
    assert "API key was refused (401)" in done.stdout and "ANTHROPIC_API_KEY" in done.stdout
    assert KEY not in done.stdout + done.stderr
    assert len(api.requests) == 1  # no retries for a refused key


def test_prices_from_the_user_config_are_used(tmp_path, user_config):
    user_config.mkdir(parents=True, exist_ok=True)
    (user_config / "config.toml").write_text(
        '[prices."claude-sonnet-5-5"]\ninput = 1000\noutput = 1000\n[prices."claude-opus-5-5"]\ninput = 1000\noutput = 1000\n'
    )
    with MessagesAPI(script) as api:
        env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}
        done = huddle("--db", str(tmp_path / "p.db"), "run", "--headless", "--provider", "anthropic",
                      "--approve", "approve", TASK, env=env)
    assert done.returncode == 0, done.stderr
    cost = float(done.stdout.rsplit("$", 1)[1].split()[0].replace(",", ""))
    assert cost > 1.0  # at $1000 per million tokens, a few hundred tokens cost dollars

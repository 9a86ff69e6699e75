"""End to end: the installed `huddle run` (headless, and the app in a pseudo-terminal) against
a loopback Messages API whose model asks to run code; the code runs under bubblewrap and its
result goes back to the model."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest

from sessions.scratch import scratch_folder
from tests.e2e.terminal import Terminal, huddle_command
from tests.fakes.messages_api import MessagesAPI, Reply, text_events, tool_events

KEY = "sk-ant-e2e-SANDBOX-8d2e61b0"
TEAM = """
name = "coders"
pattern = "pipeline"
provider = "anthropic"

[[agents]]
name = "coder"
role = "python developer"
tools = ["run_python"]

[sandbox]
wall_s = 20
"""
CODE = "import os\nopen('answer.txt', 'w').write(str(6*7))\nprint(6*7, sorted(k for k in os.environ if 'KEY' in k))"


def script(seen):
    results = [block for message in seen.body["messages"] if isinstance(message["content"], list)
               for block in message["content"] if block.get("type") == "tool_result"]
    if results:
        text = json.dumps(results[0]["content"])
        return Reply(events=text_events("The code printed 42." if "42 []" in text else "It did not work."))
    return Reply(events=tool_events({"code": CODE}, name="run_python", lead="Let me check."))


@pytest.mark.usefixtures("code_sandbox")
def test_a_headless_run_runs_the_models_code_in_the_sandbox(tmp_path):
    team = tmp_path / "coders.toml"
    team.write_text(TEAM)
    with MessagesAPI(script) as api:
        done = subprocess.run(
            [huddle_command(), "--db", str(tmp_path / "s.db"), "run", "--headless", "--team", str(team),
             "--approve", "approve", "Work out six times seven"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}, cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    assert "run_python → exit status 0 · 1 file changed" in done.stdout
    assert "The code printed 42." in done.stdout
    session_id = next(line.split()[2] for line in done.stderr.splitlines() + done.stdout.splitlines()
                      if line.startswith("recorded as "))
    assert (scratch_folder(session_id) / "answer.txt").read_text() == "42"
    assert not (scratch_folder(session_id) / "scratch").exists()  # the scratch folders were not copied into it
    assert not (tmp_path / "answer.txt").exists()  # the folder huddle ran in is untouched


@pytest.mark.usefixtures("code_sandbox")
def test_in_the_app_the_dialog_shows_the_code_and_approving_runs_it(tmp_path):
    """The installed app in a pseudo-terminal: the model asks to run code; the dialog shows
    the code and the sandbox; Enter runs it, and its result reaches the model."""
    team = tmp_path / "coders.toml"
    team.write_text(TEAM)
    with MessagesAPI(script) as api:
        term = Terminal(
            [huddle_command(), "--db", str(tmp_path / "s.db"), "run", "--team", str(team), "Work out six times seven"],
            cols=200, rows=50, cwd=tmp_path,
            env={**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url},
        )
        try:
            term.expect(r"Escalation: tool_use from coder", timeout=60)
            term.expect(r"Sandbox: bubblewrap · no network · 20 s", timeout=10)
            term.expect(r"open\('answer\.txt', 'w'\)", timeout=10)  # the code itself, whole
            term.send("\r")  # run it
            # Its result ("exit status 0 · 1 file changed") is wrapped in the timeline and may be
            # drawn in pieces: the model's answer to it, on one line, is what is looked for.
            term.expect(r"The code printed 42\.", timeout=40)
            term.expect(r"completed", timeout=20)
            term.send("q")
            assert term.wait(timeout=20) == 0
        finally:
            term.close()
    session_id = sqlite3.connect(tmp_path / "s.db").execute("SELECT id FROM sessions").fetchone()[0]
    assert (scratch_folder(session_id) / "answer.txt").read_text() == "42"
    assert not (tmp_path / "answer.txt").exists()

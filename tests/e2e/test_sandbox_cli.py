"""End to end: the installed `huddle run --headless` against a loopback Messages API whose
model asks to run code; the code runs under bubblewrap and its result goes back to the model."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from sessions.scratch import scratch_folder
from tests.e2e.terminal import huddle_command
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


@pytest.mark.usefixtures("bwrap")
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

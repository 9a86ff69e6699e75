"""The README's headless examples, run as printed: each `huddle run --headless` line of a
```sh block under "Headless runs", in a real terminal, at the pace it gives.

Each gets a fixed `--seed` added (the only change), so the test is the same on every run:
without one, the simulated provider picks a random seed, and the faults with it.
On a terminal escalations are asked; the test answers as a user who reads the README
would: Enter, which approves. The examples run side by side, each for about half a
minute of simulated pace, most of it waiting.
"""

from __future__ import annotations

import re
import shlex
import threading
from pathlib import Path

from tests.e2e.terminal import Terminal, huddle_command

README = Path(__file__).resolve().parents[2] / "README.md"
PROMPT = re.escape("(enter: a) > ")
SEED = "3"


def headless_examples() -> list[list[str]]:
    """The command lines of the section "Headless runs" (down to the next chapter)."""
    text = README.read_text()
    section = text.split("\n## Headless runs\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("huddle run --headless")]


def run_as_a_user(args: list[str], ended: dict[str, tuple[int, str]]) -> None:
    """Run one example, pressing Enter at each prompt, until it exits."""
    term = Terminal([huddle_command(), *args[1:], "--seed", SEED], cols=160)
    try:
        answered = 0
        while True:
            found = term.expect(rf"(?s)(?P<prompt>(?:.*?{PROMPT}){{{answered + 1}}})|recorded as \w+", timeout=60)
            if found.group("prompt") is None:
                break
            term.send("\r")
            answered += 1
        ended[shlex.join(args)] = (term.wait(), term.text)
    finally:
        term.close()


def test_every_headless_example_in_the_readme_runs_to_its_end_as_printed():
    examples = headless_examples()
    assert len(examples) >= 2 and any("--faults" in args for args in examples)
    ended: dict[str, tuple[int, str]] = {}
    threads = [threading.Thread(target=run_as_a_user, args=(args, ended)) for args in examples]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(ended) == len(examples), "an example did not finish"
    for command, (code, text) in ended.items():
        assert "approved by human" in text  # its plan was asked and approved
        assert "no reply for" not in text and "stalled" not in text, f"{command} timed out:\n{text[-2000:]}"
        last = [line for line in text.splitlines() if line.strip() and not line.startswith("recorded as")][-1]
        assert last.startswith("session completed"), f"{command} ended: {last}"
        not_done = " failed " in last or " skipped " in last
        assert code == (1 if not_done else 0), f"{command} exited {code} after: {last}"
        if "--faults" in command:  # what the README says it shows
            assert "rate limited" in text and "stream broke off" in text
            assert re.search(r"completed with \d+ failed", last), last
            assert "This answer is incomplete" in text

"""The headless prompt for a tool use that runs code: the code whole (highlighted on a
terminal, as written otherwise), the sandbox line, and no "always allow" for code that
would run unconfined."""

from __future__ import annotations

import asyncio
import io
import os
import re

from engine.approvals import ApprovalGate
from engine.events import Choice, SandboxShown, ToolAsked
from engine.policy import ApprovalPolicy
from tests.engine.test_approvals import _context
from tests.hostile import VISIBLE, WELL_FORMED, unsafe
from tui.console import ConsolePrompter, LineReader, Output

BUBBLEWRAP = SandboxShown(
    backend="bubblewrap", isolated=True,
    limits={"wall_s": 30, "cpu_s": 10, "memory_mb": 512, "processes": 64, "output_kb": 64},
)
NONE = SandboxShown(backend="none", isolated=False)
CODE = "import json\n\nfor n in range(3):\n    print(json.dumps({'n': n}))\n"
CHOICES = (
    Choice(id="run", label="Run", action="approve"),
    Choice(id="refuse", label="Refuse", action="reject", input="reason", prompt="Why?"),
)


async def ask(typed: str, name: str, sandbox: SandboxShown, payload: dict, *, colour: bool = False, times: int = 1):
    """Ask about code tool `name` with `payload` `times` times, `typed` at the prompt; the
    decisions and what was shown. Asked once nothing is left to type: rejected."""
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, _ = await _context(gate)
    shown = io.StringIO()
    read, write = os.pipe()
    os.write(write, typed.encode())
    os.close(write)
    prompter = ConsolePrompter(gate, Output(shown), LineReader(read), colour=colour)
    ctx.run.bus.listen(prompter.feed)
    answering = asyncio.create_task(prompter.run())
    tool = ToolAsked(name=name, description="Runs code in a sandbox", sandbox=sandbox)
    try:
        decisions = [
            await asyncio.wait_for(ctx.escalate("tool_use", f"coder wants to use {name}", payload, agent="coder",
                                                tool=tool, choices=CHOICES), 5)
            for _ in range(times)
        ]
    finally:
        answering.cancel()
        os.close(read)
    return decisions, shown.getvalue()


async def test_the_code_shows_whole_as_written_with_the_sandbox_line():
    (decision,), shown = await ask("\n", "run_python", BUBBLEWRAP, {"code": CODE})
    assert "    sandbox: bubblewrap · no network · 30 s · 10 s CPU · 512 MB · 64 processes · 64 KB output\n" in shown
    assert "    code:\n" + "".join(f"    {line}\n" for line in CODE.rstrip("\n").split("\n")) in shown
    assert "\x1b" not in shown  # not a terminal: no colour codes
    assert "[A]lways allow run_python (enter: a) > " in shown
    assert decision.action == "approve"


async def test_on_a_terminal_the_code_is_highlighted_and_none_is_red():
    command = 'for f in *.py; do wc -l "$f"; done'
    _, shown = await ask("\n", "run_shell", NONE, {"command": command}, colour=True)
    assert "    \x1b[1;31msandbox: none · runs directly on this machine: nothing confines it\x1b[0m\n" in shown
    line = shown.split("    command:\n", 1)[1].split("\n", 1)[0]
    assert "\x1b[" in line  # highlighted
    assert re.sub(r"\x1b\[[0-9;]*m", "", line) == f"    {command}"  # and all of it


async def test_unconfined_code_offers_no_always_allow():
    decisions, shown = await ask("A\na\nA\n", "run_python", NONE, {"code": "print(6*7)"}, times=2)
    assert "Always allow" not in shown and "lways" not in shown
    assert "  [a] Run  [r] Refuse (enter: a) > " in shown
    assert "  please answer one of: a, r\n" in shown  # "A" is not an answer here
    # the first use approved once; the second was asked again (nothing was always allowed)
    assert [d.action for d in decisions] == ["approve", "reject"]
    assert decisions[1].reason == "no answer: input closed"


async def test_hostile_code_shows_literally():
    _, shown = await ask("\n", "run_python", BUBBLEWRAP, {"code": WELL_FORMED})
    assert all(visible in shown for visible in VISIBLE), [v for v in VISIBLE if v not in shown]
    assert unsafe(shown) == []

"""The headless prompt for a tool use: the tool, its server, its description and input,
and "always allow" of the tool or of the tool with exactly this input."""

from __future__ import annotations

import asyncio
import io
import os

import pytest

from engine.approvals import ApprovalGate
from engine.policy import ApprovalPolicy
from engine.run.tool_approval import ask_to_use
from tests.engine.test_approvals import _context
from tests.engine.test_tool_rules import FakeTool
from tui.console import ConsolePrompter, LineReader, Output


async def uses(typed: str, inputs: list[dict]):
    """Ask about git.status with each of `inputs` in turn, `typed` at the prompt; the
    decisions, the events and what was shown. An input that asks once nothing is left
    to type ends the run (asserted by the caller through the decisions)."""
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    shown = io.StringIO()
    read, write = os.pipe()
    os.write(write, typed.encode())
    os.close(write)  # then end of input: anything asked after it is rejected
    prompter = ConsolePrompter(gate, Output(shown), LineReader(read))
    ctx.run.bus.listen(prompter.feed)
    answering = asyncio.create_task(prompter.run())
    tool = FakeTool(description="Shows the working tree status\nof one repository")
    try:
        decisions = [await asyncio.wait_for(ask_to_use(ctx, "coder", "git.status", tool, payload), 5) for payload in inputs]
    finally:
        answering.cancel()
        os.close(read)
    return decisions, events, shown.getvalue()


async def test_the_prompt_shows_the_tool_its_server_description_and_input():
    (decision,), _, shown = await uses("\n", [{"repo": "src"}])
    assert "    tool: status (server git)\n    Shows the working tree status\n    of one repository\n" in shown
    assert '    input:\n    {\n      "repo": "src"\n    }\n' in shown
    assert "[A]lways allow git.status (enter: a) > " in shown
    assert decision.action == "approve"


async def test_always_allow_with_this_input_asks_again_for_other_input():
    decisions, events, shown = await uses("A\ni\n", [{"repo": "."}, {"repo": "."}, {"repo": "src"}])
    assert "always allow git.status: [t] with any input  [i] with exactly this input" in shown
    assert "git.status with this input is allowed for the rest of this session" in shown
    assert [d.action for d in decisions] == ["approve", "approve", "reject"]  # the third asked: no input left
    assert decisions[2].reason == "no answer: input closed"
    rules = [e.rule for e in events if e.kind == "escalation.resolved"]
    assert rules[:2] == ["always allowed by human: git.status with this input"] * 2


async def test_always_allow_the_tool_approves_any_input():
    decisions, events, _ = await uses("A\nt\n", [{"repo": "."}, {"repo": "src"}, {"repo": "docs", "depth": 3}])
    assert [d.action for d in decisions] == ["approve"] * 3
    assert {e.rule for e in events if e.kind == "escalation.resolved"} == {"always allowed by human: git.status"}


@pytest.mark.parametrize(("typed", "said"), [("A\nx\n\nr\nno\n", "please answer t, i, or Enter"), ("A\n\nr\nno\n", "")])
async def test_a_wrong_scope_is_asked_again_and_enter_goes_back_to_the_choices(typed, said):
    (decision,), _, shown = await uses(typed, [{"repo": "."}])
    assert said in shown
    assert (decision.action, decision.reason) == ("reject", "no")

"""The headless prompt offers an escalation's named choices, each on its key, and asks
for just what the chosen one needs."""

from __future__ import annotations

import asyncio
import io
import os

import pytest

from engine.approvals import ApprovalGate
from engine.events import Choice
from engine.policy import ApprovalPolicy
from tests.engine.test_approvals import _context
from tui import logs
from tui.console import ConsolePrompter, LineReader, Output

CHOICES = (
    Choice(id="accept", label="Accept as best effort", action="approve"),
    Choice(
        id="revise", label="Allow one more revision", action="edit", input="text", field="guidance",
        prompt="guidance for the revision (optional)",
    ),
    Choice(id="stop", label="Stop", action="reject"),
)
ASSIGN = (
    Choice(id="auctioneer", label="Give the lot to lead", action="approve"),
    Choice(id="assign", label="Assign a bidder", action="edit", input="pick", field="agent",
           prompt="the bidder", required=True, picks=["coder", "writer"]),
    Choice(id="fail", label="Fail the lot", action="reject", input="reason"),
)


async def ask(choices, typed: str):
    """Raise one escalation with `choices`, type `typed` at the prompt; the decision, the events, the screen."""
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    shown = io.StringIO()
    read, write = os.pipe()
    os.write(write, typed.encode())
    prompter = ConsolePrompter(gate, Output(shown), LineReader(read))
    ctx.run.bus.listen(prompter.feed)
    answering = asyncio.create_task(prompter.run())
    try:
        decision = await asyncio.wait_for(ctx.escalate("reviewer_deadlock", "still rejected", {"issues": []}, choices=choices), 5)
    finally:
        answering.cancel()
        os.close(read)
        os.close(write)
    return decision, events, shown.getvalue()


async def test_the_prompt_names_each_choice_on_its_key():
    decision, events, shown = await ask(CHOICES, "e\ncover the empty input\n")
    assert "[a] Accept as best effort  [e] Allow one more revision  [r] Stop" in shown
    assert "Allow one more revision: guidance for the revision (optional) >" in shown
    assert (decision.action, decision.option, decision.edited) == ("edit", "revise", {"guidance": "cover the empty input"})
    resolved = [e for e in events if e.kind == "escalation.resolved"][0]
    assert resolved.option == "revise"


async def test_enter_takes_the_choice_that_approves_and_an_empty_line_allows_a_revision_as_it_is():
    decision, _, _ = await ask(CHOICES, "\n")
    assert (decision.action, decision.option) == ("approve", "accept")
    decision, _, _ = await ask(CHOICES, "e\n\n")
    assert (decision.action, decision.option, decision.edited) == ("edit", "revise", None)


async def test_a_pick_is_made_by_number_or_name_and_a_wrong_one_is_asked_again():
    decision, _, shown = await ask(ASSIGN, "e\nintern\n2\n")
    assert "1. coder" in shown and "2. writer" in shown
    assert "choose one of: coder, writer" in shown
    assert (decision.option, decision.edited) == ("assign", {"agent": "writer"})


# -- a prompt that cannot ask: never a session waiting for ever ----------------------------

EDITABLE = ("approve", "edit", "reject")


async def decide(reader: LineReader, policy: ApprovalPolicy):
    """Raise one escalation that offers an edit, answered through `reader`; the decision and the screen."""
    gate = ApprovalGate(policy)
    ctx, _ = await _context(gate)
    shown = io.StringIO()
    prompter = ConsolePrompter(gate, Output(shown), reader)
    ctx.run.bus.listen(prompter.feed)
    answering = asyncio.create_task(prompter.run())
    try:
        decision = await asyncio.wait_for(ctx.escalate("plan", "approve the plan", {"steps": []}, options=EDITABLE), 10)
    finally:
        answering.cancel()
    return decision, shown.getvalue()


@pytest.mark.parametrize(
    ("editor", "said"),
    [
        ("/nonexistent/editor", "could not edit: the editor '/nonexistent/editor' cannot run: No such file or directory (set $EDITOR)"),
        ("false", "could not edit: the editor 'false' exited with status 1, so the edit was not taken"),
        ("'unclosed", "could not edit: the editor command \"'unclosed\" cannot be read: No closing quotation"),
    ],
)
async def test_an_editor_that_cannot_run_or_fails_says_so_and_the_choices_are_offered_again(monkeypatch, editor, said):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor)
    read, write = os.pipe()
    os.write(write, b"e\na\n")
    try:
        decision, shown = await decide(LineReader(read), ApprovalPolicy(default="ask"))
    finally:
        os.close(read)
        os.close(write)
    assert said in shown
    assert shown.count("[a] Approve  [e] Edit  [r] Reject") == 2
    assert (decision.action, decision.by) == ("approve", "human")


@pytest.mark.parametrize("default", ["reject", "approve"])
async def test_input_that_cannot_be_read_takes_the_policys_safe_default_and_says_why(tmp_path, default):
    log_file = logs.configure(tmp_path / "log")
    decision, shown = await decide(LineReader(-1), ApprovalPolicy(default="ask", timeout_default=default))
    assert (decision.action, decision.by) == (default, "policy")
    assert decision.reason == "no decision: the prompt failed (ValueError)"
    word = {"reject": "rejected", "approve": "approved"}[default]
    assert f"could not ask (ValueError: Invalid file descriptor: -1; details in {log_file}): {word}, the policy's default" in shown
    assert "Traceback" in log_file.read_text() and "the prompt for escalation e1 failed" in log_file.read_text()


async def test_a_terminal_that_hangs_up_while_asked_takes_the_safe_default():
    controller, terminal = os.openpty()
    os.close(terminal)  # reading the controlling side now fails (EIO), as when a terminal closes
    try:
        decision, shown = await decide(LineReader(controller), ApprovalPolicy(default="ask"))
    finally:
        os.close(controller)
    assert (decision.action, decision.by) == ("reject", "policy")
    assert "could not ask (OSError: " in shown and "rejected, the policy's default" in shown

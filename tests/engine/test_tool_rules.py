"""Approval rules per tool: globs over tool names, the strictest match decides whatever
the order written, "always allow" of a tool or of a tool with one input, and edits
checked against the tool's own schema."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.events import ToolAsked
from engine.handoffs import check_json_schema
from engine.policy import ApprovalPolicy
from engine.run.tool_approval import ask_to_use
from engine.teams import TeamFileError, parse_team_file, to_toml
from tests.engine.test_approvals import _context
from tests.engine.test_tools import config, one_call, project, reading  # noqa: F401 - fixtures
from tests.helpers import ScriptedProvider, run


@dataclass(frozen=True)
class FakeTool:
    """A tool as a server might describe it: not one of engine.tools.TOOLS."""

    description: str = "Shows the working tree status"
    input_schema: dict[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {"repo": {"type": "string"}, "depth": {"type": "integer", "minimum": 1},
                       "paths": {"type": "array", "items": {"type": "string"}}},
        "required": ["repo"],
        "additionalProperties": False,
    })

    def validate(self, payload: Any) -> dict[str, Any]:
        check_json_schema(self.input_schema, payload)
        return payload


# -- precedence -------------------------------------------------------------------

RULES = {"git.*": "ask", "git.status": "approve", "*.status": "reject", "docs.*": "approve"}


@pytest.mark.parametrize("order", list(itertools.permutations(RULES)))
@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("git.status", ("reject", "policy: tools[*.status]=reject")),  # reject beats ask beats approve
        ("git.log", ("ask", "policy: tools[git.*]=ask")),
        ("docs.search", ("approve", "policy: tools[docs.*]=approve")),
        ("docs.status", ("reject", "policy: tools[*.status]=reject")),
    ],
)
def test_the_strictest_matching_rule_decides_whatever_the_order(order, tool, expected):
    policy = ApprovalPolicy(tools={pattern: RULES[pattern] for pattern in order})
    assert policy.mode_for_tool(tool) == expected


@pytest.mark.parametrize("order", [("git.*", "git.status"), ("git.status", "git.*")])
def test_a_narrower_approve_cannot_undo_a_broader_ask(order):
    rules = {"git.*": "ask", "git.status": "approve"}
    policy = ApprovalPolicy(tools={pattern: rules[pattern] for pattern in order})
    assert policy.mode_for_tool("git.status") == ("ask", "policy: tools[git.*]=ask")


def test_a_tool_no_rule_matches_follows_the_tool_use_trigger():
    policy = ApprovalPolicy(default="approve", tools={"git.*": "reject"})
    assert policy.mode_for_tool("read_file") == ("approve", "policy: default=approve")
    assert policy.mode_for_tool("Git.status") == ("approve", "policy: default=approve")  # case sensitive
    strict = ApprovalPolicy(default="approve", triggers={"tool_use": "ask"}, tools={"git.*": "reject"})
    assert strict.mode_for_tool("docs.search") == ("ask", "policy: tool_use=ask")
    assert ApprovalPolicy().mode_for_tool("read_file") == ("ask", "policy: default=ask")


def test_approve_or_reject_everything_answers_the_rules_that_ask_and_keeps_the_rest():
    policy = ApprovalPolicy(triggers={"plan": "ask"}, tools={"git.*": "ask", "*.delete*": "reject", "docs.*": "approve"})
    approving = policy.decided_by("approve")
    assert approving.mode_for_tool("git.log") == ("approve", "policy: tools[git.*]=approve")
    assert approving.mode_for_tool("git.delete_branch")[0] == "reject"
    assert approving.mode_for("plan") == ("approve", "policy: default=approve")
    assert policy.decided_by("reject").mode_for_tool("docs.search")[0] == "approve"
    assert policy.decided_by("ask").mode_for_tool("git.log")[0] == "ask"


def test_team_files_read_and_write_tool_rules():
    text = """
name = "t"
[approval]
tools = { "git.status" = "approve", "*.delete*" = "reject" }
[[agents]]
name = "a"
role = "r"
"""
    team_file = parse_team_file(text, "t.toml")
    assert team_file.approval.tools == {"git.status": "approve", "*.delete*": "reject"}
    assert parse_team_file(to_toml(team_file), "again.toml").approval == team_file.approval
    plain = parse_team_file(text.replace('tools = { "git.status" = "approve", "*.delete*" = "reject" }', ""), "p.toml")
    assert "tools" not in to_toml(plain)
    with pytest.raises(TeamFileError, match=r"t.toml: approval.tools.git\.\*"):
        parse_team_file(text.replace('"*.delete*" = "reject"', '"git.*" = "maybe"'), "t.toml")


# -- in a session ---------------------------------------------------------------------


async def test_the_rule_that_decided_is_recorded_and_the_escalation_names_the_tool(one_call, project):  # noqa: F811
    policy = ApprovalPolicy(default="ask", tools={"read_*": "reject", "list_files": "approve"})
    ran = await run(ScriptedProvider(reading()), pattern="one-call", policy=policy, config=config(project))
    assert ran.finished.status == "completed"
    (requested,), (resolved,) = ran.of("escalation.requested"), ran.of("escalation.resolved")
    assert requested.tool is not None and requested.tool.name == "read_file" and requested.tool.server is None
    assert requested.tool.description.startswith("Read")
    assert requested.rule == resolved.rule == "policy: tools[read_*]=reject" and not requested.human
    assert ran.of("tool.result")[0].output == "this use of read_file was refused: rejected by policy: tools[read_*]=reject"


async def test_an_approve_rule_runs_the_tool_unasked(one_call, project):  # noqa: F811
    policy = ApprovalPolicy(default="ask", tools={"read_file": "approve"})
    ran = await asyncio.wait_for(
        run(ScriptedProvider(reading()), pattern="one-call", policy=policy, config=config(project)), 10,
    )
    assert ran.of("escalation.resolved")[0].rule == "policy: tools[read_file]=approve"
    assert ran.of("tool.result")[0].output.startswith("# Rate limiter")


# -- always allow -------------------------------------------------------------------------


async def _waiting(gate: ApprovalGate, count: int) -> list[str]:
    """The ids of the escalations waiting, once `count` are."""
    while len(gate.pending) < count:
        await asyncio.sleep(0)
    return list(gate.pending)


async def test_always_allow_with_this_input_approves_only_that_input():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    tool = FakeTool()
    first = asyncio.create_task(ask_to_use(ctx, "coder", "git.status", tool, {"repo": ".", "depth": 2}))
    (pending,) = await _waiting(gate, 1)
    assert gate.allow_tool(pending, exact=True) == "always allowed by human: git.status with this input"
    assert ((await first).action, (await first).by) == ("approve", "human")
    again = await ask_to_use(ctx, "coder", "git.status", tool, {"depth": 2, "repo": "."})  # the same input
    assert again.action == "approve"
    other = asyncio.create_task(ask_to_use(ctx, "coder", "git.status", tool, {"repo": "src"}))
    (pending,) = await _waiting(gate, 1)  # other input: asks again
    gate.resolve(pending, Decision("reject", reason="not there"))
    assert (await other).action == "reject"
    rules = [(e.rule, e.by) for e in events if e.kind == "escalation.resolved"]
    assert rules == [
        ("always allowed by human: git.status with this input", "human"),
        ("always allowed by human: git.status with this input", "policy"),
        ("policy: default=ask", "human"),
    ]


async def test_always_allow_this_tool_approves_any_input_and_what_is_pending_but_not_other_tools():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    tool = FakeTool()
    uses = [
        asyncio.create_task(ask_to_use(ctx, "coder", name, tool, {"repo": repo}))
        for name, repo in (("git.status", "a"), ("git.status", "b"), ("git.log", "a"))
    ]
    first, _, log = await _waiting(gate, 3)
    assert gate.allow_tool(first, exact=False) == "always allowed by human: git.status"
    assert [(await use).action for use in uses[:2]] == ["approve", "approve"]
    assert list(gate.pending) == [log]  # another tool still waits
    assert (await ask_to_use(ctx, "coder", "git.status", tool, {"repo": "c"})).action == "approve"
    gate.resolve(log, Decision("approve"))
    await uses[2]
    rules = [e.rule for e in events if e.kind == "escalation.resolved"]
    assert rules.count("always allowed by human: git.status") == 3


async def test_a_reject_rule_beats_a_persons_always_allow():
    gate = ApprovalGate(ApprovalPolicy(default="ask", tools={"*.delete*": "reject"}))
    ctx, _ = await _context(gate)
    gate.allow_always("tool_use")
    refused = await ask_to_use(ctx, "coder", "git.delete_branch", FakeTool(), {"repo": "."})
    assert (refused.action, refused.by) == ("reject", "policy")
    assert refused.reason == "rejected by policy: tools[*.delete*]=reject"
    assert (await ask_to_use(ctx, "coder", "git.status", FakeTool(), {"repo": "."})).action == "approve"


async def test_only_a_waiting_tool_use_can_be_always_allowed():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, _ = await _context(gate)
    plan = asyncio.create_task(ctx.escalate("plan", "ok?"))
    (pending,) = await _waiting(gate, 1)
    with pytest.raises(DecisionError, match="not a tool use"):
        gate.allow_tool(pending, exact=False)
    with pytest.raises(DecisionError, match="not waiting"):
        gate.allow_tool("e99", exact=True)
    plan.cancel()


# -- edits --------------------------------------------------------------------------------


async def test_an_edit_is_checked_against_the_tools_own_schema():
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    ctx, events = await _context(gate)
    use = asyncio.create_task(ask_to_use(ctx, "coder", "git.status", FakeTool(), {"repo": "."}))
    (pending,) = await _waiting(gate, 1)
    with pytest.raises(DecisionError, match="depth: 0 is less than the minimum of 1"):
        gate.resolve(pending, Decision("edit", edited={"repo": ".", "depth": 0}))
    with pytest.raises(DecisionError, match="'path' was unexpected"):
        gate.resolve(pending, Decision("edit", edited={"repo": ".", "path": "x"}))
    with pytest.raises(DecisionError, match="must be a JSON object, not list"):
        gate.resolve(pending, Decision("edit", edited=["."]))
    gate.resolve(pending, Decision("edit", edited={"repo": "src", "depth": 1}))
    assert (await use).edited == {"repo": "src", "depth": 1}
    (requested,) = [e for e in events if e.kind == "escalation.requested"]
    assert requested.tool == ToolAsked(name="git.status", description="Shows the working tree status")
    assert (requested.tool.server, requested.tool.short_name) == ("git", "status")


def test_the_readmes_example_rules_do_what_it_says():
    import re
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(\[approval\]\n(?:[^`]*\n)?tools = [^`]*)```", readme)
    policy = ApprovalPolicy.model_validate(tomllib.loads(block)["approval"])
    said = {"docs.delete_page": "reject", "git.push": "reject", "git.log": "ask", "read_file": "approve", "docs.search": "approve"}
    assert {tool: policy.mode_for_tool(tool)[0] for tool in said} == said
    assert policy.mode_for_tool("git.log")[1] == "policy: tools[git.*]=ask"


def test_the_tool_of_an_escalation_is_stored_whole():
    from engine.events import EVENT_ADAPTER, EscalationRequested, event_to_json

    event = EscalationRequested(
        session_id="s", seq=1, ts=1.0, escalation_id="e1", trigger="tool_use", reason="coder wants to use git.status",
        payload={"repo": "."}, rule="policy: tools[git.*]=ask", human=True,
        tool=ToolAsked(name="git.status", description="Shows the working tree status"),
    )
    assert EVENT_ADAPTER.validate_json(event_to_json(event)) == event
    old = EVENT_ADAPTER.validate_json(event_to_json(event.model_copy(update={"tool": None})))
    assert old.tool is None  # a record from before tools were named still reads

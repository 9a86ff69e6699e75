"""Agent tools: confined to one folder, secrets kept out, every use an escalation point."""

from __future__ import annotations

import asyncio
import os

import pytest

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.policy import ApprovalPolicy
from engine.providers.base import ToolUse
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig
from engine.redaction import redact
from engine.run.record import Record
from engine.tools import MAX_READ, ToolError, run_tool
from tests.helpers import FAST_RETRY, ScriptedProvider, pattern_info, run

KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "src" / "deep" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "README.md").write_text("# Rate limiter\nOne bucket per client.\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "src" / "deep" / "deeper" / "hidden.py").write_text("x = 1\n")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".env").write_text(f"ANTHROPIC_API_KEY={KEY}\n")
    (root / "settings.py").write_text(f"API = '{KEY}'\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    (tmp_path / "outside.txt").write_text("not yours\n")
    return root


def test_list_files_shows_the_project_two_levels_deep_without_tool_folders(project):
    listing = run_tool("list_files", {"path": "."}, project).splitlines()
    assert "README.md" in listing and "src/app.py" in listing
    assert not any(line.startswith(".git") for line in listing)
    assert "src/deep/deeper/hidden.py" not in listing  # deeper than two levels
    assert run_tool("list_files", {"path": "src"}, project).splitlines()[0] == "src/app.py"


def test_read_file_reads_text_and_cuts_long_files(project):
    assert run_tool("read_file", {"path": "README.md"}, project).startswith("# Rate limiter")
    (project / "big.txt").write_text("a" * (MAX_READ + 10))
    big = run_tool("read_file", {"path": "big.txt"}, project)
    assert big == "a" * MAX_READ + "\n(cut at 64 KB)"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"path": "../outside.txt"}, "outside the folder"),
        ({"path": "/etc/passwd"}, "outside the folder"),
        ({"path": ".env"}, "looks like a secret"),
        ({"path": "blob.bin"}, "binary file"),
        ({"path": "missing.md"}, "is not a file"),
        ({}, "bad input for read_file"),
        ({"path": "README.md", "mode": "w"}, "bad input for read_file"),
    ],
)
def test_read_file_refuses_what_it_must_not_read(project, payload, words):
    with pytest.raises(ToolError, match=words):
        run_tool("read_file", payload, project)


def test_a_link_out_of_the_folder_is_refused(project, tmp_path):
    os.symlink(tmp_path / "outside.txt", project / "link.txt")
    with pytest.raises(ToolError, match="outside the folder"):
        run_tool("read_file", {"path": "link.txt"}, project)


def test_keys_in_files_and_the_environment_are_redacted(project, monkeypatch):
    assert KEY not in run_tool("read_file", {"path": "settings.py"}, project)
    assert "[redacted]" in run_tool("read_file", {"path": "settings.py"}, project)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-words-token-value")
    assert redact("it says plain-words-token-value.") == "it says [redacted]."
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
    assert redact(f"a\n{block}\nb") == "a\n[redacted]\nb"


def test_unknown_tools_are_errors_for_the_agent(project):
    with pytest.raises(ToolError, match="no tool called 'shell'"):
        run_tool("shell", {"cmd": "ls"}, project)


# -- in a session -----------------------------------------------------------------

TEAM = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", tools=("read_file", "list_files")),
                        AgentSpec(name="plain", role="writer")))


@pytest.fixture
def one_call(monkeypatch):
    """A pattern that makes one call by `reader` and returns its reply."""

    async def one(ctx, task):
        return await ctx.call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: TEAM))


def reading(path="README.md", *, then="I read it."):
    """A script: read `path` once, then answer `then`."""

    def script(request):
        if any(m.tool_results for m in request.messages):
            return then
        return ToolUse("toolu_1", "read_file", {"path": path})

    return script


def config(root, **more):
    return EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=root, **more)


async def test_an_approved_tool_use_runs_and_its_result_goes_back_to_the_model(one_call, project):
    provider = ScriptedProvider(reading())
    ran = await run(provider, pattern="one-call", config=config(project))
    assert ran.finished.status == "completed" and ran.finished.result == "I read it."
    (call,), (result,) = ran.of("tool.call"), ran.of("tool.result")
    assert (call.tool, call.input, call.agent) == ("read_file", {"path": "README.md"}, "reader")
    assert result.output.startswith("# Rate limiter") and not result.is_error
    (escalation,) = ran.of("escalation.requested")
    assert escalation.trigger == "tool_use" and escalation.payload == {"path": "README.md"}
    assert "reader wants to use read_file" in escalation.reason
    first, second = provider.requests
    assert [t.name for t in first.tools] == ["read_file", "list_files"] and first.tool_choice == "auto"
    assert second.messages[1].tool_uses[0].name == "read_file"
    assert second.messages[2].tool_results[0].output == result.output
    assert [e.tool_round for e in ran.of("call.started")] == [0, 1]
    assert [e.stop_reason for e in ran.of("call.finished")] == ["tool_use", "end_turn"]


async def test_a_person_edits_the_input_and_an_invalid_edit_loses_nothing(one_call, project):
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    provider = ScriptedProvider(reading("settings.txt"))
    session = asyncio.create_task(run(provider, pattern="one-call", gate=gate, policy=gate.policy, config=config(project)))
    while not gate.pending:
        await asyncio.sleep(0.01)
    (pending,) = gate.pending
    with pytest.raises(DecisionError, match="'file' was unexpected"):
        gate.resolve(pending, Decision("edit", edited={"file": "README.md"}))
    assert pending in gate.pending
    gate.resolve(pending, Decision("edit", edited={"path": "README.md"}))
    ran = await session
    assert ran.of("tool.call")[0].input == {"path": "README.md"}  # what actually ran
    assert ran.of("tool.result")[0].output.startswith("# Rate limiter")
    assert ran.of("escalation.resolved")[0].edited == {"path": "README.md"}
    told = provider.requests[1].messages[2].tool_results[0].output
    assert told.startswith('[input edited by a person: {"path": "README.md"}]\n# Rate limiter')


async def test_a_refused_use_tells_the_model_why(one_call, project):
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    provider = ScriptedProvider(reading())
    session = asyncio.create_task(run(provider, pattern="one-call", gate=gate, policy=gate.policy, config=config(project)))
    while not gate.pending:
        await asyncio.sleep(0.01)
    gate.resolve(next(iter(gate.pending)), Decision("reject", reason="not that file"))
    ran = await session
    (result,) = ran.of("tool.result")
    assert result.is_error and result.output == "this use of read_file was refused: not that file"
    assert provider.requests[1].messages[2].tool_results[0].is_error


async def test_the_policy_can_refuse_every_tool_use(one_call, project):
    policy = ApprovalPolicy(default="approve", triggers={"tool_use": "reject"})
    ran = await run(ScriptedProvider(reading()), pattern="one-call", policy=policy, config=config(project))
    assert ran.finished.status == "completed"
    assert "refused: rejected by policy: tool_use=reject" in ran.of("tool.result")[0].output


@pytest.mark.parametrize(
    ("use", "words"),
    [
        (ToolUse("t1", "shell", {"cmd": "rm -rf /"}), "reader has no tool called 'shell'"),
        (ToolUse("t1", "read_file", {"file": "x"}), "bad input for read_file"),
    ],
)
async def test_unknown_tools_and_bad_input_go_back_without_asking(one_call, project, use, words):
    provider = ScriptedProvider(lambda r: "done" if any(m.tool_results for m in r.messages) else use)
    ran = await run(provider, pattern="one-call", policy=ApprovalPolicy(default="ask"), config=config(project))
    assert ran.finished.status == "completed"
    assert not ran.of("escalation.requested")
    (result,) = ran.of("tool.result")
    assert result.is_error and words in result.output


async def test_after_the_last_round_the_model_must_answer(one_call, project):
    provider = ScriptedProvider(lambda r: "fine" if r.tool_choice == "none" else ToolUse(f"t{len(r.messages)}", "read_file", {"path": "README.md"}))
    ran = await run(provider, pattern="one-call", config=config(project, max_tool_rounds=2))
    assert ran.finished.result == "fine"
    assert [r.tool_choice for r in provider.requests] == ["auto", "auto", "none"]
    assert len(ran.of("tool.result")) == 2


async def test_agents_without_tools_are_offered_none(project):
    provider = ScriptedProvider(lambda r: {"steps": [], "confidence": 1} if r.tool else "text")
    await run(provider, config=config(project))
    assert provider.requests and all(r.tools == () for r in provider.requests)


async def test_a_structured_reply_may_come_after_tool_use(monkeypatch, project):
    from pydantic import BaseModel

    class Summary(BaseModel):
        summary: str

    async def structured(ctx, task):
        return (await ctx.call("reader", task, schema=Summary)).summary

    monkeypatch.setitem(patterns.PATTERNS, "structured", pattern_info("structured", structured, lambda: TEAM))
    provider = ScriptedProvider(lambda r: {"summary": "one bucket"} if any(m.tool_results for m in r.messages)
                                else ToolUse("t1", "read_file", {"path": "README.md"}))
    ran = await run(provider, pattern="structured", config=config(project))
    assert ran.finished.result == "one bucket"
    assert all(r.tool is not None and len(r.tools) == 2 for r in provider.requests)
    finished = ran.of("call.finished")
    assert finished[0].structured is None and finished[1].structured == {"summary": "one bucket"}


async def test_replay_skips_finished_tool_rounds_and_redoes_unfinished_ones(one_call, project):
    first = await run(ScriptedProvider(reading()), pattern="one-call", config=config(project))
    finals = {e.call_key: e for e in first.of("call.finished")}
    provider = ScriptedProvider(reading())
    from engine.session import SessionSpec, run_session

    again = await run_session(
        SessionSpec(task="t", pattern="one-call", policy=ApprovalPolicy(default="approve")), provider,
        config=config(project), record=Record.of_calls(finals),
    )
    assert again.result == "I read it." and provider.requests == []
    halfway = {e.call_key: e for e in first.of("call.finished") if e.stop_reason == "tool_use"}
    again = await run_session(
        SessionSpec(task="t", pattern="one-call", policy=ApprovalPolicy(default="approve")), provider,
        config=config(project), record=Record.of_calls(halfway),
    )
    assert again.result == "I read it." and len(provider.requests) == 2


async def test_replay_still_answers_structured_calls_from_the_record(project):
    first = await run(SimulatedProvider(seed=1, speed=0), config=config(project))
    finals = {e.call_key: e for e in first.of("call.finished")}
    assert any(e.structured and e.stop_reason == "tool_use" for e in finals.values())  # forced replies
    from engine.session import SessionSpec, run_session

    calls = []
    provider = SimulatedProvider(seed=1, speed=0)
    original = provider.stream
    provider.stream = lambda request: calls.append(request) or original(request)
    spec = SessionSpec(task="Design a rate limiter for our public REST API", policy=ApprovalPolicy(default="approve"))
    again = await run_session(spec, provider, config=config(project), record=Record.of_calls(finals))
    assert again.result == first.finished.result and calls == []


async def test_the_simulated_agent_looks_around_reads_the_readme_and_says_so(one_call, project):
    async def session():
        return await run(SimulatedProvider(seed=3, speed=0), pattern="one-call", task="Explain the rate limiter",
                         config=config(project))

    ran, again = await session(), await session()
    calls = [(e.tool, e.input) for e in ran.of("tool.call")]
    assert calls == [("list_files", {"path": "."}), ("read_file", {"path": "README.md"})]
    assert ran.finished.result.startswith("_Read `README.md` (2 lines) before answering._")
    assert [e.input for e in again.of("tool.call")] == [c[1] for c in calls]
    assert again.finished.result == ran.finished.result

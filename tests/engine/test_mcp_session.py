"""MCP tools in whole sessions: offered to the model as "server__tool", run through the
approval path as "server.tool", failures as tool results while the session goes on, one
timeline line per server that fails or is lost, no process left behind, and never run
again when a recorded call is replayed. Team files and config.toml declare servers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.bus import EventBus
from engine.events import CallFinished, ToolCall
from engine.mcp.spec import McpServer
from engine.narration import narrate
from engine.policy import ApprovalPolicy
from engine.providers.base import ToolUse
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from engine.state import SessionState
from engine.teams import TeamFileError, parse_team_file
from tests.helpers import FAST_RETRY, ScriptedProvider, pattern_info, run

STDIO = str(Path(__file__).parents[1] / "fakes" / "mcp_stdio_server.py")
TEAM = TeamSpec(agents=(AgentSpec(name="worker", role="engineer", tools=("fake.*", "read_file")),))


def fake(pid_file: Path | None = None, **fields) -> McpServer:
    more = ("--pid-file", str(pid_file)) if pid_file else ()
    return McpServer(name="fake", command=(sys.executable, STDIO, *more), **fields)


@pytest.fixture(autouse=True)
def one_call(monkeypatch):
    """A pattern that makes one call by `worker` and returns its reply."""

    async def one(ctx, task):
        return await ctx.call("worker", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: TEAM))


def uses(*steps: tuple[str, dict]):
    """A script: use each (tool, input) in turn, one per round, then answer "done"."""

    def script(request):
        done = sum(1 for m in request.messages if m.tool_results)
        if done < len(steps):
            name, payload = steps[done]
            return ToolUse(f"toolu_{done}", name, payload)
        return "done"

    return script


def lines(events) -> list[str]:
    state, found = SessionState(), []
    for event in events:
        state.apply(event)
        line = narrate(state, event)
        if line is not None:
            found.append(line.text)
    return found


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_tool_use_runs_through_a_whole_session(tmp_path):
    provider = ScriptedProvider(uses(("fake__echo", {"text": "hello from the server"})))
    ran = await run(provider, pattern="one-call", mcp_servers=(fake(tmp_path / "pid"),))
    assert ran.finished.status == "completed" and ran.finished.result == "done"
    offered = [tool.name for tool in provider.requests[0].tools]
    assert "fake__echo" in offered and "read_file" in offered and "fake.echo" not in offered
    echo = next(t for t in provider.requests[0].tools if t.name == "fake__echo")
    assert echo.description == "Say the text back." and echo.input_schema["required"] == ["text"]
    (call,), (result,) = ran.of("tool.call"), ran.of("tool.result")
    assert (call.tool, call.input) == ("fake.echo", {"text": "hello from the server"})
    assert (result.tool, result.output, result.is_error) == ("fake.echo", "hello from the server", False)
    (asked,) = ran.of("escalation.requested")
    assert asked.trigger == "tool_use" and asked.payload == {"text": "hello from the server"}
    given = provider.requests[1].messages[2].tool_results[0].output
    assert '<agent_output source="tool fake.echo">' in given and "hello from the server" in given
    (started,) = ran.of("tool.server")
    assert started.status == "started" and "fake.echo" in started.tools
    assert any(line.startswith("tool server fake started, 7 tools: fake.echo") for line in lines(ran.events))
    assert gone(int((tmp_path / "pid").read_text())), "the server outlived its session"


async def test_a_failing_tool_and_a_slow_one_are_error_results_and_the_session_goes_on():
    provider = ScriptedProvider(uses(("fake__fail", {"why": "disk on fire"}), ("fake__slow", {"seconds": 30})))
    ran = await run(provider, pattern="one-call", mcp_servers=(fake(call_timeout=0.5),))
    assert ran.finished.status == "completed" and ran.finished.result == "done"
    failed, slow = ran.of("tool.result")
    assert failed.is_error and "fake.fail failed" in failed.output and "disk on fire" in failed.output
    assert slow.is_error and slow.output == "fake.slow took longer than 0.5 s and was stopped"
    assert [e.status for e in ran.of("tool.server")] == ["started"]


async def test_a_server_that_exits_mid_session_is_one_line_and_its_tools_then_fail(tmp_path):
    provider = ScriptedProvider(uses(("fake__exit", {}), ("fake__echo", {"text": "hello?"}), ("fake__add", {"a": 1, "b": 1})))
    ran = await run(provider, pattern="one-call", mcp_servers=(fake(tmp_path / "pid"),))
    assert ran.finished.status == "completed"
    assert all(result.is_error for result in ran.of("tool.result")) and len(ran.of("tool.result")) == 3
    lost = [e for e in ran.of("tool.server") if e.status == "lost"]
    assert len(lost) == 1 and "fake.exit" in lost[0].message
    assert sum("tool server fake was lost" in line for line in lines(ran.events)) == 1
    assert gone(int((tmp_path / "pid").read_text()))


async def test_a_server_that_does_not_start_is_one_line_and_the_session_goes_on():
    broken = McpServer(name="fake", command=("huddle-no-such-program-x",))
    provider = ScriptedProvider(uses(("fake__echo", {"text": "hi"})))
    ran = await run(provider, pattern="one-call", mcp_servers=(broken,))
    assert ran.finished.status == "completed"
    (failed,) = ran.of("tool.server")
    assert failed.status == "failed" and "no such program" in failed.message
    assert [line for line in lines(ran.events) if line.startswith("tool server")] == [
        "tool server fake did not start: cannot run 'huddle-no-such-program-x': no such program"
    ]
    assert not ran.of("error")  # no second line for the selector its failure left empty
    (result,) = ran.of("tool.result")
    assert result.is_error and "has no tool called 'fake__echo'" in result.output


async def test_a_selector_matching_no_tool_is_one_line_not_a_crash():
    team = TeamSpec(agents=(AgentSpec(name="worker", role="engineer", tools=("fake.nothing_like_this", "fake.echo")),))
    ran = await run(ScriptedProvider(lambda r: "done"), pattern="one-call", team=team, mcp_servers=(fake(),))
    assert ran.finished.status == "completed"
    (error,) = ran.of("error")
    assert not error.fatal and error.error_type == "tool" and "'fake.nothing_like_this' matches no tool" in error.message


async def test_a_big_result_reaches_the_model_cut_with_a_note():
    provider = ScriptedProvider(uses(("fake__big", {})))
    ran = await run(provider, pattern="one-call", mcp_servers=(fake(),))
    (result,) = ran.of("tool.result")
    assert not result.is_error and len(result.output) < 33_000 and "[cut: the result was 100,000 characters" in result.output


async def test_cancelling_a_session_mid_tool_leaves_no_server_behind(tmp_path):
    provider = ScriptedProvider(uses(("fake__slow", {"seconds": 30})))
    calling = asyncio.Event()
    bus = EventBus()
    bus.listen(lambda e: calling.set() if isinstance(e, ToolCall) else None)
    policy = ApprovalPolicy(default="approve")
    spec = SessionSpec(task="wait", pattern="one-call", policy=policy, mcp_servers=(fake(tmp_path / "pid"),))
    task = asyncio.create_task(run_session(spec, provider, bus=bus, config=EngineConfig(retry=FAST_RETRY, call_timeout=5)))
    await asyncio.wait_for(calling.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gone(int((tmp_path / "pid").read_text()))


async def test_a_replayed_call_never_reaches_the_server():
    servers = (fake(),)
    first = await run(ScriptedProvider(uses(("fake__add", {"a": 2, "b": 2}))), pattern="one-call", mcp_servers=servers)
    assert [r.output for r in first.of("tool.result")] == ["4"]
    recorded = {e.call_key: e for e in first.of(CallFinished)}  # the last of each call: its answer
    events: list = []
    bus = EventBus()
    bus.listen(events.append)
    again = ScriptedProvider(uses(("fake__add", {"a": 2, "b": 2})))
    policy = ApprovalPolicy(default="approve")
    spec = SessionSpec(task=first.of("session.started")[0].task, pattern="one-call", policy=policy, mcp_servers=servers)
    finished = await run_session(spec, again, bus=bus, config=EngineConfig(retry=FAST_RETRY, call_timeout=5),
                                 record=Record.of_calls(recorded))
    assert finished.result == "done" and again.requests == []
    assert not [e for e in events if e.kind in ("tool.call", "tool.result")]



async def test_a_call_made_again_after_it_stopped_between_rounds_gets_its_tools_answers_from_the_record():
    from engine.run.replay import recorded_tools

    servers = (fake(),)
    first = await run(ScriptedProvider(uses(("fake__add", {"a": 2, "b": 2}))), pattern="one-call", mcp_servers=servers)
    halfway = {e.call_key: e for e in first.of(CallFinished) if e.stop_reason == "tool_use"}
    assert halfway, "the first call stopped to use a tool"
    events: list = []
    bus = EventBus()
    bus.listen(events.append)
    again = ScriptedProvider(uses(("fake__add", {"a": 2, "b": 2})))
    refusing = ApprovalPolicy(default="reject")  # a use run again would be refused: "4" can only be the record's
    spec = SessionSpec(task=first.of("session.started")[0].task, pattern="one-call", policy=refusing, mcp_servers=servers)
    finished = await run_session(spec, again, bus=bus, config=EngineConfig(retry=FAST_RETRY, call_timeout=5),
                                 record=Record.of_calls(halfway, recorded_tools(first.events)))
    assert finished.result == "done" and len(again.requests) == 2  # the call is made again, its round answered
    results = [e for e in events if e.kind == "tool.result"]
    assert [(r.tool, r.output, r.recorded) for r in results] == [("fake.add", "4", True)]
    assert "(as recorded, not run again)" in narrate(SessionState(), results[0]).text
    assert not [e for e in events if e.kind == "escalation.requested"]  # nobody is asked again
    other = ScriptedProvider(uses(("fake__add", {"a": 2, "b": 3})))  # another input is not in the record
    finished = await run_session(spec, other, config=EngineConfig(retry=FAST_RETRY, call_timeout=5),
                                 record=Record.of_calls(halfway, recorded_tools(first.events)))
    assert other.requests[-1].messages[-1].tool_results[0].is_error  # refused by the policy: it was asked


TEAM_FILE = """
name = "tools"
pattern = "orchestrator"
lead = "lead"

[[agents]]
name = "lead"
role = "lead"

[[agents]]
name = "worker"
role = "engineer"
tools = ["read_file", "git.*", "docs.search"]

[[mcp_servers]]
name = "git"
command = ["uvx", "mcp-server-git"]
"""


def test_a_team_file_declares_servers_and_config_shares_them():
    docs = McpServer(name="docs", url="http://127.0.0.1:8765/mcp", headers={"Authorization": "env:DOCS_TOKEN"})
    with pytest.raises(TeamFileError, match="uses tools of server 'docs', which is not declared"):
        parse_team_file(TEAM_FILE, "teams/tools.toml")
    team_file = parse_team_file(TEAM_FILE, "teams/tools.toml", shared_servers=[docs])
    own_git = McpServer(name="git", command=("git-mcp",))
    unused = McpServer(name="unused", command=("x",))
    servers = team_file.servers([docs, own_git, unused])
    assert [s.name for s in servers] == ["docs", "git"] and servers[1].command == ("uvx", "mcp-server-git")
    with pytest.raises(TeamFileError, match="server 'git' is declared twice"):
        parse_team_file(TEAM_FILE + '\n[[mcp_servers]]\nname = "git"\nurl = "http://127.0.0.1:1/mcp"\n', "t.toml")
    with pytest.raises(TeamFileError, match="write an MCP server's tool as"):
        parse_team_file(TEAM_FILE.replace('"git.*"', '"Git!.*"'), "t.toml", shared_servers=[docs])
    with pytest.raises(ValueError, match="uses tools of server 'git', which the session does not declare"):
        SessionSpec(task="x", team=team_file.team(), mcp_servers=(docs,))


async def test_both_real_providers_offer_mcp_tools_and_carry_their_results():
    """Anthropic and an OpenAI-compatible server each ask for an MCP tool by its wire name,
    and get its result back in the next request."""
    from engine.providers.anthropic import AnthropicProvider
    from engine.providers.openai import OpenAIProvider
    from tests.fakes.chat_completions import ChatCompletionsAPI, text_chunks, tool_call_chunks
    from tests.fakes.chat_completions import Reply as ChatReply
    from tests.fakes.messages_api import MessagesAPI, Reply, text_events, tool_events

    def claude(seen):
        if len(seen.body["messages"]) == 1:
            return Reply(events=tool_events({"a": 20, "b": 22}, name="fake__add", tool_id="toolu_9"))
        return Reply(events=text_events("The sum is in."))

    def gpt(seen):
        if len(seen.body["messages"]) <= 2:  # system and user: nothing used yet
            return ChatReply(chunks=tool_call_chunks([("call_9", "fake__add", {"a": 20, "b": 22})]))
        return ChatReply(chunks=text_chunks("The sum is in."))

    with MessagesAPI(claude) as anthropic, ChatCompletionsAPI(gpt) as chat:
        for provider, api in ((AnthropicProvider(api_key="sk-ant-mcp-test-1234", base_url=anthropic.base_url), anthropic),
                              (OpenAIProvider(api_key="sk-mcp-test-5678", base_url=chat.base_url), chat)):
            ran = await run(provider, pattern="one-call", mcp_servers=(fake(),))
            assert ran.finished.result == "The sum is in.", ran.finished.reason
            assert [(r.tool, r.output) for r in ran.of("tool.result")] == [("fake.add", "42")]
            offered = api.requests[0].body["tools"]
            assert any((tool.get("name") or tool["function"]["name"]) == "fake__add" for tool in offered)
            assert "42" in json.dumps(api.requests[1].body["messages"])


async def test_session_started_records_each_server_with_its_literal_values_hidden():
    from engine.providers.simulated import SimulatedProvider

    server = McpServer(name="vault", command=("no-such-mcp-server",), env={"TOKEN": "sk-literal-5551234", "HOME_DIR": "env:HOME"})
    ran = await run(SimulatedProvider(seed=1, speed=0), pattern="pipeline", mcp_servers=(server,))

    [started] = ran.of("session.started")
    [recorded] = started.mcp_servers
    assert recorded.env == {"TOKEN": "<hidden>", "HOME_DIR": "env:HOME"} and recorded.command == server.command
    assert "sk-literal-5551234" not in json.dumps([event.model_dump(mode="json") for event in ran.events])

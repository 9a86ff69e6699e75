"""MCP servers as a hub holds them: started (stdio and streamable HTTP), listed, called and
stopped, against servers the tests run themselves (tests/fakes/mcp_*), never the network."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from engine.mcp.hub import McpHub
from engine.mcp.names import selects, server_of, wire_name
from engine.mcp.results import MAX_RESULT, cleaned
from engine.mcp.spec import McpServer
from engine.tools import ToolError
from tests.fakes.mcp_http_server import http_server

STDIO = str(Path(__file__).parents[1] / "fakes" / "mcp_stdio_server.py")


def stdio(name: str = "fake", *more: str, **fields) -> McpServer:
    return McpServer(name=name, command=(sys.executable, STDIO, *more), **fields)


class Reports(list):
    async def __call__(self, server, status, tools, message):
        self.append((server, status, tools, message))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_stdio_server_lists_its_tools_with_descriptions_and_schemas(tmp_path):
    reports = Reports()
    hub = McpHub([stdio("fake", "--pid-file", str(tmp_path / "pid"))], report=reports)
    try:
        await hub.start()
        tools = {tool.name: tool for _, tool in hub.tools()}
        assert {"echo", "add", "fail", "slow", "big", "exit"} <= set(tools)
        assert tools["echo"].description == "Say the text back."
        assert tools["add"].input_schema["required"] == ["a", "b"]
        assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"
        ((server, status, names, message),) = reports
        assert (server, status, message) == ("fake", "started", "") and "fake.echo" in names
        assert await hub.call("fake", "add", {"a": 2, "b": 3}) == "5"
    finally:
        await hub.stop()
    assert gone(int((tmp_path / "pid").read_text())), "the server's process outlived the hub"


async def test_headers_read_from_the_environment_reach_an_http_server():
    async with http_server(token="s3cret-token-42") as url:
        declared = McpServer(name="docs", url=url, headers={"Authorization": "env:DOCS_TOKEN"})
        reports = Reports()
        hub = McpHub([declared], environment={"DOCS_TOKEN": "Bearer s3cret-token-42"}, report=reports)
        try:
            await hub.start()
            assert reports[0][:2] == ("docs", "started")
            assert await hub.call("docs", "echo", {"text": "over http"}) == "over http"
            assert "s3cret-token-42" in hub.secrets  # redacted from whatever the server says
        finally:
            await hub.stop()

        unset = Reports()
        hub = McpHub([declared], environment={}, report=unset)
        await hub.start()
        await hub.stop()
        assert unset == [("docs", "failed", (), "headers.Authorization reads $DOCS_TOKEN, which is not set")]

        refused = Reports()
        hub = McpHub([McpServer(name="docs", url=url)], report=refused)
        await hub.start()
        await hub.stop()
        assert refused[0][:2] == ("docs", "failed") and url in refused[0][3]


@pytest.mark.parametrize(
    "command, says",
    [
        (("huddle-no-such-program-x",), "cannot run 'huddle-no-such-program-x': no such program"),
        ((sys.executable, "-c", "import sys; sys.stderr.write('boom: no repository here\\n'); sys.exit(2)"),
         "(it said: boom: no repository here)"),
    ],
    ids=["bad-command", "exits-at-once"],
)
async def test_a_server_that_does_not_start_is_one_report_and_no_tools(command, says):
    reports = Reports()
    hub = McpHub([McpServer(name="broken", command=command, startup_timeout=15), stdio("fake")], report=reports)
    try:
        await hub.start()
        failed = [r for r in reports if r[1] == "failed"]
        assert len(failed) == 1 and failed[0][0] == "broken" and says in failed[0][3]
        assert {server for server, _ in hub.tools()} == {"fake"}
        with pytest.raises(ToolError, match="the broken server is not running"):
            await hub.call("broken", "anything", {})
    finally:
        await hub.stop()


async def test_a_server_too_slow_to_start_is_stopped_within_its_timeout():
    reports = Reports()
    slow = McpServer(name="sleepy", command=(sys.executable, "-c", "import time; time.sleep(30)"), startup_timeout=0.5)
    hub = McpHub([slow], report=reports)
    await hub.start()
    await hub.stop()
    assert reports == [("sleepy", "failed", (), "no answer within 0.5 s")]


async def test_failing_slow_and_vanishing_tools_are_tool_errors(tmp_path):
    reports = Reports()
    hub = McpHub([stdio("fake", "--pid-file", str(tmp_path / "pid"), call_timeout=0.5)], report=reports)
    try:
        await hub.start()
        with pytest.raises(ToolError, match="fake.fail failed: .*it broke: on purpose"):
            await hub.call("fake", "fail", {"why": "on purpose"})
        with pytest.raises(ToolError, match="fake.slow took longer than 0.5 s"):
            await hub.call("fake", "slow", {"seconds": 30})
        assert await hub.call("fake", "echo", {"text": "still here"}) == "still here"
        with pytest.raises(ToolError, match="the fake server stopped answering"):
            await hub.call("fake", "exit", {})
        with pytest.raises(ToolError, match="the fake server stopped"):
            await hub.call("fake", "echo", {"text": "anyone?"})
        lost = [r for r in reports if r[1] == "lost"]
        assert len(lost) == 1 and "fake.exit" in lost[0][3]  # reported once, however many calls fail
    finally:
        await hub.stop()
    assert gone(int((tmp_path / "pid").read_text()))


async def test_a_big_result_is_cut_with_a_note_and_secrets_are_redacted():
    hub = McpHub([stdio("fake", env={"FAKE_SECRET": "env:MY_PASSWORD"})], environment={"MY_PASSWORD": "hunter2-but-longer"})
    try:
        await hub.start()
        big = await hub.call("fake", "big", {})
        assert len(big) < MAX_RESULT + 200 and big.startswith("x" * 100) and "[cut: the result was 100,000 characters" in big
        said = await hub.call("fake", "whisper", {})
        assert "hunter2-but-longer" not in said and "[redacted]" in said
    finally:
        await hub.stop()


def test_tool_names_for_models_and_selectors():
    assert wire_name("git", "status") == "git__status"
    assert wire_name("web", "fetch.page/v2") == "web__fetch_page_v2"
    long = wire_name("server", "t" * 100)
    assert len(long) == 64 and long != wire_name("server", "t" * 99)
    assert selects("git.*", "git.status") and not selects("git.*", "github.status")
    assert selects("*", "read_file") and selects("docs.search", "docs.search") and not selects("docs.search", "docs.searches")
    assert (server_of("git.*"), server_of("read_file"), server_of("*.delete")) == ("git", None, None)
    assert cleaned("a\ud800b") == "a\ufffdb"


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"name": "git"}, "give exactly one of command"),
        ({"name": "git", "command": ["x"], "url": "http://127.0.0.1/mcp"}, "give exactly one of command"),
        ({"name": "Git", "command": ["x"]}, "a server's name starts with a lowercase letter"),
        ({"name": "my_git", "command": ["x"]}, "only a-z, 0-9 and '-'"),
        ({"name": "docs", "url": "ftp://x"}, "url must start with http"),
        ({"name": "docs", "url": "http://x/mcp", "env": {"A": "b"}}, "env and cwd are for a command"),
    ],
)
def test_a_server_is_declared_one_way(fields, problem):
    with pytest.raises(ValueError, match=problem):
        McpServer.model_validate(fields)

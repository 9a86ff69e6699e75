"""The Anthropic provider against a loopback server that speaks the Messages API."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.events import Usage
from engine.pricing import PriceTable
from engine.providers.anthropic import AnthropicProvider, StreamState, request_params
from engine.providers.base import Message, ProviderError, ProviderRequest, ToolOutcome, ToolSpec, ToolUse
from tests.fakes.messages_api import MessagesAPI, Reply, error_reply, text_events, tool_events
from tests.helpers import FAST_RETRY, plan_of, run

KEY = "sk-ant-test-0123456789-secret"
TEXT = "The rate limiter keeps one token bucket per client."


def request(**fields) -> ProviderRequest:
    fields.setdefault("messages", (Message("user", "Summarise the design."),))
    fields.setdefault("system", "You are terse.")
    fields.setdefault("model", "claude-sonnet-5-5")
    return ProviderRequest(max_tokens=300, agent="a", **fields)


async def collect(provider, req):
    events = []
    async for event in provider.stream(req):
        events.append(event)
    return events


async def test_plain_text_streams_deltas_usage_and_stop():
    with MessagesAPI([Reply(events=text_events(TEXT, input_tokens=31, output_tokens=12))]) as api:
        events = await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    text = "".join(e.text for e in events if e.type == "text")
    assert text == TEXT
    assert [e.type for e in events][-2:] == ["usage", "stop"]
    assert events[-2].usage == Usage(input_tokens=31, output_tokens=12)
    assert events[-1].reason == "end_turn"
    sent = api.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.body["model"] == "claude-sonnet-5-5" and sent.body["max_tokens"] == 300 and sent.body["stream"] is True
    assert sent.body["system"][0]["text"] == "You are terse."
    assert "temperature" not in sent.body  # API 2026-10-21 has no sampling parameters
    assert KEY in sent.headers.get("authorization", "") + sent.headers.get("x-api-key", "")


async def test_ping_events_are_ignored():
    events = text_events("ab", pieces=1)
    events.insert(3, ("ping", {"type": "ping"}))
    with MessagesAPI([Reply(events=events)]) as api:
        result = await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    assert [e.type for e in result] == ["usage", "text", "usage", "stop"]  # usage as it starts, and at the end


async def test_forced_tool_use_with_input_json_fragments():
    plan = {"steps": [{"id": "s1", "title": "t", "instructions": "i", "assigned_to": "coder", "depends_on": []}], "confidence": 0.8}
    tool = ToolSpec("respond", "Give your reply as Plan.", {"type": "object", "properties": {"steps": {"type": "array"}}})
    with MessagesAPI([Reply(events=tool_events(plan, fragments=5))]) as api:
        events = await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request(tool=tool))
    fragments = [e.partial_json for e in events if e.type == "tool_input"]
    assert len(fragments) >= 5
    assert json.loads("".join(fragments)) == plan
    assert events[-1].reason == "tool_use"
    body = api.requests[0].body
    assert body["tools"][0]["name"] == "respond" and body["tools"][0]["input_schema"]["type"] == "object"
    assert body["tool_choice"] == {"type": "tool", "name": "respond"}


async def test_usage_with_cache_fields_is_priced_with_cache_rates():
    events = text_events(TEXT, input_tokens=10, output_tokens=20, cache_read=4000, cache_write=1500)
    with MessagesAPI([Reply(events=events)]) as api:
        result = await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    usage = result[-2].usage
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (4000, 1500)
    prices = PriceTable().price("claude-sonnet-5-5")
    expected = (10 * prices.input + 20 * prices.output + 4000 * prices.cache_read + 1500 * prices.cache_write) / 1e6
    assert PriceTable().cost("claude-sonnet-5-5", usage) == pytest.approx(expected)
    assert prices.cache_read < prices.input < prices.cache_write


def test_long_system_prompts_and_shared_context_are_marked_for_caching():
    long = "context " * 1200  # about 2,400 tokens
    params = request_params(request(system=long, messages=(Message("user", "Do your part.", long),)))
    assert params["system"][0]["cache_control"] == {"type": "ephemeral"}
    first, second = params["messages"][0]["content"]
    assert first["text"] == long and first["cache_control"] == {"type": "ephemeral"}
    assert second == {"type": "text", "text": "Do your part."}  # the agent's own turn comes after the shared context
    short = request_params(request())
    assert "cache_control" not in short["system"][0]
    haiku = request_params(request(model="claude-haiku-5-5", system="x " * 3000))
    assert "cache_control" not in haiku["system"][0]  # under Haiku's larger minimum


@pytest.mark.parametrize(
    ("reply", "error_type", "retryable", "retry_after", "words"),
    [
        (error_reply(429, "rate_limit_error", "slow down", {"retry-after": "3"}), "rate_limit", True, 3.0, "429"),
        (error_reply(429, "rate_limit_error", "slow down", {"retry-after-ms": "1500"}), "rate_limit", True, 1.5, "429"),
        (error_reply(529, "overloaded_error", "Overloaded"), "overloaded", True, None, "overloaded"),
        (error_reply(500, "api_error", "internal"), "server", True, None, "500"),
        (error_reply(401, "authentication_error", "invalid x-api-key"), "auth", False, None, "ANTHROPIC_API_KEY"),
        (error_reply(404, "not_found_error", "model: claude-nope"), "not_found", False, None, "team file"),
        (error_reply(400, "invalid_request_error", "max_tokens too large"), "bad_request", False, None, "max_tokens"),
    ],
)
async def test_http_errors_are_classified(reply, error_type, retryable, retry_after, words):
    with MessagesAPI([reply]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    error = caught.value
    assert (error.error_type, error.retryable, error.retry_after) == (error_type, retryable, retry_after)
    assert words in error.message and KEY not in error.message


async def test_error_event_mid_stream_is_a_retryable_overload():
    events = text_events(TEXT)[:4] + [("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})]
    with MessagesAPI([Reply(events=events)]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    assert caught.value.error_type == "overloaded" and caught.value.retryable


@pytest.mark.parametrize("drop_after", [0, 5], ids=["before-any-event", "after-some-events"])
async def test_dropped_connection_mid_stream_is_detected(drop_after):
    with MessagesAPI([Reply(events=text_events(TEXT), drop_after=drop_after)]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    assert caught.value.error_type == "connection" and caught.value.retryable
    assert "dropped mid-stream" in caught.value.message


class EscapingStream:
    """A stream as older SDKs gave it: the HTTP client's own error escapes mid-stream."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def __aiter__(self):
        yield SimpleNamespace(type="ping")
        raise self.error


async def test_a_transport_error_escaping_mid_stream_is_a_dropped_connection_too(monkeypatch):
    import httpx2

    provider = AnthropicProvider(api_key=KEY, base_url="http://127.0.0.1:9")
    stream = EscapingStream(httpx2.RemoteProtocolError("peer closed connection without sending complete message body"))

    async def create(**params):
        return stream

    monkeypatch.setattr(provider._client.messages, "create", create)
    with pytest.raises(ProviderError) as caught:
        await collect(provider, request())
    assert (caught.value.error_type, caught.value.retryable) == ("connection", True)
    assert caught.value.message == "the connection dropped mid-stream (RemoteProtocolError)"


async def test_an_api_that_cannot_be_reached_is_not_a_dropped_stream():
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        await collect(AnthropicProvider(api_key=KEY, base_url=f"http://127.0.0.1:{port}"), request())
    assert caught.value.error_type == "connection" and caught.value.retryable
    assert caught.value.message.startswith("connection to the API failed") and "dropped" not in caught.value.message
    assert KEY not in caught.value.message


async def test_clean_close_without_message_stop_is_detected():
    with MessagesAPI([Reply(events=text_events(TEXT, stop=False))]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request())
    assert caught.value.error_type == "stream_error" and "message_stop" in caught.value.message


def test_stream_state_is_a_pure_fold():
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    adapter = TypeAdapter(RawMessageStreamEvent)
    state = StreamState()
    out = []
    for _, data in text_events("hi there", pieces=2):
        if data["type"] != "ping":
            out += state.feed(adapter.validate_python(data))
    assert [e.type for e in out] == ["usage", "text", "text", "usage", "stop"] and state.stopped


READ = ToolSpec("read_file", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}})


async def test_an_offered_tool_use_arrives_whole_after_the_text():
    events = tool_events({"path": "README.md"}, name="read_file", lead="Let me look.", fragments=3, tool_id="toolu_9")
    with MessagesAPI([Reply(events=events)]) as api:
        result = await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request(tools=(READ,)))
    assert [e.type for e in result] == ["usage", "text", "tool_use", "usage", "stop"]
    assert result[2] == ToolUse("toolu_9", "read_file", {"path": "README.md"})
    assert result[-1].reason == "tool_use"
    body = api.requests[0].body
    assert body["tools"][0]["name"] == "read_file" and body["tool_choice"] == {"type": "auto"}


async def test_a_tool_use_whose_input_is_not_json_is_a_retryable_error():
    events = tool_events({"path": "x"}, name="read_file")
    for _, data in events:
        if data["type"] == "content_block_delta":
            data["delta"]["partial_json"] = "{not json"
            break
    with MessagesAPI([Reply(events=events)]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(AnthropicProvider(api_key=KEY, base_url=api.base_url), request(tools=(READ,)))
    assert caught.value.error_type == "invalid_output" and caught.value.retryable


def test_tool_rounds_become_tool_use_and_tool_result_blocks():
    use = ToolUse("toolu_1", "read_file", {"path": "README.md"})
    messages = (
        Message("user", "Summarise the project."),
        Message("assistant", "", tool_uses=(use,)),
        Message("user", "", tool_results=(ToolOutcome("toolu_1", "# Title", is_error=False),)),
    )
    params = request_params(request(messages=messages, tools=(READ,), tool_choice="none"))
    first, assistant, results = params["messages"]
    assert assistant == {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "README.md"}}]}
    assert results["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "# Title", "is_error": False}]
    assert params["tool_choice"] == {"type": "none"}  # the last round: answer now

    respond = ToolSpec("respond", "Reply as JSON.", {"type": "object"})
    structured = request_params(request(tool=respond, tools=(READ,)))
    assert [t["name"] for t in structured["tools"]] == ["read_file", "respond"]
    assert structured["tool_choice"] == {"type": "any"}  # read first, or reply at once
    last = request_params(request(tool=respond, tools=(READ,), tool_choice="none"))
    assert last["tool_choice"] == {"type": "tool", "name": "respond"}


# -- through the engine: its retry policy, not the SDK's ---------------------------------


def one_agent_team() -> TeamSpec:
    return TeamSpec(lead="lead", agents=(AgentSpec(name="lead", role="lead"), AgentSpec(name="coder", role="coder")))


def script_by_request(failures: list[Reply]):
    """Fail with `failures` first, then answer: a plan for structured requests, text otherwise."""
    queue = list(failures)

    def script(seen):
        if queue:
            return queue.pop(0)
        if "tools" in seen.body:
            return Reply(events=tool_events(plan_of(("s1", "coder", []))))
        return Reply(events=text_events(TEXT))

    return script


@pytest.mark.parametrize(
    "failure",
    [
        error_reply(429, "rate_limit_error", "slow down", {"retry-after": "0.2"}),
        error_reply(529, "overloaded_error", "Overloaded"),
        error_reply(500, "api_error", "internal"),
        Reply(events=text_events(TEXT)[:4] + [("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})]),
        Reply(events=text_events(TEXT), drop_after=4),
        Reply(events=text_events(TEXT, stop=False)),
    ],
    ids=["429", "529", "500", "error-event", "dropped", "no-message-stop"],
)
async def test_the_engine_retries_what_failed_and_the_session_completes(failure):
    with MessagesAPI(script_by_request([failure])) as api:
        ran = await run(AnthropicProvider(api_key=KEY, base_url=api.base_url), team=one_agent_team())
    assert ran.finished.status == "completed", ran.finished.reason
    retries = ran.of("retry")
    assert len(retries) == 1
    if failure.status == 429:
        assert retries[0].retry_after_s == 0.2 and retries[0].delay_s >= 0.2
    assert len(api.requests) == 4  # the failed one, then plan, step and synthesis


async def test_401_fails_at_once_with_what_to_fix():
    with MessagesAPI(lambda seen: error_reply(401, "authentication_error", "invalid x-api-key")) as api:
        ran = await run(AnthropicProvider(api_key=KEY, base_url=api.base_url), team=one_agent_team())
    assert ran.finished.status == "failed"
    assert "ANTHROPIC_API_KEY" in ran.finished.reason
    assert len(api.requests) == 1 and not ran.of("retry")
    assert KEY not in "".join(e.model_dump_json() for e in ran.events)


async def test_unknown_model_fails_at_once_naming_the_model():
    team = TeamSpec(lead="lead", agents=(AgentSpec(name="lead", role="lead", model="claude-nope-9"), AgentSpec(name="coder", role="coder")))
    with MessagesAPI(lambda seen: error_reply(404, "not_found_error", f"model: {seen.body['model']}")) as api:
        ran = await run(AnthropicProvider(api_key=KEY, base_url=api.base_url), team=team)
    assert ran.finished.status == "failed"
    assert "claude-nope-9" in ran.finished.reason and "team file" in ran.finished.reason
    assert len(api.requests) == 1


async def test_a_session_whose_agent_reads_a_file_against_the_server(tmp_path, monkeypatch):
    from engine import patterns
    from engine.session import EngineConfig
    from tests.helpers import pattern_info

    (tmp_path / "NOTES.md").write_text("buckets refill at 10/s\n")
    team = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", tools=("read_file",)),))

    async def one(ctx, task):
        return await ctx.call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: team))

    def script(seen):
        if len(seen.body["messages"]) == 1:
            return Reply(events=tool_events({"path": "NOTES.md"}, name="read_file", lead="Reading.", tool_id="toolu_7"))
        return Reply(events=text_events(TEXT))

    with MessagesAPI(script) as api:
        ran = await run(AnthropicProvider(api_key=KEY, base_url=api.base_url), pattern="one-call",
                        config=EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=tmp_path))
    assert ran.finished.status == "completed" and ran.finished.result == TEXT
    second = api.requests[1].body["messages"]
    assert second[1]["content"] == [
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "toolu_7", "name": "read_file", "input": {"path": "NOTES.md"}},
    ]
    assert second[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_7", "content": "buckets refill at 10/s\n", "is_error": False}


async def test_a_full_orchestrator_session_runs_against_the_server():
    from engine.patterns import preset_team

    with MessagesAPI(script_by_request([])) as api:
        ran = await run(AnthropicProvider(api_key=KEY, base_url=api.base_url), team=preset_team("orchestrator"), config=None)
    assert ran.finished.status == "completed"
    assert ran.finished.result == TEXT
    assert ran.of("plan.made")[0].plan["steps"][0]["assigned_to"] == "coder"
    models = {r.body["model"] for r in api.requests}
    assert models == {"claude-opus-5-5", "claude-sonnet-5-5"}  # lead and workers on their own tiers
    assert ran.finished.cost > 0
    assert KEY not in "".join(e.model_dump_json() for e in ran.events)

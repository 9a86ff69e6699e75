"""The OpenAI-compatible provider against a loopback server that speaks Chat Completions."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from engine.agents import AgentSpec, TeamSpec
from engine.events import Usage
from engine.patterns import PATTERNS, preset_team
from engine.providers.base import Message, ProviderError, ProviderRequest, ToolOutcome, ToolSpec, ToolUse
from engine.providers.openai import OpenAIProvider
from engine.providers.openai_wire import StreamState, request_params
from engine.session import EngineConfig
from tests.fakes.chat_completions import (
    ChatCompletionsAPI,
    Reply,
    chunk,
    error_chunk,
    error_reply,
    json_chunks,
    simulated_reply,
    text_chunks,
    tool_call_chunks,
)
from tests.helpers import FAST_RETRY, plan_of, run

KEY = "sk-proj-test-0123456789abcdefghij-secret"
TEXT = "The rate limiter keeps one token bucket per client."
READ = ToolSpec("read_file", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}})
RESPOND = ToolSpec("respond", "Give your reply as Plan.", {"type": "object", "properties": {"steps": {"type": "array"}}})


def request(**fields) -> ProviderRequest:
    fields.setdefault("messages", (Message("user", "Summarise the design."),))
    fields.setdefault("system", "You are terse.")
    fields.setdefault("model", "gpt-4.1")
    return ProviderRequest(max_tokens=300, agent="a", **fields)


def provider(api: ChatCompletionsAPI, **options) -> OpenAIProvider:
    options.setdefault("api_key", KEY)
    return OpenAIProvider(base_url=api.base_url, **options)


async def collect(source, req):
    return [event async for event in source.stream(req)]


# -- one request --------------------------------------------------------------------------


async def test_text_streams_as_deltas_with_usage_from_the_last_chunk():
    chunks = text_chunks(TEXT, prompt_tokens=1200, completion_tokens=12, cached=1000, pieces=4)
    with ChatCompletionsAPI([Reply(chunks=chunks)]) as api:
        events = await collect(provider(api), request())
    assert "".join(e.text for e in events if e.type == "text") == TEXT
    assert len([e for e in events if e.type == "text"]) >= 4
    assert [e.type for e in events][-2:] == ["usage", "stop"]
    assert events[-2].usage == Usage(input_tokens=200, cache_read_tokens=1000, output_tokens=12)
    assert events[-1].reason == "end_turn"
    sent = api.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Summarise the design."},
    ]
    assert body["max_tokens"] == 300 and "max_completion_tokens" not in body  # not api.openai.com
    assert body["temperature"] == 0.7 and "reasoning_effort" not in body
    assert "tools" not in body and "response_format" not in body


async def test_a_server_that_reports_no_usage_is_not_a_failure():
    with ChatCompletionsAPI([Reply(chunks=text_chunks(TEXT, usage=False))]) as api:
        local = provider(api, api_key=None, name="ollama")
        events = await collect(local, request())
    assert [e.type for e in events if e.type != "text"] == ["stop"]  # no usage: the engine counts none
    assert local.secrets == () and local.name == "ollama"


async def test_a_stream_that_ends_without_done_is_whole_once_a_finish_reason_came():
    with ChatCompletionsAPI([Reply(chunks=text_chunks(TEXT), done=False), Reply(chunks=text_chunks(TEXT, finish=None), done=False)]) as api:
        events = await collect(provider(api), request())
        with pytest.raises(ProviderError) as caught:
            await collect(provider(api), request())
    assert events[-1].reason == "end_turn"
    assert caught.value.error_type == "stream_error"


def test_openai_itself_takes_max_completion_tokens_and_its_reasoning_models_no_temperature():
    plain = request_params(request(), structured="json_schema", official=True)
    assert plain["max_completion_tokens"] == 300 and "max_tokens" not in plain
    assert plain["temperature"] == 0.7
    for model in ("gpt-5.2", "o3-mini", "o4-mini", "openai/gpt-5"):
        params = request_params(request(model=model, effort="xhigh"), structured="json_schema", official=True)
        assert "temperature" not in params, model
        assert params["reasoning_effort"] == "high", model
    assert request_params(request(model="gpt-5", effort="low"), structured="tool", official=True)["reasoning_effort"] == "low"
    assert "reasoning_effort" not in request_params(request(model="gpt-5"), structured="tool", official=True)
    assert "reasoning_effort" not in request_params(request(model="llama3.3", effort="high"), structured="tool", official=False)


def test_the_provider_knows_api_openai_com_by_its_host():
    assert OpenAIProvider(api_key=KEY, base_url=None).official
    assert OpenAIProvider(api_key=KEY, base_url="https://api.openai.com/v1").official
    assert not OpenAIProvider(api_key=None, base_url="http://localhost:11434/v1").official


def fold(state: StreamState, chunks: list[dict]) -> list:
    """The provider events a replayed stream folds into."""
    from openai.types.chat import ChatCompletionChunk

    out = []
    for data in chunks:
        out += state.feed(ChatCompletionChunk.model_validate(data))
    return out + state.finish()


def test_the_stream_is_a_pure_fold_over_chunks():
    chunks = text_chunks("hi there", pieces=2, prompt_tokens=10, cached=4)
    out = fold(StreamState(), chunks)
    assert [e.type for e in out] == ["text", "text", "usage", "stop"]
    assert out[2].usage == Usage(input_tokens=6, cache_read_tokens=4, output_tokens=2)
    assert fold(StreamState(), chunks) == out  # the same chunks, the same events

    with pytest.raises(ProviderError) as caught:
        fold(StreamState(), text_chunks("hi there", finish=None))
    assert caught.value.error_type == "stream_error" and caught.value.retryable
    assert caught.value.usage.total > 0  # what the server reported is billed


def test_the_fold_streams_the_forced_function_and_gathers_the_others():
    plan = plan_of(("s1", "coder", []))
    calls = [("call_a", "read_file", {"path": "README.md"}), ("call_b", "respond", plan)]
    out = fold(StreamState(forced="respond"), tool_call_chunks(calls, fragments=4))
    fragments = [e.partial_json for e in out if e.type == "tool_input"]
    assert len(fragments) >= 4 and json.loads("".join(fragments)) == plan
    assert [e.type for e in out if e.type != "tool_input"] == ["tool_use", "usage", "stop"]
    assert ToolUse("call_a", "read_file", {"path": "README.md"}) in out


def test_a_json_reply_that_may_still_turn_into_tool_use_is_held_to_the_end():
    plan = plan_of(("s1", "coder", []))
    answered = fold(StreamState(answer_in_content=True, tools_offered=True), json_chunks(plan))
    assert [e.type for e in answered] == ["tool_input", "usage", "stop"]  # held, then given as the answer
    assert json.loads(answered[0].partial_json) == plan
    looked = fold(StreamState(answer_in_content=True, tools_offered=True),
                  tool_call_chunks([("call_1", "read_file", {"path": "a.md"})], lead="Let me look."))
    assert [e.type for e in looked] == ["text", "tool_use", "usage", "stop"]  # the lead-in was no answer
    assert looked[0].text == "Let me look."


def test_calls_a_server_sends_whole_under_one_index_or_without_ids_stay_apart():
    def whole(call_id, path, index=0):
        call = {"index": index, "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}
        return chunk({"tool_calls": [{**call, "id": call_id} if call_id else call]})

    same_index = fold(StreamState(), [whole("call_a", "a.md"), whole("call_b", "b.md"), chunk(finish="tool_calls")])
    assert same_index[:2] == [ToolUse("call_a", "read_file", {"path": "a.md"}), ToolUse("call_b", "read_file", {"path": "b.md"})]
    no_ids = fold(StreamState(), [whole(None, "a.md"), whole(None, "b.md", index=1), chunk(finish="tool_calls")])
    assert [(use.id, use.input["path"]) for use in no_ids[:2]] == [("call_0", "a.md"), ("call_1", "b.md")]


async def test_parallel_tool_calls_split_across_chunks_arrive_whole():
    calls = [("call_1", "read_file", {"path": "README.md"}), ("call_2", "read_file", {"path": "docs/design.md"})]
    with ChatCompletionsAPI([Reply(chunks=tool_call_chunks(calls, lead="Let me look.", fragments=3))]) as api:
        events = await collect(provider(api), request(tools=(READ,)))
    assert [e.type for e in events] == ["text", "tool_use", "tool_use", "usage", "stop"]
    assert events[1] == ToolUse("call_1", "read_file", {"path": "README.md"})
    assert events[2] == ToolUse("call_2", "read_file", {"path": "docs/design.md"})
    assert events[-1].reason == "tool_use"
    body = api.requests[0].body
    assert body["tools"] == [{"type": "function", "function": {
        "name": "read_file", "description": "Read a file.", "parameters": READ.input_schema}}]
    assert body["tool_choice"] == "auto"


async def test_tool_call_arguments_that_are_not_json_are_a_retryable_error():
    with ChatCompletionsAPI([Reply(chunks=tool_call_chunks([("call_1", "read_file", "{not json")]))]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(provider(api), request(tools=(READ,)))
    assert caught.value.error_type == "invalid_output" and caught.value.retryable


async def test_a_structured_reply_through_the_json_schema_response_format():
    plan = plan_of(("s1", "coder", []))
    with ChatCompletionsAPI([Reply(chunks=json_chunks(plan))]) as api:
        events = await collect(provider(api, structured="json_schema"), request(tool=RESPOND))
    fragments = [e.partial_json for e in events if e.type == "tool_input"]
    assert len(fragments) >= 5 and json.loads("".join(fragments)) == plan
    assert not [e for e in events if e.type == "text"]
    body = api.requests[0].body
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "respond", "description": RESPOND.description, "schema": RESPOND.input_schema, "strict": False}}
    assert "tools" not in body and "tool_choice" not in body


async def test_a_structured_reply_through_a_forced_function_call():
    plan = plan_of(("s1", "coder", []))
    with ChatCompletionsAPI([Reply(chunks=tool_call_chunks([("call_9", "respond", plan)], finish="stop", fragments=4))]) as api:
        events = await collect(provider(api, structured="tool"), request(tool=RESPOND))
    fragments = [e.partial_json for e in events if e.type == "tool_input"]
    assert len(fragments) >= 4 and json.loads("".join(fragments)) == plan
    assert not [e for e in events if e.type == "tool_use"]  # the reply is no tool to run
    body = api.requests[0].body
    assert body["tool_choice"] == {"type": "function", "function": {"name": "respond"}}
    assert [t["function"]["name"] for t in body["tools"]] == ["respond"]
    assert "response_format" not in body

    offered = request_params(request(tool=RESPOND, tools=(READ,)), structured="tool", official=False)
    assert [t["function"]["name"] for t in offered["tools"]] == ["read_file", "respond"]
    assert offered["tool_choice"] == "required"  # read first, or reply at once
    last = request_params(request(tool=RESPOND, tools=(READ,), tool_choice="none"), structured="tool", official=False)
    assert last["tool_choice"] == {"type": "function", "function": {"name": "respond"}}


def test_tool_rounds_become_tool_calls_and_tool_messages():
    use = ToolUse("call_1", "read_file", {"path": "README.md"})
    messages = (
        Message("user", "Summarise the project.", context="<agent_output>notes</agent_output>"),
        Message("assistant", "", tool_uses=(use,)),
        Message("user", "And now?", tool_results=(ToolOutcome("call_1", "# Title"), ToolOutcome("call_2", "no such file", is_error=True))),
    )
    params = request_params(request(messages=messages, tools=(READ,), tool_choice="none"), structured="json_schema", official=False)
    _, first, assistant, result, failed, last = params["messages"]
    assert first == {"role": "user", "content": "<agent_output>notes</agent_output>\n\nSummarise the project."}
    assert assistant == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "README.md"}'}}]}
    assert result == {"role": "tool", "tool_call_id": "call_1", "content": "# Title"}
    assert failed == {"role": "tool", "tool_call_id": "call_2", "content": "Error: no such file"}
    assert last == {"role": "user", "content": "And now?"}
    assert params["tool_choice"] == "none"  # the last round: answer now


@pytest.mark.parametrize(
    ("reply", "error_type", "retryable", "retry_after", "words"),
    [
        (error_reply(429, "slow down", kind="requests", headers={"retry-after": "3"}), "rate_limit", True, 3.0, "429"),
        (error_reply(429, "slow down", headers={"retry-after-ms": "1500"}), "rate_limit", True, 1.5, "429"),
        (error_reply(429, "You exceeded your current quota", code="insufficient_quota"), "rate_limit", False, None, "quota"),
        (error_reply(500, "internal", kind="server_error"), "server", True, None, "500"),
        (error_reply(503, "busy", kind="server_error", headers={"retry-after": "1"}), "server", True, 1.0, "503"),
        (error_reply(401, "Incorrect API key provided"), "auth", False, None, "OPENAI_API_KEY"),
        (error_reply(403, "not allowed"), "auth", False, None, "403"),
        (error_reply(404, "The model `gpt-nope` does not exist", code="model_not_found"), "not_found", False, None, "team file"),
        (error_reply(404, "404 page not found"), "not_found", False, None, "base_url"),
        (error_reply(400, "max_tokens is too large"), "bad_request", False, None, "max_tokens"),
    ],
)
async def test_http_errors_are_classified(reply, error_type, retryable, retry_after, words):
    with ChatCompletionsAPI([reply]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(provider(api), request())
    error = caught.value
    assert (error.error_type, error.retryable, error.retry_after) == (error_type, retryable, retry_after)
    assert words in error.message and KEY not in error.message
    assert len(api.requests) == 1  # the SDK's own retries are off


async def test_a_key_the_server_echoes_never_reaches_the_error():
    with ChatCompletionsAPI([error_reply(400, f"bad header: Bearer {KEY}")]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(provider(api), request())
    assert KEY not in caught.value.message and KEY[:12] not in caught.value.message


async def test_a_server_that_asks_for_a_key_when_none_was_given_says_where_to_set_it():
    hint = "set OPENAI_API_KEY or api_key in [providers.gateway] of the huddle config"
    with ChatCompletionsAPI([error_reply(401, "missing key")]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(provider(api, api_key=None, name="gateway", key_hint=hint), request())
    assert caught.value.message == f"gateway asks for an API key and none was sent (401): {hint}"


async def test_a_server_that_cannot_be_reached_is_named_by_its_host():
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    source = OpenAIProvider(name="vllm", api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderError) as caught:
        await collect(source, request())
    assert caught.value.error_type == "connection" and caught.value.retryable
    assert caught.value.message.startswith(f"cannot reach vllm at 127.0.0.1:{port}")
    assert KEY not in caught.value.message


async def test_a_connection_dropped_mid_stream_and_an_error_in_the_stream_are_retryable():
    dropped = Reply(chunks=text_chunks(TEXT), drop_after=2)
    broken = Reply(chunks=text_chunks(TEXT)[:2] + [error_chunk("Overloaded", kind="overloaded_error")])
    with ChatCompletionsAPI([dropped, broken]) as api:
        with pytest.raises(ProviderError) as first:
            await collect(provider(api), request())
        with pytest.raises(ProviderError) as second:
            await collect(provider(api), request())
    assert (first.value.error_type, first.value.retryable) == ("connection", True)
    assert first.value.message.startswith("the connection to openai dropped mid-stream")
    assert (second.value.error_type, second.value.retryable) == ("overloaded", True)


async def test_a_server_that_does_not_answer_in_time_is_a_retryable_timeout():
    with ChatCompletionsAPI([Reply(stall=True)]) as api:
        with pytest.raises(ProviderError) as caught:
            await collect(provider(api, name="lmstudio", timeout=0.2), request())
    assert (caught.value.error_type, caught.value.retryable) == ("timeout", True)
    assert caught.value.message == "lmstudio did not answer in time"


def test_importing_the_providers_does_not_import_the_sdk():
    code = (
        "import sys, engine.providers, engine.providers.openai; "
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- through the engine: its retry policy, not the SDK's ---------------------------------


def one_agent_team() -> TeamSpec:
    return TeamSpec(lead="lead", agents=(AgentSpec(name="lead", role="lead", model="gpt-5.2"),
                                         AgentSpec(name="coder", role="coder", model="gpt-4.1")))


def script_by_request(failures: list[Reply]):
    """Fail with `failures` first, then answer: a plan for structured requests
    (as content, or as the forced call), text otherwise."""
    queue = list(failures)

    def script(seen):
        if queue:
            return queue.pop(0)
        plan = plan_of(("s1", "coder", []))
        if "response_format" in seen.body:
            return Reply(chunks=json_chunks(plan))
        if "tools" in seen.body:
            return Reply(chunks=tool_call_chunks([("call_1", "respond", plan)], finish="stop"))
        return Reply(chunks=text_chunks(TEXT))

    return script


@pytest.mark.parametrize(
    "failure",
    [
        error_reply(429, "slow down", headers={"retry-after": "0.2"}),
        error_reply(500, "internal", kind="server_error"),
        error_reply(503, "unavailable", kind="server_error"),
        Reply(chunks=text_chunks(TEXT), drop_after=3),
        Reply(chunks=text_chunks(TEXT, finish=None)),
        Reply(chunks=text_chunks(TEXT)[:2] + [error_chunk()]),
        Reply(stall=True),
    ],
    ids=["429", "500", "503", "dropped", "no-finish", "error-mid-stream", "timeout"],
)
async def test_the_engine_retries_what_failed_and_the_session_completes(failure):
    with ChatCompletionsAPI(script_by_request([failure])) as api:
        ran = await run(provider(api, timeout=1.0 if failure.stall else 600.0), team=one_agent_team())
    assert ran.finished.status == "completed", ran.finished.reason
    retries = ran.of("retry")
    assert len(retries) == 1
    if failure.status == 429:
        assert retries[0].retry_after_s == 0.2 and retries[0].delay_s >= 0.2
    assert len(api.requests) == 4  # the failed one, then plan, step and synthesis: one request an attempt


async def test_auto_falls_back_to_a_forced_function_call_and_stays_there():
    refused = error_reply(400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                          param="response_format")
    with ChatCompletionsAPI(lambda seen: refused if "response_format" in seen.body else script_by_request([])(seen)) as api:
        source = provider(api, name="local")
        ran = await run(source, team=one_agent_team())
        again = await run(source, team=one_agent_team())
    assert ran.finished.status == "completed", ran.finished.reason
    assert again.finished.status == "completed"
    assert source.structured == "tool"
    (retry,) = ran.of("retry")
    assert "using a forced function call" in retry.reason
    structured = [r.body for r in api.requests if "response_format" in r.body or "tools" in r.body]
    assert "response_format" in structured[0]  # the first try only
    assert all(b["tool_choice"] == {"type": "function", "function": {"name": "respond"}} for b in structured[1:])
    assert len(structured) == 3  # refused, then the plan of each session
    assert not again.of("retry")


async def test_a_session_against_a_server_that_reports_no_usage_completes_with_none():
    def script(seen):
        if "response_format" in seen.body:
            return Reply(chunks=json_chunks(plan_of(("s1", "coder", [])), usage=False))
        return Reply(chunks=text_chunks(TEXT, usage=False))

    with ChatCompletionsAPI(script) as api:
        ran = await run(provider(api, api_key=None), team=one_agent_team())
    assert ran.finished.status == "completed"
    assert all(e.usage == Usage() for e in ran.of("call.finished"))


async def test_401_fails_at_once_with_what_to_fix():
    with ChatCompletionsAPI(lambda seen: error_reply(401, "Incorrect API key provided: sk-proj-****")) as api:
        ran = await run(provider(api), team=one_agent_team())
    assert ran.finished.status == "failed"
    assert "OPENAI_API_KEY" in ran.finished.reason
    assert len(api.requests) == 1 and not ran.of("retry")
    assert KEY not in "".join(e.model_dump_json() for e in ran.events)


async def test_unknown_model_fails_at_once_naming_the_model():
    team = TeamSpec(lead="lead", agents=(AgentSpec(name="lead", role="lead", model="gpt-nope-9"), AgentSpec(name="coder", role="coder")))
    def unknown(seen):
        return error_reply(404, f"The model `{seen.body['model']}` does not exist", code="model_not_found")

    with ChatCompletionsAPI(unknown) as api:
        ran = await run(provider(api, name="openai"), team=team)
    assert ran.finished.status == "failed"
    assert "gpt-nope-9" in ran.finished.reason and "team file" in ran.finished.reason
    assert len(api.requests) == 1


async def test_a_session_whose_agent_reads_a_file_against_the_server(tmp_path, monkeypatch):
    from engine import patterns
    from tests.helpers import pattern_info

    (tmp_path / "NOTES.md").write_text("buckets refill at 10/s\n")
    team = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", model="gpt-4.1", tools=("read_file",)),))

    async def one(ctx, task):
        return await ctx.call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: team))

    def script(seen):
        if len(seen.body["messages"]) == 2:  # the system prompt and the task
            return Reply(chunks=tool_call_chunks([("call_7", "read_file", {"path": "NOTES.md"})], lead="Reading."))
        return Reply(chunks=text_chunks(TEXT))

    with ChatCompletionsAPI(script) as api:
        ran = await run(provider(api), pattern="one-call",
                        config=EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=tmp_path))
    assert ran.finished.status == "completed" and ran.finished.result == TEXT
    second = api.requests[1].body["messages"]
    assert second[2] == {"role": "assistant", "content": "Reading.", "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "NOTES.md"}'}}]}
    assert second[3] == {"role": "tool", "tool_call_id": "call_7", "content": "buckets refill at 10/s\n"}
    assert [e.tool for e in ran.of("tool.result")] == ["read_file"]


TASK = "Design a rate limiter for our public REST API"


@pytest.mark.parametrize("structured", ["auto", "tool"])
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
async def test_every_pattern_runs_a_whole_session_against_the_server(pattern, structured):
    team = preset_team(pattern)
    with ChatCompletionsAPI(simulated_reply(team, TASK)) as api:
        ran = await run(provider(api, structured=structured), TASK, pattern=pattern, team=team)
    assert ran.finished.status == "completed", ran.finished.reason
    assert ran.finished.result
    assert not ran.of("call.failed")  # every reply streamed whole and every structured one validated
    assert len(api.requests) == len(ran.of("call.started"))  # one request an attempt, none retried by the SDK
    asked = [b for b in (r.body for r in api.requests) if "response_format" in b or isinstance(b.get("tool_choice"), dict)]
    assert len(asked) == len([e for e in ran.of("call.started") if e.structured])
    assert all(("response_format" in b) == (structured == "auto") for b in asked)  # each asked for the way chosen
    agents = {r.body["messages"][0]["content"] for r in api.requests}
    assert len(agents) >= 2  # several agents spoke, each with its own system prompt
    assert KEY not in "".join(e.model_dump_json() for e in ran.events)

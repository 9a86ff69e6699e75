"""A loopback HTTP server that speaks enough of the Chat Completions API for tests.

It answers `POST /v1/chat/completions` from a script: each request gets the next
`Reply` (or whatever a callable, plain or async, returns for it): a JSON body with a
status and headers, or a stream of `data: {...}` chunks ending `data: [DONE]` that
may drop the connection, end without a finishing chunk, carry an `error` object, or
never come at all. Every request is kept (headers and JSON) so tests can check
what the SDK sent. It runs on its own thread and event loop (the Messages API
fake's), so it serves sync and async tests alike.

`simulated_reply` answers any request plausibly: it rebuilds the engine's request
from the body and lets the simulated provider write the reply.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from engine.agents import TeamSpec
from engine.providers.base import (
    Message,
    ProviderRequest,
    ToolOutcome,
    ToolSpec,
    ToolUse,
)
from engine.providers.simulated import SimulatedProvider
from tests.fakes.messages_api import MessagesAPI, Seen, read_request, write_json

MODEL = "gpt-5.2"


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    """A JSON reply (when `chunks` is None)."""
    chunks: list[dict[str, Any]] | None = None
    """Streamed chunks, in order, each sent as one `data:` line."""
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    """Reset the connection after this many chunks."""
    done: bool = True
    """End with `data: [DONE]`."""
    stall: bool = False
    """Answer nothing, until the client gives up and closes the connection."""


Script = Callable[[Seen], Reply | Awaitable[Reply]]


def error_reply(
    status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None,
    param: str | None = None, headers: dict[str, str] | None = None,
) -> Reply:
    """An error as OpenAI sends one."""
    return Reply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, headers=headers or {})


def chunk(
    delta: dict[str, Any] | None = None, *, finish: str | None = None, usage: dict[str, Any] | None = None,
    model: str = MODEL, choices: bool = True,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; with `choices=False`, the usage-only last chunk."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_800_000_000, "model": model,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish, "logprobs": None}] if choices else [],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def usage_of(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _pieces(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def text_chunks(
    text: str, *, prompt_tokens: int = 25, completion_tokens: int | None = None, cached: int = 0, pieces: int = 3,
    finish: str | None = "stop", usage: bool = True, model: str = MODEL,
) -> list[dict[str, Any]]:
    """A streamed text reply: the role, the text in `pieces` deltas, the finishing
    chunk (none when `finish` is None), then the usage in a last chunk of its own."""
    chunks = [chunk({"role": "assistant", "content": ""}, model=model)]
    chunks += [chunk({"content": piece}, model=model) for piece in _pieces(text, pieces)]
    if finish is not None:
        chunks.append(chunk({}, finish=finish, model=model))
    if usage:
        done = completion_tokens if completion_tokens is not None else len(text.split())
        chunks.append(chunk(usage=usage_of(prompt_tokens, done, cached), model=model, choices=False))
    return chunks


def json_chunks(payload: dict[str, Any], **options: Any) -> list[dict[str, Any]]:
    """A structured reply as content (the JSON-schema response format)."""
    return text_chunks(json.dumps(payload), pieces=5, **options)


def tool_call_chunks(
    calls: list[tuple[str, str, dict[str, Any] | str]], *, lead: str = "", fragments: int = 3,
    finish: str = "tool_calls", prompt_tokens: int = 40, model: str = MODEL,
) -> list[dict[str, Any]]:
    """Tool calls as OpenAI streams them, after a line of text when `lead` is given:
    each call opens with its id and name, then its arguments (JSON, or a raw string)
    arrive in `fragments` pieces, interleaved across calls made in parallel."""
    chunks = [chunk({"role": "assistant", "content": None}, model=model)]
    if lead:
        chunks.append(chunk({"content": lead}, model=model))
    parts = []
    for index, (call_id, name, arguments) in enumerate(calls):
        chunks.append(chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                             "function": {"name": name, "arguments": ""}}]}, model=model))
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        parts.append(_pieces(raw, fragments))
    for round_ in range(max(len(p) for p in parts) if parts else 0):
        for index, pieces in enumerate(parts):
            if round_ < len(pieces):
                chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": pieces[round_]}}]}, model=model))
    chunks.append(chunk({}, finish=finish, model=model))
    chunks.append(chunk(usage=usage_of(prompt_tokens, 12), model=model, choices=False))
    return chunks


def error_chunk(message: str = "The server had an error while processing your request.", kind: str = "server_error") -> dict[str, Any]:
    """An `error` object in place of the next chunk, as servers send one mid-stream."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class ChatCompletionsAPI(MessagesAPI):
    """`with ChatCompletionsAPI(script) as api:` then point the SDK at `api.base_url`."""

    def __init__(self, script: Script | list[Reply]) -> None:
        if isinstance(script, list):
            replies = iter(script)
            script = lambda seen: next(replies)  # noqa: E731 - the script of a list
        super().__init__(script)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen = await read_request(reader, writer)
        if seen is None:
            return
        self.requests.append(seen)
        try:
            reply = self._script(seen)
            if inspect.isawaitable(reply):
                reply = await reply
        except Exception as error:  # noqa: BLE001 - a broken script answers, so the test fails in its words
            reply = error_reply(500, f"the test's script failed: {type(error).__name__}: {error}", kind="script_error")
        try:
            await self._answer(reply, reader, writer)
        except ConnectionError:
            return
        writer.close()

    async def _answer(self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reply.stall:
            await reader.read()  # until the client closes the connection
            return
        if reply.chunks is None:
            await write_json(writer, reply.status, reply.body, reply.headers)
            return
        # Chunked, like the real API: a dropped connection is then an incomplete
        # body, not an ordinary end of stream.
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        lines = [f"data: {json.dumps(data)}\n\n" for data in reply.chunks]
        if reply.done:
            lines.append("data: [DONE]\n\n")
        for index, line in enumerate(lines):
            if reply.drop_after is not None and index == reply.drop_after:
                writer.transport.abort()  # connection reset mid-stream
                return
            data = line.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


# -- plausible replies: the simulated provider behind the API ----------------------------


def _levels(team: TeamSpec) -> list[TeamSpec]:
    """The team and every member team in it, at every depth."""
    found = [team]
    for agent in team.agents:
        if agent.team is not None:
            found += _levels(agent.team)
    return found


def provider_request(body: dict[str, Any], team: TeamSpec, task: str) -> ProviderRequest:
    """The engine's request a Chat Completions body was made from, as near as it can be
    told: the agent is the one whose system prompt it carries, its team the level it is
    on; the reply tool is the response format's schema or the function forced."""
    chat = body["messages"]
    system = chat[0]["content"] if chat and chat[0]["role"] == "system" else ""
    found = [(agent, lvl) for lvl in _levels(team) for agent in lvl.agents if agent.team is None and agent.system() == system]
    if not found:
        raise LookupError(f"no agent of team {team.name} has the system prompt {system[:60]!r}")
    spec, level = found[0]
    messages: list[Message] = []
    results: list[ToolOutcome] = []
    for turn in chat:
        if turn["role"] == "tool":
            results.append(ToolOutcome(turn["tool_call_id"], turn["content"]))
        elif turn["role"] == "user":
            messages.append(Message("user", turn["content"], tool_results=tuple(results)))
            results = []
        elif turn["role"] == "assistant":
            uses = tuple(
                ToolUse(call["id"], call["function"]["name"], json.loads(call["function"]["arguments"]))
                for call in turn.get("tool_calls") or ()
            )
            messages.append(Message("assistant", turn.get("content") or "", tool_uses=uses))
    if results:
        messages.append(Message("user", "", tool_results=tuple(results)))
    functions = [
        ToolSpec(f["function"]["name"], f["function"].get("description", ""), f["function"]["parameters"])
        for f in body.get("tools") or ()
    ]
    choice = body.get("tool_choice")
    tool = None
    if "response_format" in body:
        schema = body["response_format"]["json_schema"]
        tool = ToolSpec(schema["name"], schema.get("description", ""), schema["schema"])
    elif isinstance(choice, dict) or choice == "required":
        forced = choice["function"]["name"] if isinstance(choice, dict) else "respond"
        tool = next(f for f in functions if f.name == forced)
    return ProviderRequest(
        model=body["model"], system=system, messages=tuple(messages),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens") or 2048,
        temperature=body.get("temperature", 0.7), tool=tool,
        tools=tuple(f for f in functions if tool is None or f.name != tool.name),
        tool_choice="none" if choice == "none" else "auto",
        agent=spec.name, role=spec.role, task=task, team=level.names,
    )


def simulated_reply(team: TeamSpec, task: str, *, seed: int = 0) -> Callable[[Seen], Awaitable[Reply]]:
    """A script answering every request as the simulated provider would: text as
    content, a structured reply as content (response format) or as the forced
    function's arguments, other tools' uses as tool calls, usage in the last chunk."""
    provider = SimulatedProvider(seed=seed, speed=0)

    async def script(seen: Seen) -> Reply:
        request = provider_request(seen.body, team, task)
        as_call = request.tool is not None and "response_format" not in seen.body
        chunks = [chunk({"role": "assistant", "content": ""})]
        calls: list[ToolUse] = []
        usage = None
        if as_call:
            chunks.append(chunk({"tool_calls": [{"index": 0, "id": "call_reply", "type": "function",
                                                 "function": {"name": request.tool.name, "arguments": ""}}]}))
        async for event in provider.stream(request):
            if event.type == "text" or (event.type == "tool_input" and not as_call):
                chunks.append(chunk({"content": event.text if event.type == "text" else event.partial_json}))
            elif event.type == "tool_input":
                chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": event.partial_json}}]}))
            elif event.type == "tool_use":
                calls.append(event)
            elif event.type == "usage":
                usage = event.usage
        for index, use in enumerate(calls, start=1 if as_call else 0):
            chunks.append(chunk({"tool_calls": [{"index": index, "id": use.id, "type": "function",
                                                 "function": {"name": use.name, "arguments": json.dumps(use.input)}}]}))
        chunks.append(chunk({}, finish="tool_calls" if calls or as_call else "stop"))
        if usage is not None:
            chunks.append(chunk(usage=usage_of(usage.input_tokens, usage.output_tokens), choices=False))
        return Reply(chunks=chunks)

    return script

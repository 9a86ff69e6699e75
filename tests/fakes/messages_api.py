"""A loopback HTTP server that speaks enough of the Anthropic Messages API for tests.

It answers `POST /v1/messages` from a script: each request gets the next
`Reply` (or whatever a callable returns for it): a JSON body with a status and
headers, or a stream of server-sent events that may break off, drop the
connection, or end without `message_stop`. Every request is kept (headers and
JSON) so tests can check what the SDK sent. It runs on its own thread and
event loop, so it serves sync and async tests alike.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    """A JSON reply (when `events` is None)."""
    events: list[tuple[str, dict[str, Any]]] | None = None
    """Server-sent events, in order, as (event name, data)."""
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    """Reset the connection after this many events."""
    hold_after: int | None = None
    """Send this many events, then nothing more until the client goes away (a reply
    that streams and never finishes: the client is killed, or gives up, mid-reply)."""
    holding: threading.Event | None = None
    """Set once the reply holds (after `hold_after` events were sent), so a test knows
    without sleeping that the client is mid-reply."""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Script = Callable[[Seen], Reply]


def error_reply(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}}, headers=headers or {})


def text_events(
    text: str, *, model: str = "claude-sonnet-5-5", input_tokens: int = 25, output_tokens: int | None = None,
    cache_read: int = 0, cache_write: int = 0, pieces: int = 3, stop: bool = True,
) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of a streamed text reply (with a ping in the middle)."""
    size = max(1, len(text) // pieces)
    chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read},
        }}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    for chunk in chunks:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": output_tokens if output_tokens is not None else len(text.split())}}),
    ]
    if stop:
        events.append(("message_stop", {"type": "message_stop"}))
    return events


def tool_events(
    payload: dict[str, Any], *, name: str = "respond", model: str = "claude-sonnet-5-5", fragments: int = 4,
    lead: str = "", tool_id: str = "toolu_1",
) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of a tool use whose input arrives as JSON fragments, after
    a text block when `lead` is given."""
    raw = json.dumps(payload)
    size = max(1, len(raw) // fragments)
    parts = [raw[i : i + size] for i in range(0, len(raw), size)]
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_2", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 40, "output_tokens": 1},
        }}),
    ]
    index = 0
    if lead:
        events += [
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": lead}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ]
        index = 1
    events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}}))
    for part in parts:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                               "delta": {"type": "input_json_delta", "partial_json": part}}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"output_tokens": len(raw) // 4}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


class MessagesAPI:
    """`with MessagesAPI(script) as api:` then point the SDK at `api.base_url`."""

    def __init__(self, script: Script | list[Reply]) -> None:
        if isinstance(script, list):
            replies = iter(script)
            self._script: Script = lambda seen: next(replies)
        else:
            self._script = script
        self.requests: list[Seen] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MessagesAPI:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen = await read_request(reader, writer)
        if seen is None:
            return
        self.requests.append(seen)
        reply = self._script(seen)
        try:
            if reply.events is None:
                await write_json(writer, reply.status, reply.body, reply.headers)
            else:
                # Chunked, like the real API: a dropped connection is then an
                # incomplete body, not an ordinary end of stream.
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                    b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                )
                for index, (name, data) in enumerate(reply.events):
                    if reply.drop_after is not None and index == reply.drop_after:
                        writer.transport.abort()  # connection reset mid-stream
                        return
                    if reply.hold_after is not None and index == reply.hold_after:
                        await hold(reader, reply.holding)
                        writer.close()
                        return
                    chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except ConnectionError:
            return
        writer.close()


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Seen | None:
    """One HTTP request with a JSON body; None (the connection closed) when the client went away."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(path, headers, json.loads(body or b"{}"))


async def hold(reader: asyncio.StreamReader, holding: threading.Event | None) -> None:
    """Say the reply holds (`holding`), then wait, sending nothing, until the client closes
    its end of the connection (or the connection breaks)."""
    if holding is not None:
        holding.set()
    await reader.read()  # b"" once the client has gone away


async def write_json(writer: asyncio.StreamWriter, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
    """A whole JSON reply, and the connection closed after it."""
    payload = json.dumps(body or {}).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(
        f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n{extra}\r\n".encode() + payload
    )
    await writer.drain()

"""The Anthropic provider: Claude models through the official SDK, streaming.

The SDK's own retries are turned off (`max_retries=0`): every retry goes
through the engine's policy, so it is visible, honours retry-after, counts
towards the circuit breaker, and also covers what the SDK never retries (an
`error` event mid-stream, a dropped connection, a stream that ends without
`message_stop`).

Mapping a streamed event to provider events is a pure function
(`StreamState.feed`), tested by replaying event sequences. The API key is
never put into an error message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from engine.events import Usage
from engine.redaction import redact
from engine.providers.base import (
    retry_after_of,
    Message,
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    Stop,
    TextDelta,
    ToolInputDelta,
    ToolSpec,
    ToolUse,
    UsageReport,
)

# Prompt caching pays once a block is long enough to be cached at all: the API
# ignores cache_control below a model's minimum (about 1,024 tokens; 2,048 for
# Haiku). Tokens are estimated as characters / 4.
CACHE_MIN_TOKENS = 1024
CACHE_MIN_TOKENS_HAIKU = 2048


def _cacheable(model: str, text: str) -> bool:
    minimum = CACHE_MIN_TOKENS_HAIKU if "haiku" in model else CACHE_MIN_TOKENS
    return len(text) // 4 >= minimum


def _block(text: str, cache: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return block


def _content(message: Message, model: str) -> list[dict[str, Any]]:
    """A turn as content blocks: tool results first (the API asks for that), shared
    context next (cached when long), then the turn's own text, then tool uses."""
    blocks: list[dict[str, Any]] = [
        {"type": "tool_result", "tool_use_id": r.tool_use_id, "content": r.output, "is_error": r.is_error}
        for r in message.tool_results
    ]
    if message.context:
        blocks.append(_block(message.context, _cacheable(model, message.context)))
    if message.content or not blocks and not message.tool_uses:  # the API refuses empty text blocks
        blocks.append(_block(message.content, False))
    blocks += [{"type": "tool_use", "id": u.id, "name": u.name, "input": u.input} for u in message.tool_uses]
    return blocks


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}


def request_params(request: ProviderRequest) -> dict[str, Any]:
    """The Messages API parameters for a request (everything but `stream`)."""
    # No temperature: API version 2026-10-21 (SDK 2.x) has no sampling parameters;
    # `effort` is how much thinking a reply gets.
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [{"role": m.role, "content": _content(m, request.model)} for m in request.messages],
    }
    if request.effort is not None:
        params["output_config"] = {"effort": request.effort}
    if request.system:
        params["system"] = [_block(request.system, _cacheable(request.model, request.system))]
    offered = [_tool(tool) for tool in request.tools]
    if request.tool is not None:
        # A structured reply: the reply tool must be called, now or after using the others.
        params["tools"] = [*offered, _tool(request.tool)]
        if offered and request.tool_choice == "auto":
            params["tool_choice"] = {"type": "any"}
        else:
            params["tool_choice"] = {"type": "tool", "name": request.tool.name}
    elif offered:
        params["tools"] = offered
        params["tool_choice"] = {"type": request.tool_choice}
    return params


@dataclass
class StreamState:
    """Folds the API's stream events into provider events.

    The forced tool's input (a structured reply) streams as it comes; any other
    tool use is gathered and given whole when its block ends.
    """

    forced: str | None = None
    """The name of the tool the request forces, if any."""
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    stopped: bool = False
    _uses: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)

    def feed(self, event: Any) -> list[ProviderEvent]:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            usage = event.message.usage
            self.usage = Usage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
                cache_write_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
            )
            return [UsageReport(self.usage)]  # what was read is known as the reply starts
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use" and block.name != self.forced:
                self._uses[event.index] = (block.id, block.name, [])
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return [TextDelta(delta.text)]
            if delta.type == "input_json_delta":
                if event.index in self._uses:
                    self._uses[event.index][2].append(delta.partial_json)
                    return []
                return [ToolInputDelta(delta.partial_json)]
        elif kind == "content_block_stop" and event.index in self._uses:
            return [_tool_use(*self._uses.pop(event.index))]
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason
            if event.usage is not None and event.usage.output_tokens is not None:
                self.usage = self.usage.model_copy(update={"output_tokens": event.usage.output_tokens})
        elif kind == "message_stop":
            self.stopped = True
            return [UsageReport(self.usage), Stop(self.stop_reason or "end_turn")]
        return []


def _tool_use(use_id: str, name: str, fragments: list[str]) -> ToolUse:
    """A whole tool use; input that is not a JSON object is malformed output, worth a retry."""
    text = "".join(fragments)
    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ProviderError("invalid_output", f"the input of a {name} tool use is not a JSON object", retryable=True)
    return ToolUse(use_id, name, value)


class AnthropicProvider:
    """Streams Claude replies; raises ProviderError with a clear, key-free message."""

    name = "anthropic"

    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 600.0) -> None:
        import anthropic  # about a second to import: only when Anthropic is chosen

        if not api_key:
            raise ValueError("no Anthropic API key: set ANTHROPIC_API_KEY or api_key in the huddle config")
        self._sdk = anthropic
        self.secrets = (api_key,)
        """What the engine keeps out of events: any piece of the key an error echoes."""
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        state = StreamState(forced=request.tool.name if request.tool else None)
        begun = False
        try:
            stream = await self._client.messages.create(**request_params(request), stream=True)
            begun = True  # the reply has begun: a connection that breaks now dropped mid-stream
            async with stream:
                async for event in stream:
                    for provider_event in state.feed(event):
                        yield provider_event
        except self._sdk.APIStatusError as error:
            raise self._status_error(error, request, state) from None
        except self._sdk.APITimeoutError:
            raise ProviderError("timeout", "the API did not answer in time", retryable=True, usage=state.usage) from None
        except (self._sdk.APIConnectionError, OSError, self._transport_errors()) as error:
            raise self._connection_error(error, begun, state) from None
        if not state.stopped:
            raise ProviderError(
                "stream_error", "the stream ended before message_stop (incomplete reply)",
                retryable=True, usage=state.usage,
            )

    def _transport_errors(self) -> type[Exception]:
        import httpx2  # the SDK's HTTP client: older SDKs let its errors escape while a stream is read

        return httpx2.TransportError

    def _connection_error(self, error: Exception, begun: bool, state: StreamState) -> ProviderError:
        """A broken connection: before the reply began, the API could not be reached;
        after, the connection dropped mid-stream, however the SDK reports it (2.17
        wraps the HTTP client's error in `APIConnectionError`; older ones let it escape)."""
        if not begun:
            return ProviderError(
                "connection", f"connection to the API failed: {self._safe(str(error))}", retryable=True, usage=state.usage
            )
        cause = error.__cause__ if isinstance(error, self._sdk.APIConnectionError) and error.__cause__ else error
        return ProviderError(
            "connection", f"the connection dropped mid-stream ({type(cause).__name__})", retryable=True, usage=state.usage
        )

    def _safe(self, text: str) -> str:
        return " ".join(redact(text, self.secrets).split())[:300]

    def _status_error(self, error: Any, request: ProviderRequest, state: StreamState) -> ProviderError:
        status = error.status_code
        kind = getattr(error, "type", None) or ""
        detail = self._safe(getattr(error, "api_message", None) or str(error))
        retry_after = retry_after_of(error.response.headers)
        if status == 401 or kind == "authentication_error":
            return ProviderError(
                "auth", "the Anthropic API key was refused (401): check ANTHROPIC_API_KEY or api_key in the huddle config",
                retryable=False, status=status,
            )
        if status == 403 or kind == "permission_error":
            return ProviderError("auth", f"this API key may not use that (403): {detail}", retryable=False, status=status)
        if status == 404 or kind == "not_found_error":
            return ProviderError(
                "not_found", f"unknown model {request.model!r} (404: {detail}): fix the model name in the team file",
                retryable=False, status=status,
            )
        if status == 429 or kind == "rate_limit_error":
            return ProviderError("rate_limit", f"rate limited (429): {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        if status == 529 or kind == "overloaded_error":
            return ProviderError("overloaded", f"the API is overloaded: {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        if status >= 500 or kind == "api_error":
            return ProviderError("server", f"the API failed ({status}): {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        return ProviderError("bad_request", f"the API refused the request ({status}): {detail}",
                             retryable=False, status=status)

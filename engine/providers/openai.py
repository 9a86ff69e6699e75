"""The OpenAI-compatible provider: any Chat Completions server (OpenAI itself, a
gateway, Ollama, vLLM, LM Studio) through the official SDK, streaming.

The SDK's own retries are turned off (`max_retries=0`): every retry goes through
the engine's policy, which also covers what the SDK never retries (an `error`
object mid-stream, a dropped connection, a stream that ends without a
`finish_reason`).

A structured reply (`ProviderRequest.tool`) is asked for in one of two ways:
a JSON-schema response format (the reply's text is the JSON), or a forced
function call (its arguments are the JSON). "auto" starts with the response
format and, the first time a server refuses it, uses forced calls from then on.

What is sent and how the streamed chunks become provider events is the wire
format's (`engine.providers.openai_wire`, pure and tested by replaying chunks);
this module sends, and maps errors to `ProviderError`. The API key is never put
into an error message.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, Literal

from engine.providers.base import ProviderError, ProviderEvent, ProviderRequest, retry_after_of
from engine.providers.openai_wire import StreamState, request_params
from engine.redaction import redact

Structured = Literal["auto", "json_schema", "tool"]
"""How a structured reply is asked for: a JSON-schema response format, a forced
function call, or the first and then, if the server refuses it, the second."""

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
NO_KEY = "no-key"
"""Sent to servers that take no key: the SDK insists on one."""

_NO_SCHEMA_FORMAT = re.compile(r"response.?format|json.?schema", re.IGNORECASE)
_UNKNOWN_MODEL = re.compile(
    r"\bmodel\b.{0,200}?\b(not found|does not exist|not exist|no such)|unknown model|no such model", re.IGNORECASE
)
"""How servers say a model does not exist (OpenAI, vLLM, Ollama, LM Studio), whatever the status."""


class OpenAIProvider:
    """Streams replies from an OpenAI-compatible server; raises ProviderError with a
    clear, key-free message."""

    def __init__(
        self,
        *,
        name: str = "openai",
        api_key: str | None,
        base_url: str | None,
        timeout: float = 600.0,
        structured: Structured = "auto",
        key_hint: str = "set OPENAI_API_KEY",
    ) -> None:
        import openai  # a large SDK: imported only when an OpenAI-compatible server is used

        if structured not in ("auto", "json_schema", "tool"):
            raise ValueError(f"structured must be auto, json_schema or tool, not {structured!r}")
        self._sdk = openai
        self.name = name
        """The endpoint's name ("openai", "ollama", a gateway's): shown and recorded."""
        self.structured: Structured = structured
        """How structured replies are asked for; "auto" becomes "tool" once a server refuses the other way."""
        self.key_hint = key_hint
        self.secrets: tuple[str, ...] = (api_key,) if api_key else ()
        """What the engine keeps out of events: any piece of the key an error echoes."""
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY, base_url=base_url or OPENAI_BASE_URL, max_retries=0, timeout=timeout,
        )
        url = self._client.base_url
        self.official = url.host == OPENAI_HOST
        """True for OpenAI itself, which takes `max_completion_tokens` where others take `max_tokens`."""
        self._where = f"{url.host}:{url.port}" if url.port else url.host
        """Where the server is (its host and port, never the whole URL), for error messages."""

    def _mode(self, request: ProviderRequest) -> Literal["json_schema", "tool"] | None:
        if request.tool is None:
            return None
        return "tool" if self.structured == "tool" else "json_schema"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        mode = self._mode(request)
        state = StreamState(
            answer_in_content=mode == "json_schema",
            tools_offered=bool(request.tools) and request.tool_choice == "auto",
            forced=request.tool.name if mode == "tool" and request.tool else None,
        )
        params = request_params(request, structured=mode or "json_schema", official=self.official)
        begun = False
        try:
            stream = await self._client.chat.completions.create(**params, stream=True)
            begun = True  # the reply has begun: a connection that breaks now dropped mid-stream
            async with stream:
                async for chunk in stream:
                    for event in state.feed(chunk):
                        yield event
        except self._sdk.APIStatusError as error:
            raise self._status_error(error, request, mode, state) from None
        except self._sdk.APITimeoutError:
            raise ProviderError("timeout", f"{self.name} did not answer in time", retryable=True, usage=state.usage) from None
        except (self._sdk.APIConnectionError, OSError, self._transport_errors()) as error:
            raise self._connection_error(error, begun, state) from None
        except self._sdk.APIError as error:  # an error object in the stream
            raise self._stream_error(error, state) from None
        for event in state.finish():
            yield event

    def _transport_errors(self) -> type[Exception]:
        import httpx2  # the SDK's HTTP client: its errors may escape while a stream is read

        return httpx2.TransportError

    def _safe(self, text: str) -> str:
        return " ".join(redact(text, self.secrets).split())[:300]

    def _connection_error(self, error: Exception, begun: bool, state: StreamState) -> ProviderError:
        """A broken connection: before the reply began, the server could not be reached;
        after, the connection dropped mid-stream."""
        cause = error.__cause__ if isinstance(error, self._sdk.APIConnectionError) and error.__cause__ else error
        if not begun:
            reason = self._safe(str(cause)) or type(cause).__name__
            return ProviderError(
                "connection", f"cannot reach {self.name} at {self._where}: {reason}", retryable=True, usage=state.usage,
            )
        return ProviderError(
            "connection", f"the connection to {self.name} dropped mid-stream ({type(cause).__name__})",
            retryable=True, usage=state.usage,
        )

    def _stream_error(self, error: Any, state: StreamState) -> ProviderError:
        """An `error` object the server sent in place of the next chunk."""
        body = error.body if isinstance(error.body, dict) else {}
        detail = self._safe(str(body.get("message") or error.message))
        kind = f"{body.get('type') or ''} {body.get('code') or ''} {detail}".lower()
        if "overload" in kind:
            return ProviderError("overloaded", f"{self.name} is overloaded: {detail}", retryable=True, usage=state.usage)
        return ProviderError("server", f"{self.name} failed mid-stream: {detail}", retryable=True, usage=state.usage)

    def _detail(self, error: Any) -> str:
        body = error.body
        if isinstance(body, dict) and body.get("message"):
            return self._safe(str(body["message"]))
        if isinstance(body, str) and body.strip():
            return self._safe(body)
        return self._safe(error.message)

    def _status_error(
        self, error: Any, request: ProviderRequest, mode: str | None, state: StreamState
    ) -> ProviderError:
        status = error.status_code
        body = error.body if isinstance(error.body, dict) else {}
        code = str(body.get("code") or "")
        detail = self._detail(error)
        retry_after = retry_after_of(error.response.headers)
        name = self.name
        if status == 401:
            refused = f"{name} refused the API key" if self.secrets else f"{name} asks for an API key and none was sent"
            return ProviderError("auth", f"{refused} (401): {self.key_hint}", retryable=False, status=status)
        if status == 403:
            return ProviderError("auth", f"{name} does not allow this (403): {detail}", retryable=False, status=status)
        if status in (400, 422) and mode == "json_schema" and self.structured == "auto" and (
            _NO_SCHEMA_FORMAT.search(detail) or _NO_SCHEMA_FORMAT.search(str(body.get("param") or ""))
        ):
            self.structured = "tool"  # for the rest of the session: the engine's retry asks again that way
            return ProviderError(
                "bad_request",
                f"{name} has no JSON-schema response format ({status}: {detail}); using a forced function call",
                retryable=True, status=status,
            )
        if code == "model_not_found" or _UNKNOWN_MODEL.search(detail) or status == 404 and "model" in detail.lower():
            return ProviderError(
                "not_found",
                f"unknown model {request.model!r} at {name} ({status}: {detail}): fix the model name in the team "
                f"file, or `model` in [providers.{name}] of the config",
                retryable=False, status=status,
            )
        if status == 404:
            return ProviderError(
                "not_found", f"{name} has no Chat Completions API at {self._where} (404: {detail}): check its base_url "
                "(OpenAI-compatible servers usually end in /v1)", retryable=False, status=status,
            )
        if status == 429 and code == "insufficient_quota":
            return ProviderError("rate_limit", f"{name}: out of quota (429): {detail}", retryable=False, status=status)
        if status == 429:
            return ProviderError("rate_limit", f"rate limited by {name} (429): {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        if status == 408:
            return ProviderError("timeout", f"{name} timed out (408): {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        if status == 529 or "overloaded" in code:
            return ProviderError("overloaded", f"{name} is overloaded ({status}): {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        if status >= 500 or status == 409:
            return ProviderError("server", f"{name} failed ({status}): {detail}", retryable=True,
                                 retry_after=retry_after, status=status, usage=state.usage)
        return ProviderError("bad_request", f"{name} refused the request ({status}): {detail}", retryable=False, status=status)

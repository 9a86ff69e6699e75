"""The Chat Completions wire format: the parameters a request is sent with, and the
fold of the streamed chunks into provider events (`StreamState`). Pure functions,
no I/O and no SDK: `engine.providers.openai` does the sending.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.events import Usage
from engine.providers.base import (
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

REASONING_MODEL = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)
"""OpenAI's reasoning models: they take a reasoning effort and no temperature."""

EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
"""huddle's effort levels as `reasoning_effort`."""

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens"}
"""Chat Completions finish reasons in the words the engine records (Anthropic's)."""


def reasoning_model(model: str) -> bool:
    """Whether `model` is one of OpenAI's reasoning models ("gpt-5", "o3-mini";
    a gateway's "openai/gpt-5" too)."""
    return bool(REASONING_MODEL.match(model.rsplit("/", 1)[-1]))


def messages_param(request: ProviderRequest) -> list[dict[str, Any]]:
    """The conversation as Chat Completions messages: the system prompt first; a user
    turn as its tool results (one "tool" message each), then its shared context and
    own text as one user message; an assistant turn with its tool calls."""
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        if message.role == "assistant":
            messages.append(_assistant(message))
            continue
        for result in message.tool_results:
            content = f"Error: {result.output}" if result.is_error else result.output
            messages.append({"role": "tool", "tool_call_id": result.tool_use_id, "content": content})
        text = "\n\n".join(part for part in (message.context, message.content) if part)
        if text or not message.tool_results:
            messages.append({"role": "user", "content": text})
    return messages


def _assistant(message: Message) -> dict[str, Any]:
    turn: dict[str, Any] = {"role": "assistant", "content": message.content or (None if message.tool_uses else "")}
    if message.tool_uses:
        turn["tool_calls"] = [
            {"id": use.id, "type": "function", "function": {"name": use.name, "arguments": json.dumps(use.input)}}
            for use in message.tool_uses
        ]
    return turn


def _function(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
    }


def request_params(
    request: ProviderRequest, *, structured: Literal["json_schema", "tool"], official: bool
) -> dict[str, Any]:
    """The Chat Completions parameters for a request (everything but `stream`).

    `structured` says how a structured reply is asked for; `official` is True for
    api.openai.com, which takes `max_completion_tokens` where other servers take
    `max_tokens`."""
    params: dict[str, Any] = {
        "model": request.model,
        "messages": messages_param(request),
        "stream_options": {"include_usage": True},
        ("max_completion_tokens" if official else "max_tokens"): request.max_tokens,
    }
    if not reasoning_model(request.model):
        params["temperature"] = request.temperature
    elif request.effort is not None:
        params["reasoning_effort"] = EFFORT[request.effort]
    offered = [_function(tool) for tool in request.tools]
    if request.tool is not None and structured == "tool":
        # The reply function must be called, now or after using the others.
        params["tools"] = [*offered, _function(request.tool)]
        if offered and request.tool_choice == "auto":
            params["tool_choice"] = "required"
        else:
            params["tool_choice"] = {"type": "function", "function": {"name": request.tool.name}}
        return params
    if request.tool is not None:
        params["response_format"] = {"type": "json_schema", "json_schema": {
            "name": request.tool.name, "description": request.tool.description,
            "schema": request.tool.input_schema, "strict": False,
        }}
    if offered:
        params["tools"] = offered
        params["tool_choice"] = request.tool_choice
    return params


def usage_of(usage: Any) -> Usage:
    """A chunk's usage: cached prompt tokens apart from the fresh ones."""
    prompt = getattr(usage, "prompt_tokens", None) or 0
    details = getattr(usage, "prompt_tokens_details", None)
    cached = min(prompt, getattr(details, "cached_tokens", None) or 0)
    return Usage(
        input_tokens=prompt - cached,
        output_tokens=getattr(usage, "completion_tokens", None) or 0,
        cache_read_tokens=cached,
    )


@dataclass
class _Call:
    """A tool call as its deltas arrive."""

    id: str | None
    """None until the server names it (some never do)."""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


@dataclass
class StreamState:
    """Folds streamed chunks into provider events.

    Text streams as it comes: as the structured reply (`ToolInputDelta`) when the
    reply is the content (`answer_in_content`), else as `TextDelta`. The forced
    function's arguments (`forced`) stream as `ToolInputDelta`; any other tool call
    is gathered and given whole when the stream finishes.
    """

    answer_in_content: bool = False
    tools_offered: bool = False
    """The model may use tools before it answers: content that is to be the answer
    is then held until the end, when it is known whether tools were used instead
    (it is then text, the lead-in to their use)."""
    forced: str | None = None
    """The name of the function the request forces, if any."""
    usage: Usage = field(default_factory=Usage)
    usage_seen: bool = False
    finish_reason: str | None = None
    _calls: dict[int, _Call] = field(default_factory=dict)
    """Every tool call, in the order they began."""
    _open: dict[int, int] = field(default_factory=dict)
    """The call each delta index adds to now (a server may reuse an index for a new call)."""
    _answer: int | None = None
    """The forced call whose arguments stream (the first one made)."""
    _held: list[str] = field(default_factory=list)

    def feed(self, chunk: Any) -> list[ProviderEvent]:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage, self.usage_seen = usage_of(usage), True
        events: list[ProviderEvent] = []
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                continue  # one reply is asked for; a server that sends more gets its first read
            delta = getattr(choice, "delta", None)
            if delta is not None:
                refusal = getattr(delta, "refusal", None)
                if refusal:
                    events.append(TextDelta(refusal))
                content = getattr(delta, "content", None)
                if content and self.answer_in_content and self.tools_offered:
                    self._held.append(content)
                elif content:
                    events.append(ToolInputDelta(content) if self.answer_in_content else TextDelta(content))
                for call in getattr(delta, "tool_calls", None) or ():
                    events += self._call_delta(call)
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reason = reason
        return events

    def _call_delta(self, delta: Any) -> list[ProviderEvent]:
        index = getattr(delta, "index", None) or 0
        call_id = getattr(delta, "id", None)
        key = self._open.get(index)
        if key is None or call_id and self._calls[key].id not in (None, call_id):
            key = self._open[index] = len(self._calls)
            self._calls[key] = _Call(call_id)
        call = self._calls[key]
        call.id = call.id or call_id
        function = getattr(delta, "function", None)
        if function is not None:
            if function.name and not call.name:
                call.name = function.name
            if function.arguments:
                call.fragments.append(function.arguments)
        if self.forced is None or call.name != self.forced or self._answer not in (None, key):
            return []
        self._answer = key  # the structured reply: its fragments stream as they come
        pending = "".join(call.fragments)
        call.fragments.clear()
        return [ToolInputDelta(pending)] if pending else []

    def finish(self) -> list[ProviderEvent]:
        """What the end of the stream gives: the gathered tool uses, the usage (when
        the server reported any) and the stop. A stream that ended without a
        finish_reason was cut short: a retryable `stream_error`."""
        if self.finish_reason is None:
            raise ProviderError(
                "stream_error", "the stream ended without a finish_reason (incomplete reply)",
                retryable=True, usage=self.usage,
            )
        uses = [self._whole(key, call) for key, call in self._calls.items() if call.name != self.forced]
        events: list[ProviderEvent] = []
        if self._held:
            held = "".join(self._held)
            events.append(TextDelta(held) if uses else ToolInputDelta(held))
        events += uses
        if self.usage_seen:
            events.append(UsageReport(self.usage))
        reason = "tool_use" if uses else STOP_REASONS.get(self.finish_reason, self.finish_reason)
        events.append(Stop(reason))
        return events

    def _whole(self, key: int, call: _Call) -> ToolUse:
        """A whole tool use; arguments that are not a JSON object are malformed output, worth a retry."""
        text = "".join(call.fragments)
        try:
            value = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ProviderError(
                "invalid_output", f"the arguments of a {call.name} tool call are not a JSON object",
                retryable=True, usage=self.usage,
            )
        return ToolUse(call.id or f"call_{key}", call.name, value)

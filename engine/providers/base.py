"""What a model provider takes and gives back.

A provider turns one request into a stream of provider events: text deltas,
fragments of a forced tool call's JSON input, whole uses of offered tools,
usage, and a stop. It raises `ProviderError` for anything that went wrong,
saying whether a retry may help.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from engine.events import ErrorType, Usage


@dataclass(frozen=True)
class ToolUse:
    """The model asks to use a tool: a provider event, and a block of the assistant turn it ends."""

    id: str
    name: str
    input: dict[str, Any]
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool use gave back (or why it gave nothing), for the next user turn."""

    tool_use_id: str
    output: str
    is_error: bool = False


EDITED_NOTE = re.compile(r"\[input edited by a person: (\{.*\})\]\n")
"""Opens a tool result whose input a person changed: the model should know what it reads."""


def edited_note(payload: dict[str, Any]) -> str:
    """The line put before such a result (EDITED_NOTE matches it)."""
    return f"[input edited by a person: {json.dumps(payload, ensure_ascii=False)}]\n"


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str
    """The turn's own text (an agent's instructions)."""
    context: str = ""
    """Other agents' output, wrapped as data. Kept apart so a provider can put it
    first and cache it: the same context often reaches several agents."""
    tool_uses: tuple[ToolUse, ...] = ()
    """An assistant turn's requests to use tools."""
    tool_results: tuple[ToolOutcome, ...] = ()
    """A user turn's answers to the tool uses of the turn before."""

    @property
    def text(self) -> str:
        """The whole turn as the model reads it."""
        parts = [self.content, self.context]
        parts += [f"{use.name} {json.dumps(use.input, sort_keys=True)}" for use in self.tool_uses]
        parts += [result.output for result in self.tool_results]
        return "\n\n".join(part for part in parts if part)


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model (`ProviderRequest.tools`), or one it must call
    (`ProviderRequest.tool`): how structured replies are asked for."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ProviderRequest:
    model: str
    system: str
    messages: tuple[Message, ...]
    max_tokens: int = 2048
    temperature: float = 0.7
    """Used by the simulated provider; the current Anthropic API has no sampling temperature."""
    effort: str | None = None
    """How much effort a reply gets (low, medium, high, xhigh, max); None: the model's default."""
    tool: ToolSpec | None = None
    """A tool the model must call: its input is the structured reply."""
    tools: tuple[ToolSpec, ...] = ()
    """Tools the model may use before it answers (with `tool`, before it calls that)."""
    tool_choice: Literal["auto", "none"] = "auto"
    """"none": answer now, without using `tools` (the rounds are used up)."""
    # Who is asking and about what. Real providers ignore these; the simulated
    # one uses them to write a plausible reply and to inject faults on cue.
    agent: str = ""
    role: str = ""
    task: str = ""
    team: tuple[str, ...] = ()
    call_key: str = ""
    attempt: int = 1


@dataclass(frozen=True)
class TextDelta:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ToolInputDelta:
    """A fragment of the forced tool call's JSON input."""

    partial_json: str
    type: Literal["tool_input"] = "tool_input"


@dataclass(frozen=True)
class UsageReport:
    usage: Usage
    type: Literal["usage"] = "usage"


@dataclass(frozen=True)
class Stop:
    reason: str
    type: Literal["stop"] = "stop"


ProviderEvent = TextDelta | ToolInputDelta | ToolUse | UsageReport | Stop


@dataclass
class ProviderError(Exception):
    """A failed model call. `retryable` says whether trying again may help."""

    error_type: ErrorType
    message: str
    retryable: bool
    retry_after: float | None = None
    status: int | None = None
    usage: Usage = field(default_factory=Usage)

    def __str__(self) -> str:
        return self.message


class Provider(Protocol):
    """Streams replies. A provider that holds keys may list them in a `secrets`
    attribute: the engine then keeps every piece of them out of its events."""

    name: str
    """"simulated" or "anthropic": shown in the UI and recorded."""

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]: ...


def retry_after_of(headers: Any) -> float | None:
    """Seconds to wait, from retry-after-ms or retry-after (seconds), if present."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None

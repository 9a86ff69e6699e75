"""What a model provider takes and gives back.

A provider turns one request into a stream of provider events: text deltas,
fragments of a forced tool call's JSON input, usage, and a stop. It raises
`ProviderError` for anything that went wrong, saying whether a retry may help.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from engine.events import ErrorType, Usage


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str
    """The turn's own text (an agent's instructions)."""
    context: str = ""
    """Other agents' output, wrapped as data. Kept apart so a provider can put it
    first and cache it: the same context often reaches several agents."""

    @property
    def text(self) -> str:
        """The whole turn as the model reads it."""
        return f"{self.content}\n\n{self.context}" if self.context else self.content


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model is forced to call: how structured replies are asked for."""

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


ProviderEvent = TextDelta | ToolInputDelta | UsageReport | Stop


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
    name: str
    """"simulated" or "anthropic": shown in the UI and recorded."""

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]: ...

"""Shared test helpers: scripted providers and a way to run a session and keep its events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.approvals import ApprovalGate
from engine.bus import EventBus
from engine.events import EventBase, PatternNote, SessionFinished, Usage
from engine.guards import RetryPolicy
from engine.policy import ApprovalPolicy
from engine.providers.base import (
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    Stop,
    TextDelta,
    ToolInputDelta,
    ToolUse,
    UsageReport,
)
from engine.session import EngineConfig, SessionSpec, run_session
from engine.state import SessionState

E = TypeVar("E", bound=EventBase)

FAST_RETRY = RetryPolicy(base_delay=0.001, max_delay=0.01)

Reply = str | dict[str, Any] | ToolUse | ProviderError | Callable[[ProviderRequest], Any]


@dataclass
class ScriptedProvider:
    """Answers each request with `script(request)`: text, a dict for a structured
    reply, a ToolUse (after a line of text), a ProviderError to raise, or an
    awaitable-free callable returning one."""

    script: Callable[[ProviderRequest], Reply]
    delay: float = 0.0
    name: str = "scripted"
    requests: list[ProviderRequest] = field(default_factory=list)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        reply = self.script(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(reply, ProviderError):
            raise reply
        if isinstance(reply, ToolUse):
            yield TextDelta(f"Using {reply.name}.")
            yield reply
            yield UsageReport(Usage(input_tokens=100, output_tokens=20))
            yield Stop("tool_use")
            return
        text = json.dumps(reply) if isinstance(reply, dict) else reply
        half = len(text) // 2
        for piece in (text[:half], text[half:]):
            if self.delay:
                await asyncio.sleep(self.delay / 2)
            yield ToolInputDelta(piece) if request.tool else TextDelta(piece)
        yield UsageReport(Usage(input_tokens=100, output_tokens=50))
        yield Stop("end_turn")


def plan_of(*steps: tuple[str, str, list[str]], confidence: float = 0.9) -> dict[str, Any]:
    """A plan dict from (id, worker, depends_on) triples."""
    return {
        "steps": [
            {"id": sid, "title": f"step {sid}", "instructions": f"do {sid}", "assigned_to": worker, "depends_on": deps}
            for sid, worker, deps in steps
        ],
        "confidence": confidence,
    }


def orchestrated(plan: dict[str, Any], *, answer: Callable[[ProviderRequest], Reply] | None = None) -> Callable[[ProviderRequest], Reply]:
    """A script for the orchestrator: the lead returns `plan`, everyone else text."""

    def script(request: ProviderRequest) -> Reply:
        if request.tool is not None:
            return plan
        if answer is not None:
            return answer(request)
        return f"{request.agent} did it"

    return script


def fold(events: Iterable[EventBase]) -> SessionState:
    """The session state `events` fold into (what the screens, the row and the exports read)."""
    state = SessionState()
    for event in events:
        state.apply(event)
    return state


@dataclass
class Ran:
    finished: SessionFinished
    events: list[EventBase]

    def of(self, kind: str | type[E]) -> list[Any]:
        """The events of `kind`: a kind's name ("call.finished"), or a class (`StageNote`)."""
        if isinstance(kind, type):
            return [e for e in self.events if isinstance(e, kind)]
        return [e for e in self.events if e.kind == kind]


async def run(
    provider: Any,
    task: str = "Design a rate limiter for our public REST API",
    *,
    policy: ApprovalPolicy | None = None,
    gate: ApprovalGate | None = None,
    config: EngineConfig | None = None,
    on_event: Callable[[EventBase], None] | None = None,
    **spec: Any,
) -> Ran:
    """Run a session (policy approves everything unless told otherwise) and keep its events."""
    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    if on_event is not None:
        bus.listen(on_event)
    policy = policy or ApprovalPolicy(default="approve")
    finished = await run_session(
        SessionSpec(task=task, policy=policy, **spec),
        provider,
        bus=bus,
        gate=gate or ApprovalGate(policy),
        config=config or EngineConfig(retry=FAST_RETRY, call_timeout=5),
    )
    return Ran(finished, events)


def pattern_info(name: str, run: Callable[[Any, str], Any], team: Callable[[], Any] | None = None) -> Any:
    """A throwaway pattern for tests: `run(ctx, task)` with no options."""
    from pydantic import BaseModel, ConfigDict

    from engine.patterns import PATTERNS, PatternInfo

    class NoOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")

    async def run_pattern(ctx: Any, task: str, options: Any) -> Any:
        return await run(ctx, task)

    return PatternInfo(name, name, "test pattern", "tests", run_pattern, NoOptions, team or PATTERNS["orchestrator"].team)


def fields_of(note: PatternNote) -> dict[str, Any]:
    """A pattern note's own fields (not those every event has, nor its kind or text), as JSON data."""
    return note.model_dump(mode="json", exclude={*EventBase.model_fields, "kind", "text"})


def labels(escalation: Any) -> dict[str, str]:
    """What each option of an escalation is called there: {"edit": "Allow one more revision"}."""
    return {choice.action: choice.label for choice in escalation.choices}


def team_on(model: str, *, lead: str | None = None, pattern: str = "orchestrator") -> Any:
    """The pattern's preset team with its agents on `model` (the lead on `lead`, if given):
    a team on a model with no price, say, or a mixed one."""
    from engine.patterns import get_pattern

    team = get_pattern(pattern).team()
    agents = tuple(
        agent.model_copy(update={"model": lead if lead is not None and agent.name == team.lead else model})
        for agent in team.agents
    )
    return team.model_copy(update={"agents": agents})

"""Try, fall back, escalate, stop: the failure handling patterns share, so each pattern
module reads as its pattern.

- `in_order(agents, work)`: the work goes to each agent in turn until one does it (a
  stage, then its fallback; the best bid, then the next). What it came to is a `Tried`:
  the output and who made it, or every failure, for the pattern to escalate or give up.
- `decide(ctx, ..., ways=...)`: ask for a decision (a person's, or the policy's) among
  named ways forward, each a `Way`: the choice a person sees and what it does.

Both are built on `RunContext`'s own calls (`escalate`); neither emits events of its own:
what a failure or a decision means is the pattern's to note.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from engine.approvals import Decision
from engine.context import RunContext, failure_message
from engine.events import Choice
from engine.guards import CallFailedError

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


@dataclass(frozen=True)
class Failure(Generic[E]):
    """One agent's attempt that failed, and the error it failed with."""

    agent: str
    error: E

    @property
    def message(self) -> str:
        """Why, in the words a step's error uses."""
        return failure_message(self.error)


@dataclass(frozen=True)
class Attempt(Generic[E]):
    """One turn of `in_order`: who tries, which try it is, and how the one before failed."""

    agent: str
    number: int
    """1 for the first agent, 2 for the next..."""
    previous: Failure[E] | None
    """The failure this attempt follows (None for the first)."""

    @property
    def first(self) -> bool:
        return self.number == 1


@dataclass(frozen=True)
class Tried(Generic[T, E]):
    """What trying the agents in order came to."""

    agent: str | None
    """Who did the work (None when every agent failed)."""
    output: T | None
    failures: tuple[Failure[E], ...]
    """The attempts that failed, in order."""

    @property
    def done(self) -> bool:
        return self.agent is not None

    @property
    def last(self) -> Failure[E]:
        """The last failure (when every agent failed, the last agent's)."""
        return self.failures[-1]


async def in_order(
    agents: Sequence[str],
    work: Callable[[Attempt[E]], Awaitable[T]],
    *,
    catch: type[E] = CallFailedError,  # type: ignore[assignment]
    failed: Callable[[Failure[E], str], Awaitable[None]] | None = None,
) -> Tried[T, E]:
    """`work` by each of `agents` in turn until one returns: what it returned and who did
    it; when every one raises `catch`, every failure (anything else goes through).

    `failed(failure, next_agent)` hears of each failure another agent follows (a note:
    "the fallback redoes it"); the last failure is the caller's to handle.
    """
    failures: list[Failure[E]] = []
    for number, agent in enumerate(agents, 1):
        attempt = Attempt(agent, number, failures[-1] if failures else None)
        try:
            output = await work(attempt)
        except catch as error:
            failures.append(Failure(agent, error))
            if failed is not None and number < len(agents):
                await failed(failures[-1], agents[number])
            continue
        return Tried(agent, output, tuple(failures))
    return Tried(None, None, tuple(failures))


@dataclass(frozen=True)
class Way(Generic[T]):
    """One way forward a decision may take: the choice a person sees, and what it does."""

    choice: Choice
    then: Callable[[Decision], Awaitable[T]]
    """What taking it does, given the decision (with a person's edit or reason)."""


async def decide(
    ctx: RunContext,
    trigger: str,
    reason: str,
    payload: Any = None,
    *,
    ways: Sequence[Way[T]],
    agent: str | None = None,
    validate: Callable[[Any], Any] | None = None,
) -> T:
    """Escalate (`ctx.escalate`) with `ways` as its choices, in order, at most one per
    action; then do what the decision chose: what its way's `then` returns (or raises,
    for a stop)."""
    by_action = {way.choice.action: way for way in ways}
    if len(by_action) != len(ways):
        raise ValueError("decide: at most one way per action (approve, edit, reject)")
    decision = await ctx.escalate(
        trigger, reason, payload, agent=agent, validate=validate, choices=[way.choice for way in ways]
    )
    return await by_action[decision.action].then(decision)

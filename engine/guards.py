"""Guards around model calls: retries with backoff, the circuit breaker, and the exceptions
that tell a pattern a call or the whole session has ended."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from engine.events import ErrorType


class StopSession(Exception):
    """Ends the session early: a budget stop, an open breaker, a pattern's own stop.

    The session still finishes with a result, built from the work done so far.
    """

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PatternStopped(StopSession):
    """An ending the pattern chose: a team it cannot work with, a rejected plan, a
    person's "stop". In a member team it fails only that team's step."""


class StepFailed(Exception):
    """A step that could not be done for a reason other than a failed call."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def leaves(error: BaseException) -> list[BaseException]:
    """The plain exceptions inside `error` (itself, unless it is an exception group)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


class CallFailedError(Exception):
    """One model call failed for good (its error event has been emitted)."""

    def __init__(self, agent: str, error_type: ErrorType, message: str) -> None:
        super().__init__(f"{agent}: {message}")
        self.agent = agent
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a provider's retry-after is a floor, up to `max_wait`."""

    max_attempts: int = 4
    """Attempts per call for transport errors (rate limits, overload, timeouts...)."""
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    """Up to this share of each delay is random, so parallel retries spread out."""
    schema_retries: int = 2
    """Extra attempts for a structured reply that does not validate."""
    max_wait: float = 60.0
    """The longest one wait before a retry lasts, whatever a provider's retry-after asks
    (a server may ask for a day: the call is tried again, and fails in its own words)."""

    def delay(
        self, failures: int, retry_after: float | None, rng: random.Random, *, longest: float | None = None
    ) -> float:
        """Seconds to wait before the next attempt: at most `max_wait`, and at most
        `longest` (the call timeout) when given."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        backoff = backoff * (1 - self.jitter) + backoff * self.jitter * rng.random()
        if retry_after is not None and not math.isnan(retry_after):
            backoff = max(backoff, retry_after)
        cap = self.max_wait if longest is None else min(self.max_wait, longest)
        return round(min(backoff, cap), 3)


class CircuitBreaker:
    """Opens after `threshold` failed calls in a row (each after its retries), across
    the whole session: a provider that keeps failing stops the session, not the user."""

    def __init__(self, threshold: int = 4) -> None:
        self.threshold = threshold
        self.consecutive = 0
        self.reported = False
        """Whether its opening was said: once for the session, however many branches it stops."""

    def failure(self) -> None:
        self.consecutive += 1

    def success(self) -> None:
        self.consecutive = 0

    @property
    def open(self) -> bool:
        return self.threshold > 0 and self.consecutive >= self.threshold

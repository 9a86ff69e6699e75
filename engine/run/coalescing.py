"""What a call streams, sent as `call.delta` events a few times a second, not one per chunk.

A provider streams a reply in chunks of a token or two, tens a second, and all
at once when it has no latency. A `call.delta` per chunk would make most of a
session's events (and of its record) pieces of a few bytes that no screen shows
apart: the live screen paints at 10 to 30 Hz. So the first piece of a reply is
sent at once (a reply is seen to start), and the pieces after it go together,
each waiting at most `DELTA_EVERY`: a timer sends what waits when the stream
goes quiet, and `flush` sends it when the attempt ends, however it ends. The
events that carry the text are the ones the screens, the record and a replay
all see, so a replay shows what the live screen showed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from engine.events import CallDelta

if TYPE_CHECKING:
    from engine.context import RunContext

DELTA_EVERY = 0.03
"""Longest time, in seconds, a streamed piece waits for the pieces after it; with the
recorder's interval, text is committed within 0.1 s of its arrival."""


class DeltaSender:
    """The `call.delta` events of one attempt of one call."""

    def __init__(self, ctx: RunContext, agent: str, key: str, attempt: int) -> None:
        self._ctx = ctx
        self._fields = {"agent": agent, "call_key": key, "attempt": attempt}
        self._loop = asyncio.get_running_loop()
        self._waiting: list[str] = []
        self._sent_at = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self.last: CallDelta | None = None
        """The latest event sent."""

    def add(self, piece: str) -> CallDelta | None:
        """Take the next piece: the event that sent it, if it went now (it waits otherwise)."""
        self._waiting.append(piece)
        now = self._loop.time()
        if now - self._sent_at >= DELTA_EVERY:
            return self.flush()
        if self._timer is None:
            self._timer = self._loop.call_at(self._sent_at + DELTA_EVERY, self.flush)
        return None

    def flush(self) -> CallDelta | None:
        """Send what waits, if anything: the event that sent it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return None
        text, self._waiting = "".join(self._waiting), []
        self._sent_at = self._loop.time()
        self.last = self._ctx.publish(CallDelta, text=text, **self._fields)
        return self.last

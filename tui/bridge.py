"""The bridge between the engine and the screen.

A `LiveSession` (tui.recording) runs the engine on the app's own event loop.
`pump` reads its event stream at most `rate` times a second and posts each
batch to the screen as one `EventsArrived` message, so a burst of token deltas
costs the UI one update per agent per tick, not one per delta.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from textual.message import Message
from textual.message_pump import MessagePump

from engine.events import EventBase

UI_RATE = 10.0
"""Screen updates per second while events stream in."""


class EventsArrived(Message):
    """A batch of session events, in order."""

    def __init__(self, events: list[EventBase]) -> None:
        super().__init__()
        self.events = events


class Source(Protocol):
    """Where a screen's events come from: `wait` for more, `take` what is queued."""

    async def wait(self, timeout: float | None = None) -> bool: ...

    def take(self, max_items: int | None = None) -> list[EventBase]: ...

    @property
    def closed(self) -> bool: ...


async def pump(source: Source, target: MessagePump, rate: float = UI_RATE) -> None:
    """Post everything `source` yields to `target`, in batches, until it closes."""
    interval = 1.0 / rate
    while not source.closed:
        await source.wait()
        await asyncio.sleep(interval)  # let a tick's worth of events gather
        batch = source.take()
        if batch:
            target.post_message(EventsArrived(batch))

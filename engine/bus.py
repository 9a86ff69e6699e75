"""The event bus: one ordered stream, many readers, and backpressure instead of loss.

`publish` hands an event to every subscriber at once, so every reader sees
events in `seq` order whatever the emitting tasks do. A subscription with a
`limit` makes `wait_for_room` block the emitter while that reader is behind:
a slow writer slows the engine, it never loses events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from engine.events import EventBase


class Subscription:
    """A reader's queue of events, drained in batches."""

    def __init__(self, bus: EventBus, limit: int | None) -> None:
        self._bus = bus
        self._queue: deque[EventBase] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False

    def _push(self, event: EventBase) -> None:
        self._queue.append(event)
        self._ready.set()
        if self._limit is not None and len(self._queue) >= self._limit:
            self._room.clear()

    def _close(self) -> None:
        self._closed = True
        self._ready.set()
        self._room.set()

    @property
    def full(self) -> bool:
        return not self._room.is_set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def take(self, max_items: int | None = None) -> list[EventBase]:
        """Whatever is queued now (up to `max_items`), without waiting."""
        if max_items is None or max_items >= len(self._queue):
            batch = list(self._queue)
            self._queue.clear()
        else:
            batch = [self._queue.popleft() for _ in range(max_items)]
        if not self._queue and not self._closed:
            self._ready.clear()
        if self._limit is None or len(self._queue) < self._limit:
            self._room.set()
        return batch

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until something is queued or the bus closed; False on timeout."""
        if self._queue or self._closed:
            return True
        try:
            async with asyncio.timeout(timeout):  # no task of its own, as `wait_for` makes
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    @property
    def closed(self) -> bool:
        """True once the bus closed and everything queued has been taken."""
        return self._closed and not self._queue

    async def batches(self, max_items: int | None = None) -> AsyncIterator[list[EventBase]]:
        """Each batch that arrives, until the bus closes."""
        while True:
            await self.wait()
            batch = self.take(max_items)
            if batch:
                yield batch
            elif self._closed:
                return

    def unsubscribe(self) -> None:
        self._bus._subscriptions.remove(self)
        self._close()


class EventBus:
    """Fan-out of one ordered event stream to callbacks and subscriptions."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._callbacks: list[Callable[[EventBase], None]] = []
        self._closed = False

    def subscribe(self, limit: int | None = None) -> Subscription:
        """A queue of every event from now on; `limit` makes it push back."""
        subscription = Subscription(self, limit)
        if self._closed:
            subscription._close()
        self._subscriptions.append(subscription)
        return subscription

    def listen(self, callback: Callable[[EventBase], None]) -> None:
        """Call `callback` synchronously with every event, in order."""
        self._callbacks.append(callback)

    def publish(self, event: EventBase) -> None:
        for callback in self._callbacks:
            callback(event)
        for subscription in self._subscriptions:
            subscription._push(event)

    async def wait_for_room(self) -> None:
        """Block while any bounded reader is full."""
        for subscription in self._subscriptions:
            while subscription.full:
                await subscription._room.wait()

    def close(self) -> None:
        self._closed = True
        for subscription in self._subscriptions:
            subscription._close()

"""Recorder: one writer task that drains the event stream into the store, in batches.

Each batch is one transaction: the events, whole, with their sessions' rows
and search documents brought up to date. A batch is written `interval`
(0.08 s) after its first event arrived, or at once when it holds a session's
start or end or an escalation, and committed a moment later, so a crash loses
at most the last 0.1 s. The next batch is prepared while the previous one
commits. The subscription is bounded: when the writer falls behind, the
engine waits (`EventBus.wait_for_room`); no event is ever dropped.

If a write fails (a full disk, a lock held too long), the recorder stops
listening, so the engine is never blocked by a reader that is gone, marks its
live sessions `failed` if it still can, and reports the error through
`failure` and `finish()`. What was committed before stays readable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence

from engine.bus import EventBus, Subscription
from engine.events import EventBase, SessionResumed, SessionStarted, event_to_json
from sessions.errors import StoreError
from sessions.rows import started_values
from sessions.tally import SessionTally
from sessions.liveness import BEAT_S, HOST
from sessions.store import Batch, SessionStore

log = logging.getLogger(__name__)

URGENT_KINDS = frozenset({
    "session.started", "session.resumed", "escalation.requested", "escalation.resolved", "session.finished",
})
"""Kinds written at once: a session shows up (or runs again), a decision is kept, the end is never lost."""
DEFAULT_LIMIT = 2000
"""Events the recorder may fall behind by before the engine waits for it."""
DEFAULT_INTERVAL = 0.08
"""Longest time, in seconds, a batch collects events before it is written; with the
write itself, an event is committed within 0.1 s."""
MAX_BATCH = 10_000
"""Most events in one transaction."""


class Recorder:
    """Writes every event of a bus subscription into a `SessionStore`.

    Make one inside the running event loop, `start()` it before the session
    starts, and `await finish()` after the session ended.
    """

    def __init__(
        self,
        store: SessionStore,
        subscription: Subscription,
        *,
        interval: float = DEFAULT_INTERVAL,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._store = store
        self._subscription = subscription
        self._listening = True
        self._interval = interval
        self._max_batch = max_batch
        self._tallies: dict[str, SessionTally] = {}
        self._resuming: dict[str, Sequence[EventBase]] = {}
        """The stored events of sessions to be carried on, by id, until their `session.resumed` comes."""
        self._task: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._error: Exception | None = None
        self.failure: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
        """Set, with the error, if recording stops before `finish()`; never set otherwise."""
        self.batches = 0
        """Transactions committed so far."""
        self.events_written = 0

    @classmethod
    def attach(
        cls,
        store: SessionStore,
        bus: EventBus,
        *,
        limit: int = DEFAULT_LIMIT,
        interval: float = DEFAULT_INTERVAL,
        max_batch: int = MAX_BATCH,
    ) -> Recorder:
        """A recorder of everything `bus` publishes from now on, `limit` events behind at most."""
        return cls(store, bus.subscribe(limit=limit), interval=interval, max_batch=max_batch)

    def resuming(self, events: Sequence[EventBase]) -> None:
        """Expect the session whose stored events (all of them, from its `session.started`)
        these are to carry on in its own record: its `session.resumed` and what follows are
        appended to it, its row taken over by this process and counted on from `events`."""
        if not events or not isinstance(events[0], SessionStarted):
            raise ValueError("a resumed session's record starts with its session.started")
        self._resuming[events[0].session_id] = events

    def start(self) -> None:
        """Start the writer task, and the heartbeat of the sessions it records."""
        if self._task is not None:
            raise RuntimeError("this recorder has already been started")
        self._task = asyncio.create_task(self._run(), name="huddle-recorder")
        self._beating = asyncio.create_task(self._beat(), name="huddle-heartbeat")

    async def _beat(self) -> None:
        """Every `BEAT_S`, say the live sessions recorded here are: a huddle on any host then
        tells them from sessions whose process is gone (`SessionStore.mark_interrupted`). A
        beat the store cannot take now (locked) is said again at the next."""
        while True:
            await asyncio.sleep(BEAT_S)  # a clock, not a wait for something to happen
            live = [session_id for session_id, tally in self._tallies.items() if not tally.state.finished]
            if live:
                try:
                    await self._store.beat(live)
                except StoreError as error:
                    log.warning("heartbeat not written: %s", error)

    async def finish(self) -> None:
        """Write everything published so far, stop, and raise the error that stopped
        recording early, if one did."""
        if self._task is None:
            raise RuntimeError("finish() on a recorder that was never started")
        self._stop_listening()
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.wait({self._beating})
        await self._task
        if self._error is not None:
            raise self._error

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            self._subscription.unsubscribe()

    async def _run(self) -> None:
        try:
            await self._drain()
        except Exception as error:  # kept, and raised again by finish()
            self._stop_listening()
            self._error = error
            await self._mark_failed(error)
            self.failure.set_result(error)

    async def _drain(self) -> None:
        """Collect a batch, prepare it, write it. The next batch is collected and
        prepared while the previous one commits; writes stay in order."""
        committing: asyncio.Future[None] | None = None
        in_flight = 0
        try:
            while events := await self._collect():
                batch = self._prepare(events)
                if committing is not None:
                    await committing
                    self._committed(in_flight)
                committing, in_flight = await self._store.write_batch(batch), len(events)
        finally:
            if committing is not None:
                await committing  # never leave a transaction behind, whatever happened
        if committing is not None:
            self._committed(in_flight)

    async def _collect(self) -> list[EventBase]:
        """The next batch: the first event to arrive and whatever follows within
        `interval`, cut short by an urgent kind or `max_batch`. Empty once the
        subscription is closed and everything in it has been taken."""
        subscription = self._subscription
        while True:
            await subscription.wait()
            events = subscription.take(self._max_batch)
            if events:
                break
            if subscription.closed:
                return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._interval
        urgent = _has_urgent(events)
        while not urgent and len(events) < self._max_batch and not subscription.closed:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await subscription.wait(remaining):
                break
            more = subscription.take(self._max_batch - len(events))
            urgent = _has_urgent(more)
            events.extend(more)
        return events

    def _prepare(self, events: list[EventBase]) -> Batch:
        """The rows a batch of events writes; folds them into their sessions' tallies."""
        batch = Batch()
        rows, documents, tallies = batch.events, batch.documents, self._tallies
        touched: dict[str, SessionTally] = {}
        for event in events:  # the hot loop: a few attribute reads per event
            session_id = event.session_id
            tally = tallies.get(session_id)
            if tally is None:
                tally = tallies[session_id] = self._tally_for(event, batch)
            text = tally.feed(event)
            if text:
                documents.append((session_id, event.seq, text))
            touched[session_id] = tally
            rows.append((session_id, event.seq, event.ts, event.kind, event.agent, event_to_json(event)))
        batch.updates = [tally.values() for tally in touched.values()]
        return batch

    def _committed(self, count: int) -> None:
        self.batches += 1
        self.events_written += count

    def _tally_for(self, event: EventBase, batch: Batch) -> SessionTally:
        """The running totals of a session seen for the first time, which must be
        seen from its start, or from its resume when `resuming` gave its record."""
        stored = self._resuming.pop(event.session_id, None)
        if isinstance(event, SessionResumed) and stored is not None:
            tally = SessionTally.of_record(stored)
            batch.resumed.append({
                "id": event.session_id, "pid": os.getpid(), "host": HOST, "after_seq": event.after_seq, "heartbeat": time.time(),
            })
            return tally
        if not isinstance(event, SessionStarted):
            raise StoreError(
                f"huddle: events of session {event.session_id} arrived before its session.started; "
                "a recorder must be attached before the session starts",
                path=self._store.path,
            )
        batch.started.append(started_values(event, pid=os.getpid(), host=HOST))
        return SessionTally(event.session_id, created_at=event.ts)

    async def _mark_failed(self, error: Exception) -> None:
        """Mark this recorder's sessions that are still live in the database `failed`,
        if the database still lets us. If it does not, they stay live until this
        process ends; then the next open marks them `interrupted`."""
        if not self._tallies:
            return
        reason = "recording stopped: " + str(error).removeprefix("huddle: ")
        try:
            await self._store.mark_failed(list(self._tallies), reason)
        except StoreError as second:
            error.add_note(f"marking the session failed did not work either: {second}")


def _has_urgent(events: list[EventBase]) -> bool:
    return any(event.kind in URGENT_KINDS for event in events)

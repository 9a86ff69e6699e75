"""Recorder: one writer task that drains the event stream into the store, in batches.

Each batch is one transaction: the events, whole, with their sessions' rows
and search documents brought up to date. A batch is written `interval`
(0.05 s) after its first event arrived, or at once when it holds a session's
end, a question for a person or a person's decision (`urgent`), and committed
a moment later (a session's last batch, which `finish()` waits for, by the
event loop itself: `SessionStore.write_batch`, `now`): with the 0.03 s a
streamed piece may wait to be sent with the next (`engine.run.coalescing`), a
crash loses at most the last 0.1 s. The next batch is prepared while the
previous one commits. The subscription is bounded:
when the writer falls behind, the engine waits (`EventBus.wait_for_room`); no
event is ever dropped.

A database server that goes away (`StoreUnreachable`) does not stop recording:
the batches go to a `Spool`, in memory and in a JSON-lines file on local disk,
and the store is tried again every `RETRY_S`; once it answers, the spooled
batches are written in order, each one transaction as before, and recording
goes on (`buffering` says which). A batch whose commit was cut off is looked
for before it is written again, so none is written twice.

If a write fails otherwise (a full disk, a lock held too long), or the spool
is full, the recorder stops listening, so the engine is never blocked by a
reader that is gone, marks its live sessions `failed` if it still can, and
reports the error through `failure` and `finish()`. What was committed before
stays readable.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from contextlib import suppress
from collections.abc import Callable, Sequence

from engine.bus import EventBus, Subscription
from engine.events import EventBase, SessionResumed, SessionStarted, event_to_json
from sessions.errors import StoreError, StoreUnreachable
from sessions.spool import Spool, spool_dir, stored
from sessions.rows import started_values
from sessions.tally import SessionTally
from sessions.liveness import BEAT_S, HOST
from sessions.store import Batch, SessionStore

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 2000
"""Events the recorder may fall behind by before the engine waits for it."""
DEFAULT_INTERVAL = 0.05
"""Longest time, in seconds, a batch collects events before it is written; with the
write itself, and `DELTA_EVERY`, streamed text is committed within 0.1 s of its arrival."""
MAX_BATCH = 10_000
"""Most events in one transaction."""
RETRY_S = 2.0
"""Seconds between two tries of a database that is unreachable."""
NOW_AT_MOST = 500
"""Most events of a batch that ends a session committed by the event loop's own thread,
which waits for it (`SessionStore.write_batch`, `now`): a few milliseconds of its time."""
STAGE_EVERY = 16
"""Events of a batch being prepared that go to the store ahead of it, at a time (`_prepare`)."""
_names = itertools.count()


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
        spool: Spool | None = None,
        retry: float | None = None,
    ) -> None:
        """`spool`: where batches wait while the database is unreachable (by default a
        file of its own in `spool_dir()`); `retry`: seconds between two tries of it then."""
        self._store = store
        self._subscription = subscription
        self._listening = True
        self._interval = interval
        self._max_batch = max_batch
        self._tallies: dict[str, SessionTally] = {}
        self._resuming: dict[str, Sequence[EventBase]] = {}
        """The stored events of sessions to be carried on, by id, until their `session.resumed` comes."""
        self._task: asyncio.Task[None] | None = None
        self._next_beat: asyncio.TimerHandle | None = None
        self._beating: asyncio.Task[None] | None = None
        """The heartbeat being written, if one is."""
        self._error: Exception | None = None
        self.failure: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()
        """Set, with the error, if recording stops before `finish()`; never set otherwise."""
        self.batches = 0
        """Transactions committed so far."""
        self.events_written = 0
        self._spool = spool
        self._retry = RETRY_S if retry is None else retry
        self._retry_at = 0.0
        self._committing: tuple[asyncio.Future[None], Batch, int] | None = None
        """The batch being committed, its commit, and its count of events."""
        self._staging = False
        """True from a batch begun (`SessionStore.begin_batch`) until it is sent."""
        self.unreachable: StoreUnreachable | None = None
        """Why the database cannot be reached, while the recorder keeps its events (`buffering`)."""
        self.on_buffering: Callable[[StoreUnreachable | None], None] | None = None
        """Told when the recorder starts keeping events for a database that went away
        (with why), and when it has written them all (with None)."""
        self._kept = 0
        """Events that waited in the spool and are written since the database came back."""
        self._no_more_waiting = asyncio.Event()

    @classmethod
    def attach(
        cls,
        store: SessionStore,
        bus: EventBus,
        *,
        limit: int = DEFAULT_LIMIT,
        interval: float = DEFAULT_INTERVAL,
        max_batch: int = MAX_BATCH,
        spool: Spool | None = None,
        retry: float | None = None,
    ) -> Recorder:
        """A recorder of everything `bus` publishes from now on, `limit` events behind at most."""
        return cls(store, bus.subscribe(limit=limit), interval=interval, max_batch=max_batch, spool=spool, retry=retry)

    @property
    def spool(self) -> Spool:
        """Where batches wait while the database is unreachable: a file of its own in
        `spool_dir()` unless one was given, made when first needed."""
        if self._spool is None:
            name = f"{os.getpid()}-{int(time.time())}-{next(_names)}.jsonl"
            self._spool = Spool(spool_dir() / name, database=self._store.path)
        return self._spool

    @property
    def buffering(self) -> bool:
        """True while the database is unreachable and events wait in the spool for it."""
        return self.unreachable is not None

    def stop_waiting(self) -> None:
        """Stop waiting for an unreachable database once the session has ended: `finish()`
        then raises a StoreError saying where the events that were not written are kept."""
        self._no_more_waiting.set()

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
        self._next_beat = asyncio.get_running_loop().call_later(BEAT_S, self._beat)

    def _beat(self) -> None:
        """Every `BEAT_S`, say the live sessions recorded here are: a huddle on any host then
        tells them from sessions whose process is gone (`SessionStore.mark_interrupted`). A
        beat the store cannot take now (locked) is said again at the next."""
        live = [session_id for session_id, tally in self._tallies.items() if not tally.finished]
        if live and not self.buffering:  # a database that is away is tried by the spool's clock
            self._beating = asyncio.create_task(self._store.beat(live), name="huddle-heartbeat")
            self._beating.add_done_callback(self._beaten)
        else:
            self._beaten(None)

    def _beaten(self, beating: asyncio.Task[None] | None) -> None:
        """The next beat in `BEAT_S`, while the recorder listens."""
        if beating is not None and not beating.cancelled() and (error := beating.exception()) is not None:
            log.warning("heartbeat not written: %s", error)
        if self._listening:
            self._next_beat = asyncio.get_running_loop().call_later(BEAT_S, self._beat)

    async def finish(self) -> None:
        """Write everything published so far, stop, and raise the error that stopped
        recording early, if one did."""
        if self._task is None:
            raise RuntimeError("finish() on a recorder that was never started")
        self._stop_listening()
        if self._next_beat is not None:
            self._next_beat.cancel()
        if self._beating is not None and not self._beating.done():
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
            self._unstage()
            self._stop_listening()
            self._error = error
            await self._mark_failed(error)
            self.failure.set_result(error)

    async def _drain(self) -> None:
        """Collect a batch, prepare it, write it. The next batch is collected and
        prepared while the previous one commits; writes stay in order. While the
        database is unreachable, batches go to the spool, and it is tried again
        every `retry` seconds, until everything is written."""
        try:
            while (events := await self._collect()) is not None:
                if events:
                    ends = {event.session_id: event.seq for event in events if event.kind == "session.finished"}
                    now = bool(ends) and len(events) <= NOW_AT_MOST
                    staging = self._staging = not (now or self._spool) and await self._store.begin_batch()
                    await self._write(self._prepare(events, ends, staging), len(events), now=now)
                else:  # the commit in flight ended, or it is time to try the database again
                    await self._settle()
                if self._spool and asyncio.get_running_loop().time() >= self._retry_at:
                    await self._catch_up()
            await self._settle()
            while self._spool:  # the session ended; what waits is written once the database is back
                with suppress(TimeoutError):  # a clock, cut short by `stop_waiting`
                    await asyncio.wait_for(self._no_more_waiting.wait(),
                                           max(0.0, self._retry_at - asyncio.get_running_loop().time()))
                if self._no_more_waiting.is_set():
                    raise StoreError(
                        f"huddle: stopped waiting for the session database {self._store.path}: {self.spool.events} "
                        f"events were not written to it; they are kept in {self.spool.path}"
                    )
                await self._catch_up()
        finally:
            if self._committing is not None:
                with suppress(Exception):
                    await self._committing[0]  # never leave a transaction behind, whatever happened

    async def _write(self, batch: Batch, count: int, *, now: bool = False) -> None:
        """Send a batch to the store once the one before it committed, or to the spool;
        `now`: it ends a session (`SessionStore.write_batch`)."""
        await self._settle()
        if not self._spool:
            try:
                self._committing = (await self._store.write_batch(batch, now=now), batch, count)
                self._staging = False
                return
            except StoreUnreachable as error:
                self._buffer(error)
        self._unstage()
        self.spool.add(batch, count)

    def _unstage(self) -> None:
        """Undo the batch begun, if it was not sent (its events are then in the spool, or
        nowhere: recording failed)."""
        if self._staging:
            self._staging = False
            self._store.unstage()

    async def _settle(self) -> None:
        """Wait for the commit in flight; one cut off by a lost server goes first in the spool."""
        if self._committing is None:
            return
        commit, batch, count = self._committing
        try:
            await commit
        except StoreUnreachable as error:
            self._buffer(error)
            self.spool.add(batch, count, in_doubt=True)
        else:
            self._committed(count)
        finally:
            self._committing = None

    def _buffer(self, error: StoreUnreachable) -> None:
        """Keep events for an unreachable database, and try it again in `retry` seconds."""
        self._retry_at = asyncio.get_running_loop().time() + self._retry
        if self.unreachable is None:
            self.unreachable = error
            log.warning("session database unreachable, events kept in %s until it is back: %s", self.spool.path, error)
            if self.on_buffering is not None:
                self.on_buffering(error)

    async def _catch_up(self) -> None:
        """Write the spooled batches, in order, one transaction each; if the database is
        still away, try again in `retry` seconds."""
        spool, written = self.spool, 0
        while spool:
            batch, count = spool.first()
            sent = False
            try:
                if spool.in_doubt and await stored(self._store, batch):  # committed after all
                    spool.drop_first()
                    self._committed(count)
                    self._kept += count
                    continue
                commit = await self._store.write_batch(batch)
                sent = True
                await commit
            except StoreUnreachable as error:
                self._buffer(error)
                spool.in_doubt = spool.in_doubt or sent
                if written:
                    spool.save()
                return
            spool.drop_first()
            self._committed(count)
            self._kept += count
            written += 1
        log.info("session database reachable again: the %d events that waited for it are written", self._kept)
        self._kept = 0
        self.unreachable = None
        if self.on_buffering is not None:
            self.on_buffering(None)

    async def _collect(self) -> list[EventBase] | None:
        """The next batch: the first event to arrive and whatever follows within
        `interval`, cut short by an urgent kind or `max_batch`. Empty when the commit
        in flight ended first, or it is time to try an unreachable database again;
        None once the subscription is closed and everything in it has been taken."""
        subscription = self._subscription
        loop = asyncio.get_running_loop()
        while True:
            if not await self._wait_for_events():
                return []
            events = subscription.take(self._max_batch)
            if events:
                break
            if subscription.closed:
                return None
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

    async def _wait_for_events(self) -> bool:
        """Wait until events are queued (True), or the database needs a look first (False):
        the commit in flight ended (a lost server is then known at once, not at the next
        event), or the spool's time to try again came."""
        subscription = self._subscription
        if subscription.pending or subscription.closed:
            return True
        if self._spool:
            return await subscription.wait(max(0.0, self._retry_at - asyncio.get_running_loop().time()))
        if self._committing is None:
            return await subscription.wait()
        commit = self._committing[0]
        if commit.done():
            return False
        waiting = asyncio.ensure_future(subscription.wait())
        try:
            await asyncio.wait({waiting, commit}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        return waiting.done() and not waiting.cancelled()

    def _prepare(self, events: list[EventBase], ends: dict[str, int], staging: bool) -> Batch:
        """The rows a batch of events writes; folds them into their sessions' tallies.
        `ends`: the seq of each session's `session.finished` among them. `staging` (the
        batch is begun, `SessionStore.begin_batch`): the first event, then every
        `STAGE_EVERY`, go to the store's writer ahead of the batch, which wakes and writes
        them while the rest are prepared."""
        batch = Batch()
        rows, documents, tallies = batch.events, batch.documents, self._tallies
        touched: dict[str, SessionTally] = {}
        staged, ahead = 0, 1
        for event in events:  # the hot loop: a few attribute reads per event
            session_id = event.session_id
            tally = tallies.get(session_id)
            if tally is None:
                tally = tallies[session_id] = self._tally_for(event, batch)
            text = tally.feed(event, ending=event.seq <= ends.get(session_id, 0))
            if text:
                documents.append((session_id, event.seq, text))
            touched[session_id] = tally
            rows.append((session_id, event.seq, event.ts, event.kind, event.agent, event_to_json(event)))
            if staging and len(rows) == ahead:
                self._store.stage(rows[staged:])
                staged, ahead = ahead, ahead + STAGE_EVERY
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


def urgent(event: EventBase) -> bool:
    """Whether an event is written at once: a question for a person (so the inbox and an
    attached screen see it), a decision that was not the policy's (it is kept), the end
    (never lost). Everything else is committed within the interval: a session that is
    over in less than it is one transaction."""
    kind = event.kind
    if kind == "session.finished":
        return True
    if kind == "escalation.requested":
        return event.human  # type: ignore[attr-defined, no-any-return]
    return kind == "escalation.resolved" and event.by != "policy"  # type: ignore[attr-defined]


def _has_urgent(events: list[EventBase]) -> bool:
    return any(urgent(event) for event in events)


"""The recorder: batched commits, urgent ones at once, backpressure instead of loss, and
a full disk that fails the session while what was committed stays readable."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest

from engine.approvals import ApprovalGate, Decision
from engine.bus import EventBus
from engine.events import CallDelta, EscalationRequested, EscalationResolved, EventBase, SessionStarted
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec, run_session
from sessions import recorder
from sessions.errors import DatabaseLocked, DiskFull, StoreError
from sessions.recorder import Recorder
from sessions.tally import SessionTally
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY, run
from tests.sessions.helpers import APPROVE, TASK, connect, fill_disk, publish, raw, record
from tui.recording import LiveSession


async def committed(store: SessionStore, session_id: str, count: int | None = None) -> Any:
    """Events another connection can see: what is durably committed (or whether they are `count`)."""
    seen = (await raw(store, "SELECT count(*) FROM events WHERE session_id = ?", (session_id,)))[0][0]
    return seen if count is None else seen == count


async def eventually(check: Any, timeout: float = 3.0) -> float:
    """Poll `check()` (true, or a coroutine that comes true) until true; the seconds it took."""
    started = time.monotonic()
    while not (await found if inspect.isawaitable(found := check()) else found):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true after {timeout}s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


def delta(session_id: str, seq: int) -> CallDelta:
    return CallDelta(session_id=session_id, seq=seq, ts=time.time(), call_key="k", attempt=1, text=f"d{seq}")


async def started_session(
    store: SessionStore, bus: EventBus, *, committed_first: bool = True, **options: float
) -> tuple[Recorder, str]:
    """A recorder on `bus` that has been given the start of a real session (its first event)
    and, with `committed_first`, committed it (within the interval: a start is not urgent)."""
    ran = await record(store)
    first = ran.events[0].model_copy(update={"session_id": "live00000001"})
    recorder = Recorder.attach(store, bus, **options)
    recorder.start()
    bus.publish(first)
    if committed_first:
        await eventually(lambda: committed(store, "live00000001", 1))
    return recorder, "live00000001"


async def test_a_burst_is_written_in_a_few_transactions(store: SessionStore) -> None:
    ran = await run(SimulatedProvider(seed=1, speed=0))
    start = ran.events[0]
    burst = [start, *(delta(start.session_id, seq) for seq in range(2, 5002))]

    recorder = await publish(store, burst)

    assert recorder.events_written == 5001
    assert recorder.batches <= 5, recorder.batches  # a few transactions, not one an event
    assert await store.event_count(start.session_id) == 5001


async def test_a_session_over_within_the_interval_is_one_transaction(store: SessionStore) -> None:
    ran = await run(SimulatedProvider(seed=1, speed=0))  # its plan approved by the policy: nobody waits
    assert any(e.kind == "escalation.requested" and not e.human for e in ran.events)

    recorder = await publish(store, ran.events)

    assert recorder.batches == 1 and recorder.events_written == len(ran.events)


async def test_events_are_committed_within_the_interval_not_one_by_one(store: SessionStore) -> None:
    bus = EventBus()
    recorder, session_id = await started_session(store, bus, interval=0.4)

    bus.publish(delta(session_id, 2))
    await asyncio.sleep(0.15)
    assert await committed(store, session_id) == 1  # held for the batch
    waited = await eventually(lambda: committed(store, session_id, 2))
    assert waited < 0.6
    await recorder.finish()


async def test_the_default_interval_commits_within_a_tenth_of_a_second(store: SessionStore) -> None:
    bus = EventBus()
    recorder, session_id = await started_session(store, bus)

    bus.publish(delta(session_id, 2))
    published = time.monotonic()
    await eventually(lambda: committed(store, session_id, 2))

    assert time.monotonic() - published < 0.2  # 0.05 s of batching, plus the write
    await recorder.finish()


async def test_escalations_are_committed_at_once(store: SessionStore) -> None:
    bus = EventBus()
    recorder, session_id = await started_session(store, bus, interval=30, committed_first=False)
    bus.publish(delta(session_id, 2))
    bus.publish(
        EscalationRequested(
            session_id=session_id, seq=3, ts=time.time(), escalation_id="e1", trigger="plan",
            reason="approve the plan?", rule="policy: default=ask", human=True,
        )
    )

    waited = await eventually(lambda: committed(store, session_id, 3))

    assert waited < 1  # not the 30 s interval
    assert (await store.get_session(session_id)).status == "waiting"
    await recorder.finish()


async def test_a_session_waits_while_a_person_decides(store: SessionStore) -> None:
    bus = EventBus()
    policy = ApprovalPolicy(default="ask")
    gate = ApprovalGate(policy)
    recorder = Recorder.attach(store, bus)
    recorder.start()
    asked: list[EscalationRequested] = []
    bus.listen(lambda e: asked.append(e) if isinstance(e, EscalationRequested) else None)
    session = asyncio.create_task(
        run_session(SessionSpec(task=TASK, policy=policy), SimulatedProvider(seed=1, speed=0), bus=bus, gate=gate,
                    config=EngineConfig(retry=FAST_RETRY))
    )
    await eventually(lambda: bool(asked))
    session_id = asked[0].session_id

    async def status(wanted: str) -> bool:
        found = await raw(store, "SELECT status FROM sessions WHERE id = ?", (session_id,))
        return bool(found) and found[0][0] == wanted

    await eventually(lambda: status("waiting"))
    gate.resolve(asked[0].escalation_id, Decision("approve"))
    finished = await session
    await recorder.finish()
    assert finished.status == "completed" and await status("completed")


def test_a_tally_is_running_then_waiting_then_running() -> None:
    tally = SessionTally("s", created_at=100.0)
    spec = SessionSpec(task=TASK)
    tally.feed(SessionStarted(
        session_id="s", seq=1, ts=100.0, task=TASK, title=TASK, pattern=spec.pattern, team=spec.team,
        provider="simulated", seed=0, limits=spec.limits, policy=spec.policy,
    ))
    asked = dict(session_id="s", reason="r", rule="x")
    rule = EscalationRequested(**asked, seq=2, ts=101.0, escalation_id="e1", trigger="budget")
    ask = EscalationRequested(**asked, seq=3, ts=102.0, escalation_id="e2", trigger="plan", human=True)
    tally.feed(rule)
    assert tally.values()["status"] == "running"  # a rule decides at once: nobody waits
    tally.feed(ask)
    assert tally.values()["status"] == "waiting"
    tally.feed(_resolved("e2", 4))
    values = tally.values()
    assert values["status"] == "running" and values["last_seq"] == 4 and values["duration_s"] == 3.0


def _resolved(escalation_id: str, seq: int) -> EventBase:
    return EscalationResolved(
        session_id="s", seq=seq, ts=103.0, escalation_id=escalation_id, trigger="plan", action="approve",
        by="human", rule="x",
    )


async def test_a_slow_writer_slows_the_engine_and_loses_nothing(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_batch = store.write_batch

    async def slow(batch: Any, *, now: bool = False) -> Any:
        await asyncio.sleep(0.02)
        return await write_batch(batch, now=now)

    monkeypatch.setattr(store, "write_batch", slow)
    limit = 10
    bus = EventBus()
    recorder = Recorder.attach(store, bus, limit=limit)
    recorder.start()
    behind: list[int] = []  # what the recorder had not taken yet as each event came (before it was queued)
    bus.listen(lambda _: behind.append(recorder._subscription.pending))
    finished = await run_session(
        SessionSpec(task=TASK, policy=APPROVE), SimulatedProvider(seed=1, speed=0), bus=bus,
        config=EngineConfig(retry=FAST_RETRY),
    )
    await recorder.finish()

    assert max(behind) >= limit - 1  # the bound was reached (this event made it `limit`)...
    assert max(behind) <= limit + 8  # ...and held (one event per concurrent agent may land past it)
    assert await store.event_count(finished.session_id) == len(behind)
    loaded = await store.load_events(finished.session_id, limit=10_000)
    assert [e.seq for e in loaded] == list(range(1, len(behind) + 1))


async def test_the_batch_that_ends_a_session_is_the_one_committed_now(store: SessionStore, monkeypatch) -> None:
    """The loop waits for a session's last batch and nothing else (`SessionStore.write_batch`,
    `now`); the batches before it are written while the session goes on, and a last batch
    of more than `NOW_AT_MOST` events too."""
    written: list[tuple[bool, bool]] = []
    write_batch = store.write_batch

    async def noting(batch: Any, *, now: bool = False) -> Any:
        written.append((now, any(row[3] == "session.finished" for row in batch.events)))
        return await write_batch(batch, now=now)

    monkeypatch.setattr(store, "write_batch", noting)
    await record(store, SimulatedProvider(seed=1, speed=40), recorder_options={"interval": 0.01})
    assert len(written) > 1 and written[-1] == (True, True) and all(not now for now, _ in written[:-1])

    written.clear()
    monkeypatch.setattr(recorder, "NOW_AT_MOST", 1)
    await record(store, task="A session whose end comes with more events")
    assert written == [(False, True)]


@pytest.mark.sqlite_only  # a full disk is made by SQLite's max_page_count
async def test_a_full_disk_fails_the_session_and_keeps_what_was_recorded(store: SessionStore, monkeypatch) -> None:
    earlier = await record(store, task="An earlier session")
    await fill_disk(store, monkeypatch, spare_pages=4)

    with pytest.raises(DiskFull) as full:
        await record(store, SimulatedProvider(seed=1, speed=40), recorder_options={"interval": 0.01})

    message = str(full.value)
    assert "full" in message and str(store.path) in message and "\n" not in message
    [row] = await store.list_sessions(limit=1)
    assert row.status == "failed" and row.reason is not None and "full" in row.reason
    kept = await store.load_events(row.id, limit=10_000)
    assert 1 <= len(kept) == row.last_seq
    assert [e.seq for e in kept] == list(range(1, len(kept) + 1))
    assert await store.event_count(earlier.finished.session_id) == len(earlier.events)
    assert (await store.get_session(earlier.finished.session_id)).status == "completed"


@pytest.mark.sqlite_only  # a full disk is made by SQLite's max_page_count
async def test_when_recording_fails_the_live_session_is_stopped(store: SessionStore, monkeypatch) -> None:
    await fill_disk(store, monkeypatch, spare_pages=2)
    live = LiveSession(SessionSpec(task=TASK, policy=APPROVE), SimulatedProvider(seed=1, speed=4), store=store)

    finished = await asyncio.wait_for(live.run(), timeout=10)

    assert isinstance(live.error, DiskFull)
    assert finished is not None and finished.status == "cancelled" and not live.running
    assert live.exit_status() == 1


async def test_a_database_that_cannot_be_written_now_stops_the_session_before_it_starts(db_path: Any) -> None:
    async with await SessionStore.open(db_path, busy_timeout=0.1) as store:
        live = LiveSession(SessionSpec(task=TASK, policy=APPROVE), SimulatedProvider(seed=1, speed=0), store=store)
        seen: list[EventBase] = []
        live.bus.listen(seen.append)
        with connect(db_path) as other:
            other.execute("BEGIN IMMEDIATE")  # another program holds the write lock

            assert await live.run() is None

    assert isinstance(live.error, DatabaseLocked) and str(db_path) in str(live.error)
    assert seen == [] and live.finished is None  # nothing ran


async def test_events_of_a_session_that_never_started_are_refused(store: SessionStore) -> None:
    with pytest.raises(StoreError, match=r"before its session\.started"):
        await publish(store, [delta("nosuchsession", 5)])
    assert await store.event_count("nosuchsession") == 0

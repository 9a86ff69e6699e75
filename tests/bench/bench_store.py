"""The session store: recorder throughput, listing, and loading a long session.

Recorder: 100,000 events of a realistic session (mostly streamed deltas, from a
real simulated session, its middle repeated) are published on an EventBus as
the engine publishes them, and the real Recorder writes them; the clock stops
when `finish()` returns, everything committed. The baseline, in the same run:
plain `sqlite3` `executemany` of the same rows (already serialised) in one
transaction, into the same schema with the same settings. Each case runs three
times, alternating; the best of each is compared.

Listing: the newest 50 of 10,000 sessions, through a freshly opened store.
Loading: the first page (1,000 events) of the 100,000-event session.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from engine.bus import EventBus
from engine.events import EventBase, event_to_json
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from sessions.recorder import Recorder
from sessions.store import INSERT_EVENT, SessionStore
from tests.bench.report import Report
from tests.helpers import run

EVENTS = 100_000
SESSIONS = 10_000
ROUNDS = 3
SESSION_ID = "bench0000001"


async def session_events(count: int) -> list[EventBase]:
    """`count` events of one session: a real one's start, its middle repeated, its end."""
    ran = await run(SimulatedProvider(seed=1, speed=0), policy=ApprovalPolicy(default="approve"))
    events = ran.events
    resolved = next(i for i, e in enumerate(events) if e.kind == "escalation.resolved")
    head, body, tail = events[: resolved + 1], events[resolved + 1 : -1], events[-1]
    chosen = list(head)
    while len(chosen) < count - 1:
        chosen.extend(body[: count - 1 - len(chosen)])
    chosen.append(tail)
    return [e.model_copy(update={"session_id": SESSION_ID, "seq": seq}) for seq, e in enumerate(chosen, start=1)]


async def fresh(path: Path) -> None:
    """An empty database with the store's schema and settings."""
    store = await SessionStore.open(path)
    await store.close()


async def recorder_case(events: list[EventBase], path: Path) -> tuple[float, int]:
    await fresh(path)
    store = await SessionStore.open(path)
    bus = EventBus()
    recorder = Recorder.attach(store, bus)
    recorder.start()
    started = time.perf_counter()
    for event in events:
        bus.publish(event)
        await bus.wait_for_room()
    await recorder.finish()
    elapsed = time.perf_counter() - started
    assert await store.event_count(SESSION_ID) == len(events)
    await store.close()
    return elapsed, recorder.batches


def raw_case(rows: list[tuple[object, ...]], path: Path) -> float:
    asyncio.run(fresh(path))
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous = FULL")  # as the store has it
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(INSERT_EVENT, rows)
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


FINISHED_COLUMNS = ("id", "created_at", "updated_at", "task", "title", "pattern", "team", "agents", "provider",
                    "models", "seed", "status", "tokens_in", "tokens_out", "cost", "calls", "turns", "duration_s",
                    "result", "last_seq")
"""The columns of `finished_rows`, as both stores name them."""


def finished_rows(count: int) -> list[tuple[object, ...]]:
    """`count` finished sessions' rows (`FINISHED_COLUMNS`), the newest last; each task searchable."""
    agents = json.dumps(["lead", "researcher", "coder", "reviewer"])
    models = json.dumps(["claude-opus-5-5", "claude-sonnet-5-5"])
    result = "## Result\n\n" + "The team's answer, in a few paragraphs. " * 40
    return [
        (f"{i:012x}", 1.7e9 + i * 60, 1.7e9 + i * 60 + 42, f"Task number {i}: design part {i % 97} of the API",
         f"Task number {i}", "orchestrator", "default", agents, "simulated", models, i, "completed",
         3000, 1500, 0.02, 6, 4, 42.0, result, 424)
        for i in range(count)
    ]


def many_sessions(path: Path, count: int) -> None:
    """`count` finished sessions (rows and search documents), written with plain sqlite3."""
    asyncio.run(fresh(path))
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO sessions ({', '.join(FINISHED_COLUMNS)})"
            f" VALUES ({', '.join('?' for _ in FINISHED_COLUMNS)})",
            finished_rows(count),
        )
        connection.execute("INSERT INTO search (rowid, body) SELECT (key << 32) | 1, task FROM sessions")
        connection.execute("UPDATE sessions SET indexed_seq = last_seq")  # their documents are written
        connection.execute("COMMIT")
    connection.close()


async def timed_listing(path: Path) -> tuple[float, float, float, int]:
    """Milliseconds: open, the first listing after it, a search; and the rows listed."""
    started = time.perf_counter()
    store = await SessionStore.open(path)
    opened = time.perf_counter()
    rows = await store.list_sessions(limit=50)
    listed = time.perf_counter()
    found = await store.list_sessions(search="part 42", limit=50)
    searched = time.perf_counter()
    await store.close()
    assert rows[0].id == f"{SESSIONS - 1:012x}" and found
    return (opened - started) * 1000, (listed - opened) * 1000, (searched - listed) * 1000, len(rows)


async def timed_first_page(path: Path) -> tuple[float, int]:
    store = await SessionStore.open(path)
    started = time.perf_counter()
    page = await store.load_events(SESSION_ID, limit=1000)
    elapsed = (time.perf_counter() - started) * 1000
    await store.close()
    assert [e.seq for e in page] == list(range(1, 1001))
    return elapsed, len(page)


def main() -> bool:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
        folder = Path(scratch)
        events = asyncio.run(session_events(EVENTS))
        rows = [(e.session_id, e.seq, e.ts, e.kind, e.agent, event_to_json(e)) for e in events]
        deltas = sum(e.kind == "call.delta" for e in events)
        size = statistics.mean(len(row[5]) for row in rows)

        recorder_times, raw_times, batches = [], [], 0
        for _ in range(ROUNDS):
            remove(folder / "raw.db")
            raw_times.append(raw_case(rows, folder / "raw.db"))
            remove(folder / "recorder.db")
            elapsed, batches = asyncio.run(recorder_case(events, folder / "recorder.db"))
            recorder_times.append(elapsed)
        recorder_rate, raw_rate = len(events) / min(recorder_times), len(events) / min(raw_times)

        report.figure(f"events recorded ({deltas / len(events):.0%} deltas, {size:.0f} bytes each)", len(events))
        report.figure("recorder: events per second, committed (best of 3)", recorder_rate, "events/s")
        report.figure("  wall time, best and worst run", min(recorder_times), f"s / {max(recorder_times):.2f} s")
        report.figure("  transactions", batches)
        report.figure("raw sqlite3 executemany, one transaction (best of 3)", raw_rate, "events/s")
        report.figure("  wall time, best and worst run", min(raw_times), f"s / {max(raw_times):.2f} s")
        report.target("recorder throughput as a share of raw executemany", recorder_rate / raw_rate, 0.5, at_most=False)

        many_sessions(folder / "many.db", SESSIONS)
        opened, listed, searched, shown = asyncio.run(timed_listing(folder / "many.db"))
        report.figure(f"opening a store of {SESSIONS:,} sessions", opened, "ms")
        report.figure(f"full-text search of {SESSIONS:,} sessions, newest 50", searched, "ms")
        report.target(f"listing the newest {shown} of {SESSIONS:,} sessions", listed, 50, unit="ms")

        first_page, count = asyncio.run(timed_first_page(folder / "recorder.db"))
        report.target(f"first page ({count:,} events) of a {EVENTS:,}-event session", first_page, 100, unit="ms")
        report.figure("database size after the recorder run", os.path.getsize(folder / "recorder.db") / 1e6, "MB")
    return report.ok


if __name__ == "__main__":
    main()

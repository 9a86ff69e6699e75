"""PostgreSQL against SQLite, in the same run: recording, listing, and following a session
from another process.

The bench starts a PostgreSQL server of its own (`tests.sessions.pg_server`: a cluster in
a temporary folder, on a Unix socket, no TCP port) and restarts it durable, with the
server defaults the tests turn off (fsync, synchronous_commit, full_page_writes on): a
commit waits for its WAL on disk, as SQLite's `synchronous = FULL` does, so neither side
is timed without its flush. Each database is made fresh, its tables made before the
clock starts. The server is stopped and its folder removed at the end.

Recording: the session store bench's workload (`bench_store.session_events`: 100,000
events of a real simulated session, mostly streamed deltas) published on a bus and
written by the real Recorder into each store; the clock stops when `finish()` returns,
everything committed. Three rounds, alternating; the best of each. The target: PostgreSQL
records at least half SQLite's rate. Each batch is sent over a socket to another process,
which parses it, writes it and flushes it, where SQLite writes in the process itself, so
PostgreSQL may be slower, but by no more than half: a team's shared store is where many
sessions are recorded at once. Beside it, what the server itself takes: the same rows,
serialised, copied in (`COPY`) in one transaction; the gap between that and the store's
rate is the store's own way of sending its batches.

Listing: the newest 50 of 10,000 finished sessions, and a full-text search, each through
a freshly opened store (`sessions.opening.open_store`, as every command opens its
database), 21 times each, the stores taking turns, the median. The two stores must
list the same sessions and find the same ones. The target: PostgreSQL within twice SQLite's time, listing or searching:
both read 50 rows by an index and turn them into the same `SessionRow`s, and what
PostgreSQL adds, a round trip and a query planned per connection, is a fraction of a
millisecond. The browser's own budget (50 ms, `bench_store`) is printed against too.

Attach: a session recorded at a realistic pace by this process, followed by a `Follower`
in a second process (`tests.bench.pg_follower`) started and connected before the session
starts. Each event's latency runs from the moment its batch's commit returned here to the
moment the follower had it; one machine, one clock. The target for an attached screen is
0.3 s (as `bench_attach` for SQLite): the ratio is the 95th percentile over 0.3 s. The
latency from emission (before the recorder's batch was even written), the figure
`bench_attach` reports for SQLite, is printed beside it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from engine.bus import EventBus
from engine.events import EventBase, event_to_json
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec, new_session_id
from sessions.opening import open_store
from sessions.pg_schema import SCHEMA, SEARCH_CONFIG
from sessions.pg_store import PgSessionStore
from sessions.recorder import Recorder
from sessions.store import Batch
from tests.bench.bench_store import (
    EVENTS, FINISHED_COLUMNS, SESSION_ID, SESSIONS, finished_rows, many_sessions, recorder_case, remove, session_events,
)
from tests.bench.report import Report
from tests.sessions.pg_server import PgServer, start_server, stop_server
from tui.recording import LiveSession

ROUNDS = 3
LISTINGS = 21
"""Fresh opens of each store timed for the listing figures, an odd number: the median is one of them."""
SEARCH = "part 42"
RECORD_SHARE = 0.5
"""PostgreSQL's recording rate must be at least this share of SQLite's."""
LISTING_RATIO = 2.0
"""PostgreSQL's listing and search times may be at most this many times SQLite's."""
LISTING_BUDGET_MS = 50.0
"""The browser's budget for its first page of sessions (as `bench_store` has it)."""
FOLLOW_TARGET_S = 0.3
"""An attached screen shows an event within this long of its commit."""
FOLLOW_SPEED = 4.0
"""The followed session's simulated pace: 4x the default, as `bench_attach` has it."""
CHILD_TIMEOUT_S = 120.0
"""Longest wait for the follower process to start, or to finish once the session has."""
ROOT = Path(__file__).resolve().parents[2]
DURABLE = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
"""The server's own defaults, which the test server turns off."""


def durable(server: PgServer) -> None:
    """Restart the server with commits that wait for the disk, and check they do."""
    data = server.folder / "data"
    options = f"-c listen_addresses='' -k {server.folder} -c max_connections=50 {DURABLE}"
    done = server.run("pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", str(data),
                      "-l", str(server.folder / "server.log"), "-o", options)
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctl restart failed: {' '.join((done.stderr or done.stdout).split())[-300:]}")

    async def settings() -> list[str]:
        admin = await server.admin()
        try:
            return [await admin.fetchval(f"SHOW {name}") for name in ("fsync", "synchronous_commit", "full_page_writes")]
        finally:
            await admin.close()

    shown = asyncio.run(settings())
    if shown != ["on", "on", "on"]:
        raise RuntimeError(f"the server did not restart durable (fsync, synchronous_commit, full_page_writes: {shown})")


async def database(server: PgServer) -> str:
    """A fresh database with huddle's tables: its name (`server.dsn(name)` reaches it)."""
    name = await server.new_database(empty=True)
    async with await PgSessionStore.open(server.dsn(name)):
        pass
    return name


# -- recording --------------------------------------------------------------------------


async def pg_recorder_case(server: PgServer, events: list[EventBase]) -> tuple[float, int]:
    """`bench_store.recorder_case` on a fresh PostgreSQL database: seconds, transactions."""
    name = await database(server)
    try:
        async with await PgSessionStore.open(server.dsn(name)) as store:
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
    finally:
        await server.drop_database(name)
    return elapsed, recorder.batches


async def pg_copy_case(server: PgServer, rows: list[tuple[object, ...]]) -> float:
    """Seconds for PostgreSQL alone: the same rows, already serialised, copied into the
    events table of a fresh database (`COPY`, its fastest way in) in one transaction."""
    name = await database(server)
    admin = await server.admin(name)
    try:
        started = time.perf_counter()
        async with admin.transaction():
            await admin.copy_records_to_table("events", schema_name=SCHEMA, records=rows,
                                              columns=("session_id", "seq", "ts", "kind", "agent", "data"))
        elapsed = time.perf_counter() - started
    finally:
        await admin.close()
        await server.drop_database(name)
    return elapsed


def recording(report: Report, server: PgServer, folder: Path) -> None:
    events = asyncio.run(session_events(EVENTS))
    rows = [(e.session_id, e.seq, e.ts, e.kind, e.agent, event_to_json(e)) for e in events]
    sqlite_times, pg_times, copy_times, sqlite_batches, pg_batches = [], [], [], 0, 0
    for _ in range(ROUNDS):
        remove(folder / "recorder.db")
        elapsed, sqlite_batches = asyncio.run(recorder_case(events, folder / "recorder.db"))
        sqlite_times.append(elapsed)
        elapsed, pg_batches = asyncio.run(pg_recorder_case(server, events))
        pg_times.append(elapsed)
        copy_times.append(asyncio.run(pg_copy_case(server, rows)))
    sqlite_rate, pg_rate = len(events) / min(sqlite_times), len(events) / min(pg_times)
    deltas = sum(e.kind == "call.delta" for e in events)
    report.figure(f"events recorded per run ({deltas / len(events):.0%} deltas)", len(events))
    report.figure("SQLite: events per second, committed (best of 3)", sqlite_rate, "events/s")
    report.figure("  wall time, best and worst run", min(sqlite_times), f"s / {max(sqlite_times):.2f} s")
    report.figure("  transactions", sqlite_batches)
    report.figure("PostgreSQL: events per second, committed (best of 3)", pg_rate, "events/s")
    report.figure("  wall time, best and worst run", min(pg_times), f"s / {max(pg_times):.2f} s")
    report.figure("  transactions", pg_batches)
    report.figure("PostgreSQL alone: COPY of the same rows, one transaction", len(rows) / min(copy_times), "events/s")
    report.target("PostgreSQL recording rate as a share of SQLite's", pg_rate / sqlite_rate, RECORD_SHARE,
                  at_most=False)


# -- listing ----------------------------------------------------------------------------


async def pg_many_sessions(server: PgServer, count: int) -> str:
    """`bench_store.many_sessions` on a fresh PostgreSQL database (rows and search
    documents, copied in, then analysed as a database in use would be): its name."""
    name = await database(server)
    admin = await server.admin(name)
    try:
        await admin.copy_records_to_table("sessions", schema_name=SCHEMA, columns=FINISHED_COLUMNS,
                                          records=finished_rows(count))
        await admin.execute(f"INSERT INTO {SCHEMA}.search (session_id, seq, document) "
                            f"SELECT id, 1, to_tsvector('{SEARCH_CONFIG}', task) FROM {SCHEMA}.sessions")
        await admin.execute("VACUUM ANALYZE")
    finally:
        await admin.close()
    return name


async def timed_listing(target: Path | str) -> tuple[float, float, float, list[str], list[str]]:
    """Milliseconds: opening the store, the first listing after it, a search; and the
    ids listed and found."""
    started = time.perf_counter()
    store = await open_store(target, create=False)
    opened = time.perf_counter()
    rows = await store.list_sessions(limit=50)
    listed = time.perf_counter()
    found = await store.list_sessions(search=SEARCH, limit=50)
    searched = time.perf_counter()
    await store.close()
    return ((opened - started) * 1000, (listed - opened) * 1000, (searched - listed) * 1000,
            [row.id for row in rows], [row.id for row in found])


def medians(*targets: Path | str) -> list[tuple[list[float], list[str], list[str]]]:
    """For each store, the median of `LISTINGS` fresh opens (the stores taking turns), for
    each of `timed_listing`'s times; and the ids listed and found."""
    runs: list[list[tuple[float, float, float, list[str], list[str]]]] = [[] for _ in targets]
    for _ in range(LISTINGS):
        for timed, target in zip(runs, targets, strict=True):
            timed.append(asyncio.run(timed_listing(target)))
    return [([statistics.median(run[n] for run in timed) for n in range(3)], timed[0][3], timed[0][4])
            for timed in runs]


def listing(report: Report, server: PgServer, folder: Path) -> None:
    many_sessions(folder / "many.db", SESSIONS)
    name = asyncio.run(pg_many_sessions(server, SESSIONS))
    sqlite, pg = medians(folder / "many.db", server.dsn(name))
    (sq_open, sq_list, sq_search), sq_listed, sq_found = sqlite
    (pg_open, pg_list, pg_search), pg_listed, pg_found = pg
    asyncio.run(server.drop_database(name))
    assert sq_listed[0] == f"{SESSIONS - 1:012x}" and len(sq_listed) == 50 and sq_found, (sq_listed[:1], sq_found)
    assert pg_listed == sq_listed, "PostgreSQL and SQLite listed different sessions"
    assert pg_found == sq_found, f"the search {SEARCH!r} found {len(pg_found)} sessions on PostgreSQL, {len(sq_found)} on SQLite"

    report.figure(f"SQLite: opening a store of {SESSIONS:,} sessions (median of {LISTINGS})", sq_open, "ms")
    report.figure(f"  listing the newest {len(sq_listed)}", sq_list, "ms")
    report.figure(f"  full-text search {SEARCH!r}, newest {len(sq_found)}", sq_search, "ms")
    report.figure(f"PostgreSQL: opening a store of {SESSIONS:,} sessions (median of {LISTINGS})", pg_open, "ms")
    report.figure(f"  listing the newest {len(pg_listed)}", pg_list, "ms")
    report.figure(f"  full-text search {SEARCH!r}, newest {len(pg_found)}", pg_search, "ms")
    report.target(f"PostgreSQL listing the newest 50 of {SESSIONS:,}", pg_list, LISTING_BUDGET_MS, unit="ms")
    report.target("PostgreSQL listing time over SQLite's", pg_list / sq_list, LISTING_RATIO)
    report.target("PostgreSQL search time over SQLite's", pg_search / sq_search, LISTING_RATIO)


# -- following from another process -----------------------------------------------------


class CommitTimedStore(PgSessionStore):
    """The PostgreSQL store, noting when the commit of each event's batch returned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed: dict[int, float] = {}
        """When the commit holding each event (by seq) returned, `time.time()`."""

    async def write_batch(self, batch: Batch, *, now: bool = False) -> asyncio.Future[None]:
        done = await super().write_batch(batch, now=now)
        seqs = [row[1] for row in batch.events]

        def note(future: asyncio.Future[None]) -> None:
            if not future.cancelled() and future.exception() is None:
                now = time.time()
                self.committed.update((seq, now) for seq in seqs)

        done.add_done_callback(note)
        return done


async def follow_case(server: PgServer) -> tuple[dict[str, Any], dict[int, float]]:
    """What the follower process read (`pg_follower`), and when each event was committed here."""
    name = await database(server)
    dsn = server.dsn(name)
    session_id = new_session_id()
    try:
        async with await CommitTimedStore.open(dsn) as store:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.bench.pg_follower", dsn, session_id, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            try:
                assert child.stdout is not None
                ready = await asyncio.wait_for(child.stdout.readline(), CHILD_TIMEOUT_S)
                if ready.strip() != b"ready":
                    _, err = await asyncio.wait_for(child.communicate(), CHILD_TIMEOUT_S)
                    raise RuntimeError(f"the follower process did not start: {err.decode(errors='replace').strip()}")
                live = LiveSession(
                    SessionSpec(task="Design a rate limiter", policy=ApprovalPolicy(default="approve"), seed=3),
                    SimulatedProvider(seed=3, speed=FOLLOW_SPEED), EngineConfig(call_timeout=30), store=store,
                    session_id=session_id,
                )
                await asyncio.wait_for(live.run(), CHILD_TIMEOUT_S)
                out, err = await asyncio.wait_for(child.communicate(), CHILD_TIMEOUT_S)
            finally:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
            if child.returncode != 0:
                raise RuntimeError(f"the follower process failed: {err.decode(errors='replace').strip()}")
            committed = dict(store.committed)
    finally:
        await server.drop_database(name)
    return json.loads(out.decode().splitlines()[-1]), committed


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def following(report: Report, server: PgServer) -> None:
    read, committed = asyncio.run(follow_case(server))
    assert read["ended"] == "completed", read["ended"]
    since_commit = [read_at - committed[seq] for seq, _, read_at in read["read"]]
    since_emitted = [read_at - ts for _, ts, read_at in read["read"]]
    report.figure(f"events followed as they came, in another process ({read['pages']} pages read)", len(since_commit))
    report.figure("committed -> read by the follower process, median", statistics.median(since_commit) * 1000, "ms")
    report.figure("  95th percentile and worst", p95(since_commit) * 1000, f"ms / {max(since_commit) * 1000:.0f} ms")
    report.figure("emitted -> read (as bench_attach on SQLite), median", statistics.median(since_emitted) * 1000, "ms")
    report.figure("  95th percentile and worst", p95(since_emitted) * 1000, f"ms / {max(since_emitted) * 1000:.0f} ms")
    report.target(f"follow latency from commit (95th percentile) as a share of the {FOLLOW_TARGET_S:g} s target",
                  p95(since_commit) / FOLLOW_TARGET_S, 1.0)


def main() -> bool:
    report = Report()
    try:
        server = start_server()
    except pytest.fail.Exception as error:
        print(f"  PostgreSQL could not be started: {error}")
        return False
    try:
        durable(server)
        with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
            recording(report, server, Path(scratch))
            listing(report, server, Path(scratch))
            following(report, server)
    except RuntimeError as error:  # the server or the follower process failed: not a figure
        print(f"  {error}")
        return False
    finally:
        stop_server(server)
    return report.ok


if __name__ == "__main__":
    main()

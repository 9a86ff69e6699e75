"""Workload W1: recording every event at the speed of the engine (issue 18).

One W1 session: a lead's plan call with 3 steps, 3 concurrent worker calls
streaming about 200 tokens each, a synthesis call streaming about 200 (5 calls,
about 840 chunks from the provider), zero model latency, approve-all. Sessions run
one after another, each session's events committed before the next starts.

Two cases, taking turns session by session in the same process (a machine whose
speed drifts, as a shared one does, drifts for both): the engine alone (nothing
listens to its events) and the engine with the real `Recorder` writing every
event into a SQLite store, as `huddle run --headless` records. The figures are
medians over the rounds: sessions per second, CPU per session (every thread of the
process, and for the recorded case the store's writer process too), the ratio of the
two cases in each round; and the bytes stored per session (the database file,
checkpointed, over the `STORED` sessions in it).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress
from pathlib import Path

from engine.agents import AgentSpec, TeamSpec
from engine.bus import EventBus
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderEvent, ProviderRequest, TextDelta
from engine.providers.simulated import SimulatedProvider
from engine.session import SessionSpec, run_session
from sessions.recorder import Recorder
from sessions.store import SessionStore
from tests.bench.report import Report

SESSIONS = 40
"""Sessions one after another in a round of each case."""
ROUNDS = 15
"""Rounds of each case, an odd number: the median is one of them."""
STORED = 200
"""Sessions recorded into one database to measure what a session stores."""
TOKENS = 200
"""Chunks a worker's or the synthesis' reply streams (one word or space each)."""
TEAM = TeamSpec(
    name="w1", lead="lead",
    agents=(AgentSpec(name="lead", role="lead"),) + tuple(AgentSpec(name=f"worker-{i}", role="analyst") for i in range(3)),
)
SPEC = SessionSpec(
    task="Summarise the incident reports for the payments API", team=TEAM,
    policy=ApprovalPolicy(default="approve"), seed=1,
)
_PIECE = re.compile(r"\s*\S+")


class W1Provider(SimulatedProvider):
    """The simulated provider at zero latency, each text reply streamed as `TOKENS`
    chunks of one word (its text repeated as needed); structured replies as they are."""

    def __init__(self) -> None:
        super().__init__(seed=1, speed=0)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        words: list[str] = []
        async for event in super().stream(request):
            if isinstance(event, TextDelta):
                words += _PIECE.findall(event.text)
                continue
            if words:  # the reply's text, then whatever ends it
                for index in range(TOKENS):
                    yield TextDelta(words[index % len(words)])
                words = []
            yield event


async def one_alone() -> None:
    finished = await run_session(SPEC, W1Provider(), bus=EventBus())
    assert finished.status == "completed", finished.reason


async def one_recorded(store: SessionStore) -> None:
    bus = EventBus()
    recorder = Recorder.attach(store, bus)
    recorder.start()
    finished = await run_session(SPEC, W1Provider(), bus=bus)
    await recorder.finish()  # every event committed before the next session starts
    assert finished.status == "completed", finished.reason


async def timed(case: Awaitable[None], spent: list[float]) -> None:
    """Run `case`, adding its wall and CPU seconds (every thread's) to `spent`."""
    wall, cpu = time.perf_counter(), time.process_time()
    await case
    spent[0] += time.perf_counter() - wall
    spent[1] += time.process_time() - cpu


def children_cpu() -> float:
    """CPU seconds the processes this one started (the store's writer) have used so far."""
    me = os.getpid()
    spent = 0
    for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split():
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            spent += int(fields[11]) + int(fields[12])  # utime, stime
    return spent / os.sysconf("SC_CLK_TCK")


async def rounds(folder: Path) -> list[tuple[list[float], list[float]]]:
    """`ROUNDS` rounds of `SESSIONS` sessions each way, the two cases taking turns
    session by session (a machine whose speed drifts, drifts for both): for each round,
    the wall and CPU seconds of the engine alone, then of the engine recorded."""
    store = await SessionStore.open(folder / "w1.db")
    found = []
    for _ in range(ROUNDS):
        alone, kept = [0.0, 0.0], [0.0, 0.0]
        writer = children_cpu()  # the writer's CPU, the recorded case's too
        for index in range(SESSIONS):
            if index % 2:
                await timed(one_alone(), alone)
                await timed(one_recorded(store), kept)
            else:
                await timed(one_recorded(store), kept)
                await timed(one_alone(), alone)
        kept[1] += children_cpu() - writer
        found.append((alone, kept))
    rows = await store.list_sessions(limit=1, status="completed")
    assert rows and await store.count_sessions() == ROUNDS * SESSIONS
    await store.close()
    return found


async def stored(sessions: int, folder: Path) -> int:
    """Bytes a database holds (checkpointed) once `sessions` W1 sessions are recorded in it."""
    path = folder / "stored.db"
    store = await SessionStore.open(path)
    for _ in range(sessions):
        await one_recorded(store)
    await store.close()
    with sqlite3.connect(path) as connection:  # every page back in the file, the log emptied
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


async def counted() -> tuple[int, int]:
    """Chunks the provider streams in one W1 session, and events the engine emits."""
    chunks = 0
    provider = W1Provider()
    inner = provider.stream

    async def counting(request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        nonlocal chunks
        async for event in inner(request):
            chunks += isinstance(event, TextDelta) or type(event).__name__ == "ToolInputDelta"
            yield event

    provider.stream = counting  # type: ignore[method-assign]
    bus, events = EventBus(), []
    bus.listen(events.append)
    await run_session(SPEC, provider, bus=bus)
    return chunks, len(events)


def main() -> bool:
    report = Report()
    chunks, events = asyncio.run(counted())
    with tempfile.TemporaryDirectory() as folder:
        found = asyncio.run(rounds(Path(folder)))
        size = asyncio.run(stored(STORED, Path(folder)))
    ratios = sorted(alone[0] / kept[0] for alone, kept in found)
    print(f"  W1: {ROUNDS} rounds of {SESSIONS} sessions each way, taking turns; each 5 calls, {chunks} chunks "
          f"streamed, {events} events")
    report.figure("engine alone: sessions per second (median)", statistics.median(SESSIONS / a[0] for a, _ in found), "sessions/s")
    report.figure("  CPU per session", statistics.median(a[1] for a, _ in found) / SESSIONS * 1000, "ms")
    report.figure("every event recorded: sessions per second (median)", statistics.median(SESSIONS / k[0] for _, k in found), "sessions/s")
    report.figure("  CPU per session", statistics.median(k[1] for _, k in found) / SESSIONS * 1000, "ms")
    report.figure("  ratios of the rounds", ratios[0], f"to {ratios[-1]:.3f}")
    report.target("W1 recorded as a share of W1 alone (median of the rounds)", statistics.median(ratios), 0.8, at_most=False)
    report.target(f"bytes stored per W1 session ({STORED} in a database)", size / STORED / 1000, 120, unit="KB")
    return report.ok


if __name__ == "__main__":
    main()

"""What a kill -9 can lose: the time from a piece of a reply reaching huddle to its commit.

One session of the simulated provider at a realistic pace (twice its default speed),
recorded by the real `Recorder` into a SQLite store. For every piece the provider
streams, the clock starts when the provider hands it over and stops when the
transaction holding the `call.delta` that carries it has committed: the piece waits
to be sent with the next ones (`engine.run.coalescing`), then for its batch (the
recorder's interval), then for the write. A process killed at any moment loses at
most the pieces of the last such window.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from engine.bus import EventBus
from engine.events import EventBase
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderEvent, ProviderRequest
from engine.providers.simulated import SimulatedProvider
from engine.session import SessionSpec, run_session
from sessions.recorder import Recorder
from sessions.store import SessionStore
from tests.bench.report import Report

SPEED = 2.0
TASK = "Summarise the incident reports for the payments API"


class Timed(SimulatedProvider):
    """The simulated provider, noting when each piece of each call's reply is handed over."""

    def __init__(self) -> None:
        super().__init__(seed=1, speed=SPEED)
        self.pieces: dict[str, list[tuple[float, int]]] = defaultdict(list)
        """Per call key: when each piece came, and its length."""

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        loop = asyncio.get_running_loop()
        async for event in super().stream(request):
            if event.type in ("text", "tool_input"):
                text = event.text if event.type == "text" else event.partial_json  # type: ignore[union-attr]
                self.pieces[request.call_key].append((loop.time(), len(text)))
            yield event


async def measure(folder: Path) -> list[float]:
    """Seconds from each piece's arrival to its commit, for every piece of one session."""
    loop = asyncio.get_running_loop()
    store = await SessionStore.open(folder / "window.db")
    committed: dict[int, float] = {}
    write_batch = store.write_batch

    async def timed_write(batch: Any, *, now: bool = False) -> Any:
        commit = await write_batch(batch, now=now)
        seqs = [row[1] for row in batch.events]
        commit.add_done_callback(lambda _: committed.update(dict.fromkeys(seqs, loop.time())))
        return commit

    store.write_batch = timed_write  # type: ignore[method-assign]
    bus, deltas = EventBus(), []
    bus.listen(lambda event: deltas.append(event) if event.kind == "call.delta" else None)
    recorder = Recorder.attach(store, bus)
    recorder.start()
    provider = Timed()
    spec = SessionSpec(task=TASK, policy=ApprovalPolicy(default="approve"), seed=1)
    finished = await run_session(spec, provider, bus=bus)
    await recorder.finish()
    await store.close()
    assert finished.status == "completed", finished.reason
    return windows(provider.pieces, deltas, committed)


def windows(pieces: dict[str, list[tuple[float, int]]], deltas: list[EventBase], committed: dict[int, float]) -> list[float]:
    """Each piece's wait: the deltas of a call carry its pieces in order, each a run of them."""
    waits: list[float] = []
    left = {key: list(reversed(found)) for key, found in pieces.items()}
    for delta in deltas:
        size = len(delta.text)  # type: ignore[attr-defined]
        queue = left[delta.call_key]  # type: ignore[attr-defined]
        while size > 0:
            arrived, length = queue.pop()
            size -= length
            waits.append(committed[delta.seq] - arrived)
    assert not any(left.values()), "pieces no delta carried"
    return waits


def main() -> bool:
    report = Report()
    with tempfile.TemporaryDirectory() as folder:
        waits = asyncio.run(measure(Path(folder)))
    waits.sort()
    print(f"  one session at {SPEED:g}x the simulated pace: {len(waits)} pieces streamed and recorded")
    report.figure("median time from a piece's arrival to its commit", statistics.median(waits) * 1000, "ms")
    report.figure("  99th percentile", waits[int(len(waits) * 0.99)] * 1000, "ms")
    report.target("longest time a piece waited to be committed (what kill -9 loses)", waits[-1] * 1000, 100, unit="ms")
    return report.ok


if __name__ == "__main__":
    main()

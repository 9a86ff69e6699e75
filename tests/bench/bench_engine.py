"""Engine overhead: agent calls per second on a zero-latency simulated provider.

The baseline is the same provider streaming the same number of replies with no
engine around it (no events, budgets, retries or accounting), in the same run.
The engine case is a real orchestrator session: one lead planning a 1,000-step
fan-out to 1,000 workers, every step in parallel, then a synthesis.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from engine.agents import AgentSpec, TeamSpec
from engine.bus import EventBus
from engine.policy import ApprovalPolicy
from engine.providers.base import Message, ProviderRequest
from engine.providers.simulated import SimulatedProvider
from engine.session import SessionSpec, run_session
from tests.bench.report import Report

WORKERS = 1000
RUNS = 5
"""Runs of each, an odd number: the median is one of them."""
TASK = "Summarise the incident reports for the payments API"


def team(workers: int) -> TeamSpec:
    agents = [AgentSpec(name="lead", role="lead", model="claude-opus-5-5")]
    agents += [AgentSpec(name=f"worker-{i}", role="analyst") for i in range(workers)]
    return TeamSpec(name="bench", lead="lead", agents=tuple(agents))


async def engine_case(workers: int) -> tuple[float, int, int]:
    bus = EventBus()
    count = 0

    def on_event(_event: object) -> None:
        nonlocal count
        count += 1

    bus.listen(on_event)
    spec = SessionSpec(task=TASK, team=team(workers), policy=ApprovalPolicy(default="approve"), seed=1)
    started = time.perf_counter()
    finished = await run_session(spec, SimulatedProvider(seed=1, speed=0), bus=bus)
    elapsed = time.perf_counter() - started
    assert finished.status == "completed", finished.reason
    return elapsed, finished.calls, count


async def baseline_case(calls: int) -> float:
    provider = SimulatedProvider(seed=1, speed=0)
    requests = [
        ProviderRequest(
            model="claude-sonnet-5-5", system="You are an analyst.",
            messages=(Message("user", f"Subtask s{i}: Analyst: {TASK}"),),
            agent=f"worker-{i}", role="analyst", task=TASK, call_key=f"k{i}",
        )
        for i in range(calls)
    ]
    started = time.perf_counter()

    async def one(request: ProviderRequest) -> None:
        async for _ in provider.stream(request):
            pass

    await asyncio.gather(*(one(r) for r in requests))
    return time.perf_counter() - started


def main() -> bool:
    report = Report()
    runs = []
    for _ in range(RUNS):  # the engine and its baseline side by side, run after run
        elapsed, calls, events = asyncio.run(engine_case(WORKERS))
        raw = asyncio.run(baseline_case(calls))
        runs.append((calls / elapsed / (calls / raw), calls / elapsed, calls / raw))
    share, engine_rate, raw_rate = statistics.median(runs)
    report.figure(f"orchestrator fan-out to {WORKERS:,} workers: calls", calls)
    report.figure("  wall time", elapsed, "s")
    report.figure("  events emitted", events)
    report.figure("  engine calls per second", engine_rate, "calls/s")
    report.figure("baseline: bare provider streams, same number of calls", raw_rate, "calls/s")
    report.figure("  shares of the runs", min(r[0] for r in runs), f"to {max(r[0] for r in runs):.3f}")
    report.target(f"engine throughput as a share of the bare provider (median of {RUNS})", share, 0.3, at_most=False)
    return report.ok


if __name__ == "__main__":
    main()

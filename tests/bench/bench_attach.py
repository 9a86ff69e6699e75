"""Steering a session from elsewhere: how long a decision posted through the store takes to
reach the session, and how long a new event takes to reach an attached screen.

Decision latency: sessions run as another huddle would run them (a LiveSession recording
into the store, its escalation waiting for a person), each in this loop; a poster on a
connection of its own (as `huddle inbox` or `huddle attach` would be) finds the escalation,
posts a decision (`tui.posting.post_decision`), and the clock runs from the decision's
`decided_at` to its `settled_at`: the session took it. The issue's target is under a second,
so the ratio reported is the median latency over 1 s (target below 1). The baseline, in the
same run: the store's own part, a decision posted and settled directly with no session.

Following: a session streams at a realistic pace while a `Follower` on another connection
reads it; each event's latency runs from its `ts` (when the engine emitted it, before the
recorder's batch was even committed) to the moment the follower read it. The target for
an attached screen is 0.3 s from the commit: the ratio is the 95th percentile over 0.3 s.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from engine.approvals import Decision
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.decisions import Posted, decider
from sessions.store import SessionStore
from tests.bench.report import Report
from tui.following import Follower
from tui.posting import post_decision
from tui.recording import LiveSession

SESSIONS = 9
"""Decisions timed, one per session, an odd number: the median is one of them."""
DECISION_TARGET_S = 1.0
FOLLOW_TARGET_S = 0.3
FOLLOW_SPEED = 4.0
"""The followed session's simulated pace: 4x the default, about 200 tokens/s per agent."""
LOOK_S = 0.01


def session(store: SessionStore, policy: str, speed: float) -> LiveSession:
    return LiveSession(
        SessionSpec(task="Design a rate limiter", policy=ApprovalPolicy(default=policy), seed=3),
        SimulatedProvider(seed=3, speed=speed), EngineConfig(call_timeout=30), store=store,
    )


async def decision_case(path: Path) -> float:
    """Seconds from a decision posted for a waiting session to the session taking it."""
    async with await SessionStore.open(path) as running, await SessionStore.open(path) as poster:
        live = session(running, "ask", 0)
        task = asyncio.create_task(live.run())
        waiting = []
        while not waiting:
            waiting = [e for row, e in await poster.waiting_escalations() if row.id == live.session_id]
            await asyncio.sleep(LOOK_S)
        outcome = await post_decision(poster, live.session_id, waiting[0].escalation_id, Decision("approve"), by=decider("bench"))
        posted = await poster.posted(live.session_id, waiting[0].escalation_id)
        live.gate.policy = ApprovalPolicy(default="approve")  # what follows is not timed
        await asyncio.wait_for(task, 60)
    assert outcome.ok and posted is not None and posted.settled_at is not None, outcome
    return posted.settled_at - posted.decided_at


async def baseline_case(path: Path) -> float:
    """Seconds for the store alone: a decision posted, then settled, with no session looking."""
    async with await SessionStore.open(path) as store:
        started = time.time()
        await store.post_decision(Posted("baseline", f"e{started}", "approve", None, None, None, "once", "bench", started))
        await store.settle_decision("baseline", f"e{started}", "taken")
        posted = await store.posted("baseline", f"e{started}")
    assert posted is not None and posted.settled_at is not None
    return posted.settled_at - posted.decided_at


async def follow_case(path: Path) -> tuple[list[float], int]:
    """Each event's seconds from emitted to read by a follower on another connection; pages read."""
    async with await SessionStore.open(path) as running, await SessionStore.open(path) as reader:
        live = session(running, "approve", FOLLOW_SPEED)
        task = asyncio.create_task(live.run())
        while not await reader.count_sessions():
            await asyncio.sleep(LOOK_S)
        row = (await reader.list_sessions(limit=1))[0]
        follower = Follower(reader, row.id)
        latencies, pages = [], 0
        async for page in follower.pages():
            now = time.time()
            pages += 1
            if follower.was_live:  # caught up: from here on, what came as it happened
                latencies += [now - event.ts for event in page]
        await asyncio.wait_for(task, 60)
    assert follower.ended is not None and follower.ended.status == "completed"
    return latencies, pages


def main() -> bool:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
        path = Path(scratch) / "attach.db"
        latencies = [asyncio.run(decision_case(path)) for _ in range(SESSIONS)]
        baseline = statistics.median(asyncio.run(baseline_case(path)) for _ in range(SESSIONS))
        median = statistics.median(latencies)
        report.figure(f"decision posted -> taken by the session, median of {SESSIONS}", median * 1000, "ms")
        report.figure("  best and worst", min(latencies) * 1000, f"ms / {max(latencies) * 1000:.0f} ms")
        report.figure("baseline: posted and settled in the store, no session", baseline * 1000, "ms")
        report.target(f"decision latency as a share of the {DECISION_TARGET_S:g} s target", median / DECISION_TARGET_S, 1.0)

        follow, pages = asyncio.run(follow_case(Path(scratch) / "follow.db"))
        p95 = statistics.quantiles(follow, n=20)[-1]
        report.figure(f"events followed as they came ({pages} pages read)", len(follow))
        report.figure("event emitted -> read by an attached screen, median", statistics.median(follow) * 1000, "ms")
        report.figure("  95th percentile and worst", p95 * 1000, f"ms / {max(follow) * 1000:.0f} ms")
        report.target(f"follow latency (95th percentile) as a share of the {FOLLOW_TARGET_S:g} s target",
                      p95 / FOLLOW_TARGET_S, 1.0)
    return report.ok


if __name__ == "__main__":
    main()

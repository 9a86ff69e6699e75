"""Fixed sessions for snapshot tests: the same events, byte for byte, on every run."""

from __future__ import annotations

import asyncio
from functools import cache
from unittest.mock import patch

from engine.bus import EventBus
from engine.events import EventBase
from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.run import coalescing
from engine.session import EngineConfig, SessionSpec, run_session
from tests.helpers import FAST_RETRY
from tests.tui.helpers import TASK, fake_clock


@cache
def recorded_session() -> tuple[EventBase, ...]:
    """A whole orchestrator session with a retry in it, on a clock that ticks per event,
    each piece of a reply its own delta, as from a model that takes its time (with none,
    its pieces would go as one: `engine.run.coalescing`)."""

    async def record() -> list[EventBase]:
        bus = EventBus()
        events: list[EventBase] = []
        bus.listen(events.append)
        spec = SessionSpec(task=TASK, seed=3, policy=ApprovalPolicy(default="approve"))
        provider = SimulatedProvider(seed=3, speed=0, faults=parse_faults("rate_limit:0.3"), retry_after=0)
        config = EngineConfig(retry=FAST_RETRY, clock=fake_clock(step=0.05))
        await run_session(spec, provider, bus=bus, config=config, session_id="5e55100a1b2c")
        return events

    with patch.object(coalescing, "DELTA_EVERY", 0.0):
        return tuple(asyncio.run(record()))


def mid_run() -> list[EventBase]:
    """The session partway: research done, the coder streaming its implementation."""
    events = recorded_session()
    cut = next(
        i for i, e in enumerate(events)
        if e.kind == "call.delta" and e.agent == "coder" and e.span_id.endswith("step:s3")
    )
    return list(events[: cut + 40])

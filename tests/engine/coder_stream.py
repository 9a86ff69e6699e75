"""A coder whose reply streams as fast as it can, and a session cancelled in the middle of
it: what the streaming tests share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from engine.events import EventBase, Usage
from engine.providers.base import ProviderError, ProviderEvent, ProviderRequest, Stop, TextDelta, ToolInputDelta, UsageReport
from tests.helpers import orchestrated, plan_of, run

ONE_STEP = plan_of(("s1", "coder", []))
WAIT_S = 5.0
"""How long the provider below waits for the test to see its pieces before it gives up."""


@dataclass
class Coder:
    """The lead plans one step; the coder streams `pieces` words with no pause, then
    (when `seen` is given) waits until the test has seen them on the bus before it
    streams `after` words more, then fails if `fail`."""

    pieces: int = 200
    after: int = 0
    seen: asyncio.Event | None = None
    fail: bool = False
    victim: asyncio.Task | None = None
    """A task to cancel right after the first `pieces` (held, most of them): the session's."""
    name: str = "coder-stream"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        if request.agent != "coder":
            reply = orchestrated(ONE_STEP)(request)
            yield UsageReport(Usage(input_tokens=100, output_tokens=10))
            yield TextDelta(reply) if isinstance(reply, str) else ToolInputDelta(json.dumps(reply))
            yield Stop("end_turn")
            return
        yield UsageReport(Usage(input_tokens=1_000))
        for index in range(self.pieces):
            yield TextDelta(f"w{index} ")
        if self.victim is not None:
            self.victim.cancel()
            await asyncio.sleep(3600)  # cancelled here
        if self.seen is not None:
            await asyncio.wait_for(self.seen.wait(), WAIT_S)  # not seen: the pieces were held back
            self.seen = None
        for index in range(self.after):
            yield TextDelta(f"v{index} ")
        if self.fail:
            raise ProviderError("stream_error", "stream broke off", retryable=False)
        yield UsageReport(Usage(input_tokens=1_000, output_tokens=self.pieces + self.after))
        yield Stop("end_turn")


async def cancelled_mid_reply(pieces: int) -> list[EventBase]:
    """The events of a session cancelled once the coder has streamed `pieces` words."""
    events: list[EventBase] = []
    coder = Coder(pieces=pieces)
    session = coder.victim = asyncio.create_task(run(coder, on_event=events.append))
    try:
        await session
    except asyncio.CancelledError:
        pass
    return events

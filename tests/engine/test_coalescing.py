"""A call's streamed text goes out as a few `call.delta` events, not one per chunk, and
none of it waits long or is lost, however the attempt ends."""

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


def coder_deltas(events: list[EventBase]) -> list[EventBase]:
    return [e for e in events if e.kind == "call.delta" and e.agent == "coder"]


async def test_a_reply_streamed_all_at_once_is_a_few_deltas_holding_all_of_it_in_order():
    ran = await run(Coder(pieces=200))
    deltas = coder_deltas(ran.events)
    finished = next(e for e in ran.events if e.kind == "call.finished" and e.agent == "coder")
    assert 1 <= len(deltas) <= 3  # the first piece at once, the rest together
    assert deltas[0].text == "w0 "
    assert "".join(d.text for d in deltas) == finished.text == "".join(f"w{i} " for i in range(200))
    seqs = [e.seq for e in ran.events]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_pieces_are_sent_when_the_stream_goes_quiet_not_when_it_goes_on():
    seen = asyncio.Event()
    coder = Coder(pieces=50, after=10, seen=seen)
    texts: list[str] = []

    def watch(event: EventBase) -> None:
        if event.kind == "call.delta" and event.agent == "coder":
            texts.append(event.text)
            if "w49 " in "".join(texts):
                seen.set()

    ran = await run(coder, on_event=watch)
    assert ran.finished.status == "completed"  # the provider saw its pieces go out while it waited
    assert "".join(d.text for d in coder_deltas(ran.events)).endswith("v9 ")


async def test_what_came_before_a_failure_is_sent_before_the_failure():
    ran = await run(Coder(pieces=30, fail=True))
    failed = next(e for e in ran.events if e.kind == "call.failed" and e.agent == "coder")
    before = [d for d in coder_deltas(ran.events) if d.seq < failed.seq]
    assert "".join(d.text for d in before) == "".join(f"w{i} " for i in range(30))


async def test_a_cancelled_call_sends_what_it_had_received():
    events: list[EventBase] = []
    coder = Coder(pieces=40)
    session = coder.victim = asyncio.create_task(run(coder, on_event=events.append))
    try:
        await session
    except asyncio.CancelledError:
        pass
    assert "".join(d.text for d in coder_deltas(events)) == "".join(f"w{i} " for i in range(40))
    assert events[-1].kind == "session.finished" and events[-1].status == "cancelled"

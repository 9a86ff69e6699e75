"""A call's streamed text goes out as a few `call.delta` events, not one per chunk, and
none of it waits long or is lost, however the attempt ends."""

from __future__ import annotations

import asyncio

from engine.events import EventBase
from tests.engine.coder_stream import Coder, cancelled_mid_reply
from tests.helpers import run


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
    events = await cancelled_mid_reply(40)
    assert "".join(d.text for d in coder_deltas(events)) == "".join(f"w{i} " for i in range(40))
    assert events[-1].kind == "session.finished" and events[-1].status == "cancelled"

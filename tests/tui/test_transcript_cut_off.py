"""The transcript (headless runs, `sessions show`) of a call the session's end cut off."""

from __future__ import annotations

import asyncio

from engine.events import EventBase
from tests.engine.test_coalescing import Coder
from tests.helpers import run
from tui.transcript import Transcript


async def test_the_transcript_says_a_cut_off_call_was_cut_off_with_what_it_used():
    events: list[EventBase] = []
    coder = Coder(pieces=40)
    session = coder.victim = asyncio.create_task(run(coder, on_event=events.append))
    try:
        await session
    except asyncio.CancelledError:
        pass
    printed: list[str] = []
    transcript = Transcript(printed.append)
    for event in events:
        transcript.feed(event)
    text = "\n".join(printed)
    assert "coder call failed: stopped mid-reply: the session ended" in text
    assert "1,000 in / 38 out" in text and "(cut off)" in text and "failed attempt" not in text

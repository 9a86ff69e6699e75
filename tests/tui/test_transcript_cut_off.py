"""The transcript (headless runs, `sessions show`) of a call the session's end cut off."""

from __future__ import annotations

from tests.engine.coder_stream import cancelled_mid_reply
from tui.transcript import Transcript


async def test_the_transcript_says_a_cut_off_call_was_cut_off_with_what_it_used():
    events = await cancelled_mid_reply(40)
    printed: list[str] = []
    transcript = Transcript(printed.append)
    for event in events:
        transcript.feed(event)
    text = "\n".join(printed)
    assert "coder call failed: stopped mid-reply: the session ended" in text
    assert "1,000 in / 38 out" in text and "(cut off)" in text and "failed attempt" not in text

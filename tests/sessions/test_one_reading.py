"""Every reader of a session reads it the same way: the screen, the transcript, the
Markdown export and the stored row fold one reducer and tell one narrator's lines."""

from __future__ import annotations

import re

from engine.narration import narrate
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.state import SessionState
from sessions.export import MarkdownExport, write_markdown
from sessions.store import SessionStore
from tests.sessions.helpers import every_kind, record
from tui.safe import safe
from tui.transcript import Transcript
from tui.view import SessionView


async def test_a_number_shown_in_four_places_is_the_same_number(store: SessionStore) -> None:
    faults = parse_faults("rate_limit:0.4,mid_stream:0.3")
    ran = await record(store, SimulatedProvider(seed=5, speed=0, faults=faults, retry_after=0))
    session_id = ran.finished.session_id
    row = await store.get_session(session_id)
    events = [event async for event in store.iter_events(session_id)]

    view = SessionView()
    view.apply_all(events)
    printed: list[str] = []
    transcript = Transcript(printed.append)
    for event in events:
        transcript.feed(event)
    chunks: list[str] = []
    await write_markdown(row, store.iter_events(session_id), chunks.append, gate=safe)
    document = "".join(chunks)

    tokens_in = ran.finished.usage.tokens_in
    assert row.tokens_in == view.totals.tokens_in == transcript.state.totals.tokens_in == tokens_in
    assert sum(agent.totals[0] for agent in view.agents.values()) == tokens_in  # the panels add up to it
    assert f"{tokens_in:,} tokens in / " in "".join(printed)
    assert re.search(rf"\| \*\*total\*\* \| {row.calls} \| {tokens_in:,} \| {row.tokens_out:,} \|", document)
    assert f"| Tokens | {tokens_in:,} in / {row.tokens_out:,} out |" in document


async def test_the_timeline_transcript_and_export_tell_the_same_lines() -> None:
    events = await every_kind()
    state, view = SessionState(), SessionView(timeline_limit=None)
    printed: list[str] = []
    transcript = Transcript(printed.append)
    told: list[str] = []
    for event in events:
        event = safe(event)
        state.apply(event)
        line = narrate(state, event)
        view.apply(event)
        transcript.feed(event)
        if line is not None:
            told.append(line.text)
    assert len(told) > 20
    assert [entry.text for entry in view.timeline] == told
    text = "".join(printed)
    for words in told[1:-1]:  # the transcript heads with the team and ends with the result instead
        assert words in text, words


async def test_every_kind_of_event_goes_into_the_document(store: SessionStore) -> None:
    events = await every_kind()
    await record(store)  # any row will do for the header
    row = (await store.list_sessions())[0]
    document = MarkdownExport(safe(row))
    for event in events:
        document.feed(safe(event))
    text = document.render()
    for section in ("## Plan", "## Work", "## Escalations", "## Errors and retries", "## Result", "## Usage"):
        assert section in text, section
    assert "handoff coder → reviewer" in text and "search → " in text

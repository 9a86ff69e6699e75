"""Events are stored whole: every kind comes back equal, in order, a page at a time."""

from __future__ import annotations

import json

import pytest

from engine.events import EVENT_ADAPTER, EVENT_KINDS, CallDelta, event_to_json
from engine.providers.simulated import SimulatedProvider
from sessions.export import write_json
from sessions.store import SessionStore
from tests.helpers import run
from tests.sessions.helpers import every_kind, publish, raw, record


async def test_every_kind_round_trips_whole(store: SessionStore) -> None:
    events = await every_kind()
    assert {event.kind for event in events} == set(EVENT_KINDS)

    await publish(store, events)

    loaded = await store.load_events("allkinds0001", limit=10_000)
    assert loaded == events
    assert [type(e) for e in loaded] == [type(e) for e in events]
    # The stored text is the event's own JSON, and the filter columns agree with it.
    rows = await raw(store, "SELECT seq, ts, kind, agent, data FROM events ORDER BY seq")
    assert [row[4] for row in rows] == [event_to_json(e) for e in events]
    assert [(row[0], row[1], row[2], row[3]) for row in rows] == [(e.seq, e.ts, e.kind, e.agent) for e in events]


async def test_json_export_is_lossless(store: SessionStore) -> None:
    events = await every_kind()
    await publish(store, events)
    row = await store.get_session("allkinds0001")
    chunks: list[str] = []

    await write_json(row, store.iter_event_json(row.id), chunks.append)

    exported = json.loads("".join(chunks))
    assert exported["session"] == json.loads(json.dumps(row.to_json()))
    assert [EVENT_ADAPTER.validate_python(e) for e in exported["events"]] == events
    assert all(ord(c) < 128 for c in "".join(chunks))  # escaped, so safe on any terminal


async def test_events_load_in_pages_by_seq(store: SessionStore) -> None:
    session = (await run(SimulatedProvider(seed=1, speed=0))).events
    session_id = session[0].session_id
    # Pad the session with deltas to several pages' worth.
    extra = [
        CallDelta(session_id=session_id, seq=len(session) + i, ts=2e9 + i, call_key="k", attempt=1, text=f"d{i}")
        for i in range(1, 2301)
    ]
    everything = session + extra
    await publish(store, everything)

    first = await store.load_events(session_id, limit=1000)
    second = await store.load_events(session_id, after_seq=first[-1].seq, limit=1000)
    assert [e.seq for e in first] == list(range(1, 1001))
    assert [e.seq for e in second] == list(range(1001, 2001))
    assert first + second == everything[:2000]
    assert await store.load_events(session_id, after_seq=len(everything)) == []

    streamed = [event async for event in store.iter_events(session_id, page=300)]
    assert streamed == everything
    stored = [text async for text in store.iter_event_json(session_id, page=300)]
    assert stored == [event_to_json(event) for event in everything]
    assert await store.event_count(session_id) == len(everything)
    assert (await store.get_session(session_id)).last_seq == len(everything)


@pytest.mark.sqlite_only  # SQLite's trace callback shows the statement run
async def test_loading_a_page_reads_only_that_page(store: SessionStore) -> None:
    session = (await record(store)).events
    statements: list[str] = []
    await store._db.set_trace_callback(statements.append)

    await store.load_events(session[0].session_id, after_seq=100, limit=50)

    await store._db.set_trace_callback(None)
    [query] = [s for s in statements if "FROM events" in s]
    assert "seq > 100" in query and "LIMIT 50" in query

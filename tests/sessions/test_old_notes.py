"""A session recorded before pattern notes were typed (event version 1) still loads: its
notes come back typed when their data fits, as they were when it does not."""

from __future__ import annotations

from engine.notes import GenericNote, RoundNote
from sessions.store import SessionStore
from tests.sessions.helpers import raw, record


async def test_a_stored_version_1_session_loads_with_its_notes_typed(store: SessionStore) -> None:
    recorded = await record(store)
    session = recorded.finished.session_id
    fits = (
        '{"v":1,"session_id":"%s","seq":3,"ts":1800000000.5,"span_id":"root/round:1","parent_span_id":"root",'
        '"agent":"moderator","kind":"pattern.note","topic":"round","text":"round 1: consensus (agreement 90%%)",'
        '"data":{"round":1,"consensus":true,"agreement":0.9,"open_points":[],"summary":"agreed",'
        '"speakers":["security","sre"]}}' % session
    )
    does_not = (
        '{"v":1,"session_id":"%s","seq":4,"ts":1800000000.75,"span_id":"root","parent_span_id":null,'
        '"agent":null,"kind":"pattern.note","topic":"scores","text":"a scored 0.1","data":{"a":0.1}}' % session
    )
    await raw(
        store, "UPDATE events SET kind = 'pattern.note', data = ? WHERE session_id = ? AND seq = ?",
        (fits, session, 3), (does_not, session, 4),
    )

    events = await store.load_events(session)
    assert len(events) == len(recorded.events)
    round_note, generic = events[2], events[3]
    assert isinstance(round_note, RoundNote) and round_note.consensus and round_note.speakers == ["security", "sre"]
    assert round_note.text == "round 1: consensus (agreement 90%)" and round_note.agent == "moderator"
    assert isinstance(generic, GenericNote) and (generic.topic, generic.text, generic.data) == (
        "scores", "a scored 0.1", {"a": 0.1})

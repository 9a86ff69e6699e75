"""The event contract: one discriminated union, frozen, lossless as JSON, gap-free seq."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.events import EVENT_ADAPTER, EVENT_KINDS, CallDelta, event_from_json, event_to_json
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import run


async def test_a_session_round_trips_through_json_and_seq_has_no_gaps():
    ran = await run(SimulatedProvider(seed=3, speed=0, faults=parse_faults("mid_stream:0.3"), retry_after=0))
    assert [e.seq for e in ran.events] == list(range(1, len(ran.events) + 1))
    assert ran.events[0].kind == "session.started" and ran.events[-1].kind == "session.finished"
    for event in ran.events:
        assert event_from_json(event_to_json(event)) == event


def test_every_kind_is_in_the_union():
    assert len(EVENT_KINDS) == len(set(EVENT_KINDS)) >= 19
    for kind in EVENT_KINDS:
        with pytest.raises(ValidationError) as error:
            EVENT_ADAPTER.validate_python({"kind": kind})
        assert "union_tag_invalid" not in str(error.value)


def test_events_are_frozen_and_strict():
    delta = CallDelta(session_id="s", seq=1, ts=0.0, call_key="k", attempt=1, text="x")
    with pytest.raises(ValidationError):
        delta.text = "y"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python({"kind": "call.delta", "session_id": "s", "seq": 1, "ts": 0, "call_key": "k", "attempt": 1, "text": "x", "surprise": 1})
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_python({"kind": "no.such.kind"})


async def test_call_keys_are_deterministic_and_recorded_with_full_replies():
    a = await run(SimulatedProvider(seed=1, speed=0))
    b = await run(SimulatedProvider(seed=1, speed=0))
    keys = [e.call_key for e in a.of("call.finished")]
    assert keys == [e.call_key for e in b.of("call.finished")]
    assert len(set(keys)) == len(keys)
    assert "root/plan#lead#1" in keys and "root/synthesis#lead#1" in keys
    for finished in a.of("call.finished"):
        streamed = "".join(d.text for d in a.of("call.delta") if d.call_key == finished.call_key and d.attempt == finished.attempt)
        assert finished.text == streamed

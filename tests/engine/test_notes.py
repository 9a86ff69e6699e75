"""Typed pattern notes: one kind each in the event union, and sessions recorded before
notes were typed (event version 1), read back as typed notes when their data fits."""

from __future__ import annotations

import ast
import inspect
import json

import pytest
from pydantic import TypeAdapter

from engine import notes
from engine.events import EVENT_TYPES, EVENT_VERSION, Event, event_from_json, event_to_json
from engine.notes import (
    TYPED_NOTES,
    BoardKey,
    BoardNote,
    GenericNote,
    LotTitle,
    MeshStopNote,
    PatternNote,
    RequestNote,
    RouteNote,
    StageNote,
    WriteNote,
)
from engine.providers.simulated import SimulatedProvider
from tests.helpers import fields_of, run

ROUTE_V1 = (
    '{"v":1,"session_id":"a1b2c3d4e5f6","seq":7,"ts":1800000000.5,"span_id":"root/route","parent_span_id":"root",'
    '"agent":"router","kind":"pattern.note","topic":"route","text":"→ billing (90%): it is about an invoice",'
    '"data":{"specialist":"billing","reason":"it is about an invoice","confidence":0.9,"outcome":"routed",'
    '"handled_by":"billing","cause":null}}'
)


def v1(topic: str, data: dict, agent: str | None = "peer", text: str = "what it said") -> str:
    """A version 1 note record as the recorder wrote it."""
    return json.dumps({
        "v": 1, "session_id": "a1b2c3d4e5f6", "seq": 3, "ts": 1800000000.25, "span_id": "root/x",
        "parent_span_id": "root", "agent": agent, "kind": "pattern.note", "topic": topic, "text": text, "data": data,
    })


V1_DATA: dict[str, tuple[str, dict]] = {
    "route": ("router", {"specialist": None, "reason": None, "confidence": None, "outcome": "fallback",
                         "handled_by": "general", "cause": "router_failed"}),
    "pipeline": ("peer", {"stages": ["researcher", "writer"], "include_original": True,
                          "contracts": {"researcher": "ResearchNotes"}, "fallbacks": {}}),
    "stage": ("senior", {"stage": "researcher", "agent": "senior", "index": 1, "of": 2, "status": "done",
                         "contract": "ResearchNotes", "verdict": "accepted", "error": None}),
    "fanout": ("peer", {"mode": "chunks", "chunks": 3, "concurrency": 2, "workers": ["a", "b"], "synthesizer": "s"}),
    "chunk": ("peer", {"index": 2, "of": 3, "agent": "peer", "title": "part two", "status": "error", "error": "boom"}),
    "synthesis": ("peer", {"synthesizer": "peer", "inputs": 2, "missing": [2]}),
    "round": ("peer", {"round": 1, "consensus": False, "agreement": None, "open_points": [], "summary": "",
                       "speakers": ["a"], "error": "overloaded"}),
    "absent": ("peer", {"round": 2, "agent": "peer", "error": "invalid API key"}),
    "discussion": ("peer", {"stopped": "round_limit", "rounds": 3}),
    "review": ("peer", {"revision": 1, "approved": False, "issues": ["x"], "summary": "no", "confidence": 0.8}),
    "outcome": ("peer", {"status": "best_effort", "revisions": 2, "approved": False}),
    "lots": ("peer", {"lots": [{"lot": 1, "title": "Research"}], "source": "auctioneer"}),
    "bid": ("peer", {"lot": 1, "agent": "peer", "willing": True, "capability": 0.8, "cost": 0.4, "score": 0.5,
                     "valid": True, "reason": None}),
    "award": ("peer", {"lot": 1, "title": "Research", "winner": "peer", "score": 0.5, "via": "bid", "reason": None}),
    "team": ("peer", {"team": "eng", "pattern": "orchestrator", "depth": 1, "path": ["eng"], "step": "s2",
                      "status": "failed", "error": "team eng: plan rejected"}),
    "request": ("peer", {"from": "peer", "to": "dba", "capability": "databases", "hop": 1, "question": "Which?"}),
    "decline": ("peer", {"peer": "peer", "requester": "architect", "capability": "security", "active": 1}),
    "write": ("peer", {"key": "facts", "writer": "peer", "version": 1, "ts": 1800000000.1, "preview": "Facts…",
                       "conflict": False, "cycle": 1}),
    "conflict": (None, {"key": "options", "writers": ["a", "b"], "resolution": "priority", "winner": "b",
                        "losers": ["a"]}),
    "board": (None, {"cycle": 2, "keys": {"facts": {"writer": "peer", "version": 1, "ts": 1800000000.1}}}),
    "stall": (None, {"cycle": 2, "missing": ["facts"], "waiting": {"a": ["facts"]}, "failed": {"b": "boom"}}),
}


def test_every_typed_note_is_a_kind_of_its_own_in_the_union():
    kinds = [note.model_fields["kind"].default for note in TYPED_NOTES]
    assert len(kinds) == len(set(kinds)) and all(kind.startswith("pattern.") for kind in kinds)
    assert set(TYPED_NOTES) | {GenericNote} == {kind for kind in EVENT_TYPES if issubclass(kind, PatternNote)}

    # Each field says what it holds, in the docstring under it (read from the source: pydantic
    # would read them at every import, which costs more than all the note classes together).
    classes = {note.__name__ for note in (*TYPED_NOTES, GenericNote, LotTitle, BoardKey)}
    undocumented = []
    for node in ast.parse(inspect.getsource(notes)).body:
        if isinstance(node, ast.ClassDef) and node.name in classes:
            classes.discard(node.name)
            for field, after in zip(node.body, [*node.body[1:], None]):
                documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                if isinstance(field, ast.AnnAssign) and field.target.id != "kind" and not documented:  # type: ignore[union-attr]
                    undocumented.append(f"{node.name}.{field.target.id}")  # type: ignore[union-attr]
    assert classes == set() and undocumented == []


def test_a_note_is_written_and_read_back_as_its_kind_in_the_current_version():
    note = RouteNote(session_id="s", seq=1, ts=1.0, agent="router", text="→ data", specialist="data", reason="sql",
                     confidence=0.9, outcome="routed", handled_by="data")
    read = event_from_json(event_to_json(note))
    assert read == note and type(read) is RouteNote and read.v == EVENT_VERSION == 2
    assert read.topic == "route"
    assert MeshStopNote.model_fields["kind"].default.endswith(".stop")  # "stop", like the board's
    assert RequestNote(session_id="s", seq=1, ts=1.0, text="t", from_agent="a", to_agent="b", capability="c", hop=1,
                       question="q").topic == "request"


def test_an_old_route_note_reads_as_a_route_note():
    note = event_from_json(ROUTE_V1)
    assert type(note) is RouteNote and note.v == EVENT_VERSION
    assert (note.specialist, note.confidence, note.outcome, note.handled_by, note.cause) == (
        "billing", 0.9, "routed", "billing", None)
    assert (note.seq, note.ts, note.span_id, note.agent, note.text) == (
        7, 1800000000.5, "root/route", "router", "→ billing (90%): it is about an invoice")


@pytest.mark.parametrize("topic", sorted(V1_DATA))
def test_every_old_topic_whose_data_fits_reads_as_its_typed_kind(topic):
    agent, data = V1_DATA[topic]
    note = event_from_json(v1(topic, data, agent))
    assert isinstance(note, PatternNote) and not isinstance(note, GenericNote), note
    assert note.topic == topic and note.text == "what it said" and note.agent == agent
    renamed = {"agent": "by", "from": "from_agent", "to": "to_agent", "ts": "value_ts"}
    fields = fields_of(note)
    for key, value in data.items():
        if key == "agent" and topic != "stage":
            continue  # the note's own agent
        assert fields[renamed.get(key, key) if key not in fields else key] == value


def test_old_notes_with_keys_named_otherwise_keep_their_values():
    stage = event_from_json(v1("stage", V1_DATA["stage"][1], "senior"))
    assert isinstance(stage, StageNote) and stage.by == "senior" and stage.stage == "researcher"
    request = event_from_json(v1("request", V1_DATA["request"][1]))
    assert isinstance(request, RequestNote) and (request.from_agent, request.to_agent) == ("peer", "dba")
    write = event_from_json(v1("write", V1_DATA["write"][1]))
    assert isinstance(write, WriteNote) and write.value_ts == 1800000000.1 and write.ts == 1800000000.25
    board = event_from_json(v1("board", V1_DATA["board"][1], None))
    assert isinstance(board, BoardNote) and board.keys["facts"].writer == "peer"


def test_the_two_stops_are_told_apart_by_their_data():
    mesh = event_from_json(v1("stop", {"reason": "no_peer", "requester": "a", "chain": ["a"], "capability": "x"}))
    board = event_from_json(v1("stop", {"reason": "max_cycles", "cycles": 8, "goal": "recommendation"}, None))
    assert mesh.kind == "pattern.mesh.stop" and board.kind == "pattern.board.stop"


@pytest.mark.parametrize(
    "record",
    [
        v1("route", {**V1_DATA["route"][1], "surprise": 1}, "router"),  # a key too many
        v1("route", {"specialist": "billing"}, "router"),  # keys missing
        v1("round", {**V1_DATA["round"][1], "round": "first"}),  # a value of the wrong type
        v1("scores", {"a": 0.1}),  # a topic no pattern writes any more
        v1("chunk", {**V1_DATA["chunk"][1], "agent": "someone else"}),  # an agent that is not the note's
    ],
)
def test_an_old_note_that_fits_no_kind_is_kept_as_it_was(record):
    note = event_from_json(record)
    old = json.loads(record)
    assert type(note) is GenericNote
    assert (note.topic, note.text, note.data, note.v) == (old["topic"], old["text"], old["data"], 1)
    assert event_from_json(event_to_json(note)) == note  # and it stays so


def test_old_records_are_upgraded_on_the_list_path_the_store_reads_by():
    events = TypeAdapter(list[Event]).validate_json(f"[{ROUTE_V1},{v1('scores', {'a': 1})}]")
    assert [type(e) for e in events] == [RouteNote, GenericNote]


async def test_reading_events_other_than_old_notes_never_tries_an_upgrade(monkeypatch):
    ran = await run(SimulatedProvider(seed=1, speed=0), pattern="routing")
    records = [event_to_json(event) for event in ran.events]
    assert any('"kind":"pattern.route"' in record for record in records)

    class Tried(Exception):
        """Raised by the upgrade, which pydantic does not turn into a validation error."""

    def refuse(record):
        raise Tried(record)

    monkeypatch.setattr(notes, "upgrade", refuse)
    assert [event_from_json(record) for record in records] == ran.events
    assert TypeAdapter(list[Event]).validate_json(f"[{','.join(records)}]") == ran.events
    with pytest.raises(Tried):
        event_from_json(ROUTE_V1)  # the hook is the one old notes go through

"""The published event schema (docs/events.schema.json, docs/events.md) is the one the
event models make now, and it describes the events huddle writes."""

from __future__ import annotations

import json

import jsonschema
import pytest

from engine.event_schema import COMMAND, DOCS, FILES, GUIDE_FILE, SCHEMA_FILE, field_docs, guide, main, schema
from engine.events import EVENT_KINDS, EVENT_TYPES, SessionFinished, event_to_json
from engine.providers.simulated import SimulatedProvider
from tests.helpers import run


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_file_in_docs_is_what_the_event_models_make(name: str) -> None:
    path = DOCS / name
    written = path.read_text(encoding="utf-8") if path.exists() else ""
    assert written == FILES[name](), (
        f"docs/{name} is not what the event models make now: run `.venv/bin/{COMMAND}` and commit docs/"
    )


def test_the_schema_is_valid_json_schema_with_one_kind_per_event() -> None:
    made = schema()
    jsonschema.Draft202012Validator.check_schema(made)
    assert made["discriminator"]["propertyName"] == "kind"
    kinds = {made["$defs"][ref["$ref"].rsplit("/", 1)[1]]["properties"]["kind"]["const"] for ref in made["oneOf"]}
    assert kinds == set(EVENT_KINDS)
    finished = made["$defs"]["SessionFinished"]["properties"]
    assert finished["partial"]["description"].startswith("True when the result was built")  # a field's docstring
    assert finished["seq"]["description"].startswith("Its place in the session")  # inherited from EventBase


def test_the_guide_has_a_section_for_every_kind_and_every_field() -> None:
    text = guide()
    for cls in EVENT_TYPES:
        section = text.split(f"\n### `{cls.model_fields['kind'].default}`\n", 1)[1].split("\n### ", 1)[0]
        written = {info.alias or name for name, info in cls.model_fields.items()}  # a note's recorded_topic is "topic"
        for name in written - {"v", "session_id", "seq", "ts", "span_id", "parent_span_id", "agent", "kind"}:
            assert f"| `{name}` |" in section, (cls.__name__, name)
    assert "| `topic` | string | The topic it was recorded under" in text
    assert "## Fields every event has" in text and "| `seq` | integer |" in text
    assert "[Usage](#usage)" in text and "\n### Usage\n" in text  # nested shapes are linked to their section


def test_field_docs_reads_the_docstring_under_each_field() -> None:
    docs = field_docs(SessionFinished)
    assert docs["cost"] == "What the calls with a price cost (see `unpriced`)."
    assert docs["ts"] == "Seconds since the epoch."
    assert "status" not in docs  # a field without one


async def test_every_event_of_a_session_is_valid_under_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads((DOCS / SCHEMA_FILE).read_text(encoding="utf-8")))
    ran = await run(SimulatedProvider(seed=1, speed=0))
    for event in ran.events:
        errors = [error.message[:200] for error in validator.iter_errors(json.loads(event_to_json(event)))]
        assert errors == [], event.kind
    broken = json.loads(event_to_json(ran.finished)) | {"status": "finished-ish"}
    assert not validator.is_valid(broken)


def test_main_writes_both_files(tmp_path) -> None:
    assert main([str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / SCHEMA_FILE).read_text(encoding="utf-8") == json.dumps(schema(), indent=2) + "\n"
    assert (tmp_path / "out" / GUIDE_FILE).read_text(encoding="utf-8") == guide()

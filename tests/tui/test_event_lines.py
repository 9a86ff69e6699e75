"""`--json`'s lines: one flushed line per event, in the export's form, plain ASCII, that
reads back as the same value and is valid under the published schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from engine.event_schema import DOCS, SCHEMA_FILE
from engine.events import EVENT_TYPES, event_to_json
from sessions.export import ascii_json
from tests.hostile import WELL_FORMED, hostile
from tui.event_lines import EventLines


class Recording:
    """A stream that keeps what is written, and each flush as "<flush>"."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, text: str) -> None:
        self.calls.append(text)

    def flush(self) -> None:
        self.calls.append("<flush>")


VALIDATOR = jsonschema.Draft202012Validator(json.loads((DOCS / SCHEMA_FILE).read_text(encoding="utf-8")))
READABLE = WELL_FORMED
"""The hostile corpus but its lone surrogate, which the engine's gates turn into U+FFFD
before any event holds it."""


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.model_fields["kind"].default)
def test_each_kind_is_one_ascii_line_that_reads_back_as_the_same_value(cls) -> None:
    event = hostile(cls, READABLE)
    stream = Recording()
    EventLines(stream).feed(event)
    line, flushed = stream.calls
    assert flushed == "<flush>" and line.endswith("\n") and line.count("\n") == 1
    assert line.isascii() and not any(c < " " or c == "\x7f" for c in line[:-1])
    assert line == ascii_json(event_to_json(event)) + "\n"  # the export's form of the event
    assert json.loads(line) == json.loads(event_to_json(event)) == event.model_dump(mode="json", by_alias=True)
    assert "HIDDEN rm -rf ~" in json.loads(line)["session_id"]  # the text kept, its controls escaped
    assert list(VALIDATOR.iter_errors(json.loads(line))) == []


def test_every_event_is_flushed_as_it_is_written() -> None:
    stream = Recording()
    lines = EventLines(stream)
    for cls in EVENT_TYPES[:3]:
        lines.feed(hostile(cls, "x"))
    assert stream.calls[1::2] == ["<flush>"] * 3 and all(call.endswith("\n") for call in stream.calls[::2])

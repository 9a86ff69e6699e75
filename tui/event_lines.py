"""`--json` on a headless run: every event as one line of JSON on standard output.

A line is the event exactly as the JSON export holds it (`engine.events.event_to_json`,
with everything outside printable ASCII escaped by `sessions.export.ascii_json`), so a
script reads a live run and an exported session alike, and no text a model wrote can
act on the terminal the lines reach. Its `v` is the version of the event's shape; the
shapes are in docs/events.md, generated from the models (`engine.event_schema`).
Each line is flushed as it is written, so a reader (`jq`) sees each event as it happens.
"""

from __future__ import annotations

from typing import Protocol

from engine.events import EventBase, event_to_json
from sessions.export import ascii_json


class LineStream(Protocol):
    """Where the lines go: standard output, or what stands in for it."""

    def write(self, text: str) -> object: ...

    def flush(self) -> object: ...


class EventLines:
    """Writes each event it is fed as a JSON line to `stream`, flushed."""

    def __init__(self, stream: LineStream) -> None:
        self._stream = stream

    def feed(self, event: EventBase) -> None:
        self._stream.write(ascii_json(event_to_json(event)) + "\n")
        self._stream.flush()

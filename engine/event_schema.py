"""The events' published schema, made from the event models: docs/events.schema.json
(pydantic's JSON Schema of the `Event` union, each field's docstring as its description)
and docs/events.md (each kind and its fields, for people). Scripts read events from
`huddle run --headless --json` and the JSON export; these files say what they hold.

    python -m engine.event_schema [FOLDER]     # writes both (default: the repo's docs/)

A test fails when the models change and the files were not written again.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
from collections.abc import Set
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from engine.event_base import EVENT_VERSION, EventBase
from engine.events import EVENT_ADAPTER, EVENT_TYPES

SCHEMA_FILE = "events.schema.json"
GUIDE_FILE = "events.md"
DOCS = Path(__file__).resolve().parents[1] / "docs"
"""Where the files live in a checkout of the repository."""
COMMAND = "python -m engine.event_schema"
"""The command that writes them, as the files and the test say it."""


def field_docs(cls: type[BaseModel]) -> dict[str, str]:
    """The docstrings written under a model's fields (`seq: int` then a string), its
    bases' included, each on one line."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, BaseModel) or klass is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # no source to read (a class made at run time)
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for field, after in zip(body, body[1:]):
            if (
                isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[field.target.id] = " ".join(after.value.value.split())
    return docs


class _Documented(GenerateJsonSchema):
    """pydantic's JSON Schema, with each field's docstring as its description."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        properties = json_schema.get("properties", {})
        fields = schema["cls"].model_fields
        for name, doc in field_docs(schema["cls"]).items():
            info = fields.get(name)
            key = (info.serialization_alias or info.alias or name) if info is not None else name  # as it is written
            if key in properties and "description" not in properties[key]:
                properties[key]["description"] = doc
        return json_schema


def schema() -> dict[str, Any]:
    """The JSON Schema of one event, as a line of `huddle run --json` holds it."""
    union = EVENT_ADAPTER.json_schema(mode="serialization", schema_generator=_Documented)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "huddle event",
        "description": (
            f"One event of a huddle session, version {EVENT_VERSION} (its `v`): a line of "
            "`huddle run --headless --json`, or one of the `events` of a JSON export. "
            f"Generated from the event models by `{COMMAND}`."
        ),
        **union,
    }


def schema_text() -> str:
    """docs/events.schema.json as it should read."""
    return json.dumps(schema(), indent=2) + "\n"


# -- the guide --------------------------------------------------------------------------

_INTRO = f"""# Events

<!-- Written by `{COMMAND}` from the event models (engine/events.py, engine/notes.py):
     change those, then run it again. -->

Everything a session does is an event, and every event is recorded. Scripts read them
in two forms:

- `huddle run --headless --json` (and `huddle resume … --json`, `huddle fork … --json`)
  prints each event as one line of JSON on standard output as it happens, and nothing
  else there: the transcript, prompts and messages go to standard error. A resumed
  session prints the events it adds, from its `session.resumed` on. The last line is
  the `session.finished` event: the session's id, `status` and `result`.
- `huddle sessions show ID --json` and `huddle sessions export ID --format json` print
  one document, `{{"session": ROW, "events": [EVENT, ...]}}`: the session's row (as
  `huddle sessions list --json` gives it) and every event it recorded, in order.

A line is an event exactly as the export holds it, with nothing wrapped around it:
one JSON object whose `kind` says which event it is and whose `v` is the version of
its shape. This page describes version {EVENT_VERSION}. A kind or a field may be
added within a version, so read the fields you know and skip the kinds you do not;
a field that changes meaning or type, or goes, makes a new version. Sessions recorded
by an older huddle are exported as they were recorded: a `v` 1 record may hold a
`pattern.note` whose `data` was not yet typed. Every character beyond printable ASCII
is written as a JSON escape (`\\u00e9`), so each line is plain ASCII, and text a model
wrote cannot act on the terminal it is printed to.

The same, for programs: [events.schema.json](events.schema.json) (JSON Schema 2020-12,
one of the kinds below, told apart by `kind`).
"""


def _anchor(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum() or c in "-_")


def _type(prop: dict[str, Any]) -> str:
    """A property's type in a few words, for a table cell."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{_anchor(name)})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(_type(part) for part in prop[key])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop['items'])}" if "items" in prop else "list"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict) and prop["additionalProperties"]:
        return f"object of {_type(prop['additionalProperties'])}"
    if kind == "null":
        return "null"
    return kind or "any JSON value"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(model: dict[str, Any], skip: Set[str] = frozenset()) -> list[str]:
    """A model's properties as a Markdown table (but those in `skip`)."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for name, prop in model.get("properties", {}).items():
        if name not in skip:
            lines.append(f"| `{name}` | {_cell(_type(prop))} | {_cell(prop.get('description', ''))} |")
    return lines


def guide() -> str:
    """docs/events.md as it should read."""
    made = schema()
    defs: dict[str, Any] = made["$defs"]
    common = set(EventBase.model_fields)
    events = {cls.__name__ for cls in EVENT_TYPES}
    base = defs[EVENT_TYPES[0].__name__]
    out = [_INTRO, "## Fields every event has", ""]
    out += _table({"properties": {name: base["properties"][name] for name in EventBase.model_fields}})
    out += ["", "## Kinds", ""]
    for cls in EVENT_TYPES:
        model = defs[cls.__name__]
        out += [f"### `{cls.model_fields['kind'].default}`", ""]
        if model.get("description"):
            out += [" ".join(model["description"].split()), ""]
        out += _table(model, skip=common | {"kind"})
        out.append("")
    out += ["## Shapes inside events", ""]
    for name, model in defs.items():
        if name in events:
            continue
        out += [f"### {name}", ""]
        if model.get("description"):
            out += [" ".join(model["description"].split()), ""]
        out += _table(model) if model.get("properties") else [f"{_cell(_type(model))}"]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


FILES = {SCHEMA_FILE: schema_text, GUIDE_FILE: guide}
"""Each file, by name, and what makes its text."""


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    folder = Path(given[0]) if given else DOCS
    folder.mkdir(parents=True, exist_ok=True)
    for name, make in FILES.items():
        (folder / name).write_text(make(), encoding="utf-8")
        print(f"wrote {folder / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Structured replies: the `respond` tool a schema is forced through, and the
reply checked against the schema (a pydantic model or a JSON Schema dict)."""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.formats import one_line
from engine.handoffs import check_json_schema
from engine.providers.base import ToolSpec

Schema = type[BaseModel] | dict[str, Any]
"""What a structured call asks for: a pydantic model, or a JSON Schema dict."""


def schema_name(schema: Schema) -> str:
    """The name a reply is asked for by ("Plan"; a JSON Schema's title)."""
    if isinstance(schema, dict):
        return str(schema.get("title") or "reply")
    return schema.__name__


def tool_for(schema: Schema) -> ToolSpec:
    """The tool a structured reply is forced through."""
    if isinstance(schema, dict):
        description = str(schema.get("description", ""))
        return ToolSpec("respond", f"Give your reply as {schema_name(schema)}. {description}".strip(), schema)
    return _model_tool(schema)


@functools.lru_cache(maxsize=64)
def _model_tool(model: type[BaseModel]) -> ToolSpec:
    """The tool for a pydantic model, made once: building its JSON Schema takes longer than
    the rest of a call's own work (a plan's, 0.3 ms). Nothing changes a `ToolSpec`'s schema.
    Bounded: a pattern may make a model per session (`mesh.assessment_schema`)."""
    description = (model.__doc__ or "").strip()
    return ToolSpec("respond", f"Give your reply as {model.__name__}. {description}".strip(), model.model_json_schema())


def validate(schema: Schema, text: str) -> tuple[Any, str | None]:
    """The reply parsed and validated, or the reason it is not valid."""
    if isinstance(schema, dict):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None, "not valid JSON"
        try:
            check_json_schema(schema, data)
        except ValueError as error:
            return None, str(error)
        return data, None
    try:
        return schema.model_validate_json(text), None
    except ValidationError as error:
        if any(item.get("type") == "json_invalid" for item in error.errors()):
            return None, "not valid JSON"
        return None, one_line(error)


def structured(value: Any) -> dict[str, Any] | None:
    """A validated reply as the JSON object `call.finished` records, if it is one."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return data if isinstance(data, dict) else None

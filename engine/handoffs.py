"""Handoff contracts: what one agent must hand the next, and how sure it must be.

A contract is a JSON Schema (or a pydantic model) for the payload and a
minimum confidence. `RunContext.handoff` checks a payload against it: an
invalid payload is an error carrying the validation message (the pattern then
falls back or escalates); a payload whose confidence is under the minimum is
an escalation point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.formats import one_line


class HandoffError(Exception):
    """A handoff that did not go through: it broke its contract, or a person refused it."""

    def __init__(self, contract: str, reason: str) -> None:
        super().__init__(f"handoff {contract}: {reason}")
        self.contract = contract
        self.reason = reason


class HandoffRejected(HandoffError):
    """A low-confidence handoff a person (or the policy) rejected."""


@dataclass(frozen=True)
class HandoffContract:
    name: str
    schema: dict[str, Any] | type[BaseModel]
    min_confidence: float | None = None
    """Below this the handoff escalates; None uses the policy's threshold."""
    confidence_field: str = "confidence"

    @property
    def json_schema(self) -> dict[str, Any]:
        if isinstance(self.schema, dict):
            return self.schema
        return self.schema.model_json_schema()

    def validate(self, payload: Any) -> Any:
        """The payload, validated (a model instance for a pydantic contract).
        Raises ValueError with a one-line reason."""
        if not isinstance(self.schema, dict):
            try:
                return self.schema.model_validate(payload)
            except ValidationError as error:
                raise ValueError(one_line(error)) from None
        check_json_schema(self.schema, payload)
        return payload

    def confidence_of(self, value: Any) -> float | None:
        raw = getattr(value, self.confidence_field, None) if not isinstance(value, dict) else value.get(self.confidence_field)
        return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def as_data(value: Any) -> Any:
    """A payload as plain JSON-able data, for events."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    import jsonschema  # only schemas written as JSON Schema need it (60 ms to import)

    schema = json.loads(schema_json)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise ValueError(f"not a valid JSON Schema: {error.message}") from None
    return jsonschema.Draft202012Validator(schema)


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError unless `schema` is a valid JSON Schema (checked once per schema)."""
    _validator(json.dumps(schema, sort_keys=True))


def check_json_schema(schema: dict[str, Any], data: Any) -> None:
    """Raise ValueError with a one-line reason unless `data` satisfies `schema`."""
    errors = sorted(
        _validator(json.dumps(schema, sort_keys=True)).iter_errors(data),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "payload"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"{where}: {first.message}{more}")

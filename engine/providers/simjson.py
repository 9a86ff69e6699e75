"""Structured replies for the simulated provider: any JSON Schema, plausibly filled.

Values follow the schema (types, enums, bounds, required fields) and, where a
field's name says what it is, its meaning: `confidence` is a probability,
`assigned_to` names a real teammate, `depends_on` points at earlier steps, a
plan's steps suit the workers' roles.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from engine.providers import simtext

_AGENT_FIELDS = {"assigned_to", "agent", "worker", "assignee", "route", "specialist", "target", "to", "to_agent", "owner"}
_PROSE_FIELDS = ("reason", "rationale", "explanation", "summary", "justification", "description", "instructions", "details", "feedback", "content", "answer", "text", "note", "message")
_LIST_OF_POINTS = ("issues", "concerns", "problems", "points", "changes", "risks", "suggestions", "findings")


@dataclass
class Context:
    rng: random.Random
    agent: str
    role: str
    task: str
    team: tuple[str, ...]
    phrases: list[str]
    low_confidence: bool = False
    reject: bool = False
    root: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    """The request's last user turn: where a router finds the specialists it lists."""

    @property
    def peers(self) -> list[str]:
        return [name for name in self.team if name != self.agent] or list(self.team) or ["worker"]


def generate(schema: dict[str, Any], ctx: Context) -> Any:
    ctx.root = schema
    return _value(schema, ctx, name="")


def _resolve(schema: dict[str, Any], ctx: Context) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        node: Any = ctx.root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _value(schema: dict[str, Any], ctx: Context, *, name: str) -> Any:
    schema = _resolve(schema, ctx)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return _choice(schema["enum"], ctx, name)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(o, ctx) for o in schema[key]]
            concrete = [o for o in options if o.get("type") != "null"] or options
            return _value(ctx.rng.choice(concrete), ctx, name=name)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, ctx))
        return _value(merged, ctx, name=name)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        return _object(schema, ctx)
    if kind == "array":
        return _array(schema, ctx, name)
    if kind == "boolean":
        return _boolean(ctx, name)
    if kind in ("number", "integer"):
        return _number(schema, ctx, name, integer=kind == "integer")
    if kind == "null":
        return None
    return _string(schema, ctx, name)


def _choice(options: list[Any], ctx: Context, name: str) -> Any:
    lowered = name.lower()
    if ctx.reject and any(str(o).lower() in ("reject", "rejected", "revise", "no", "disagree") for o in options):
        return next(o for o in options if str(o).lower() in ("reject", "rejected", "revise", "no", "disagree"))
    team_options = [o for o in options if o in ctx.team and o != ctx.agent]
    if team_options and (lowered in _AGENT_FIELDS or len(team_options) == len(options)):
        return ctx.rng.choice(team_options)
    return ctx.rng.choice(options)


def _boolean(ctx: Context, name: str) -> bool:
    lowered = name.lower()
    if lowered in ("approved", "accept", "accepted", "agree", "consensus", "ok", "valid", "done"):
        return not ctx.reject and ctx.rng.random() < 0.7
    if lowered in ("willing", "available", "capable", "can_help", "able"):
        # Most agents take on most work; a few decline, so declines still show.
        return ctx.rng.random() < 0.85
    if lowered in ("answer_myself", "alone", "solo", "no_help_needed"):
        # A specialist asked about a many-sided task usually wants a colleague's view.
        return ctx.rng.random() < 0.3
    return ctx.rng.random() < 0.5


def _number(schema: dict[str, Any], ctx: Context, name: str, *, integer: bool) -> float | int:
    lowered = name.lower()
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if "confidence" in lowered or "probability" in lowered or "agreement" in lowered:
        # A negative verdict (the reject fault) comes with little agreement.
        low_value = ctx.low_confidence or (ctx.reject and "agreement" in lowered)
        value = ctx.rng.uniform(0.15, 0.45) if low_value else ctx.rng.uniform(0.72, 0.97)
        low, high = low if low is not None else 0.0, high if high is not None else 1.0
        return round(min(max(value, low), high), 2)
    if low is None:
        low = 0
    if high is None:
        if "cost" in lowered or "price" in lowered:
            high = low + 2.0
        elif "score" in lowered or "capability" in lowered:
            high = low + 10
        else:
            high = low + 20
    if integer:
        lo, hi = int(-(-low // 1)), int(high // 1)
        if "exclusiveMinimum" in schema and lo == schema["exclusiveMinimum"]:
            lo += 1
        if "exclusiveMaximum" in schema and hi == schema["exclusiveMaximum"]:
            hi -= 1
        return ctx.rng.randint(lo, max(lo, hi))
    value = round(ctx.rng.uniform(float(low), float(high)), 3)
    if "exclusiveMinimum" in schema and value <= low:
        value = low + (high - low) / 2
    return value


def _string(schema: dict[str, Any], ctx: Context, name: str) -> str:
    lowered = name.lower()
    if lowered == "specialist" and (match := _best_specialist(ctx)) is not None:
        value = match
    elif lowered in _AGENT_FIELDS:
        value = ctx.rng.choice(ctx.peers)
    elif lowered in ("id", "key", "step_id"):
        value = f"s{ctx.rng.randint(1, 9)}"
    elif lowered in ("title", "name", "topic", "label", "heading", "subject"):
        phrase = ctx.rng.choice(ctx.phrases)
        value = phrase[:1].upper() + phrase[1:]
    elif any(word in lowered for word in _PROSE_FIELDS):
        value = simtext.sentence(ctx.rng, _shuffled(ctx), simtext.role_kind(ctx.agent, ctx.role))
    else:
        value = simtext.point(ctx.rng, _shuffled(ctx), simtext.role_kind(ctx.agent, ctx.role))
    max_length = schema.get("maxLength")
    if max_length is not None:
        value = value[:max_length]
    min_length = schema.get("minLength", 0)
    if len(value) < min_length:
        value = value.ljust(min_length, ".")
    return value


def _stems(text: str) -> set[str]:
    """Content words cut to five letters, so "throttled" meets "throttling"."""
    words = re.findall(r"[a-z][a-z0-9]+", text.lower())
    return {word[:5] for word in words if len(word) > 2 and word not in simtext.STOP_WORDS}


def _peer_line(ctx: Context, name: str) -> str:
    """What the prompt says of a teammate on its "- name: role, skills" line ("" if none)."""
    line = re.search(rf"^\s*[-*]\s*{re.escape(name)}\b(.*)$", ctx.prompt, re.MULTILINE)
    return line.group(1) if line else ""


def _route_reason(specialist: str, ctx: Context) -> str:
    """Why a router chose `specialist`: the words of its line in the prompt the task shares."""
    task = _stems(ctx.task)
    words = re.findall(r"[a-z][a-z0-9]+", _peer_line(ctx, specialist).lower())
    shared = list(dict.fromkeys(w for w in words if w[:5] in task and w not in simtext.STOP_WORDS))
    subject = ctx.phrases[0] if ctx.phrases else "the request"
    if shared:
        return f"The task is about {subject}, which is {specialist}'s area ({', '.join(shared[:3])})."
    return f"The task is about {subject}; {specialist} is the closest fit."


def _best_specialist(ctx: Context) -> str | None:
    """The teammate whose line in the prompt ("- name: role, skills") shares most words
    with the task, as a router would choose; None when no line matches at all."""
    task = _stems(ctx.task)
    best, best_score = None, 0
    for peer in ctx.peers:
        line = _peer_line(ctx, peer)
        score = len(task & _stems(f"{peer} {line}")) if line else 0
        if score > best_score:
            best, best_score = peer, score
    return best


def _shuffled(ctx: Context) -> list[str]:
    phrases = list(ctx.phrases)
    ctx.rng.shuffle(phrases)
    return phrases


def _array(schema: dict[str, Any], ctx: Context, name: str) -> list[Any]:
    items = _resolve(schema.get("items", {"type": "string"}), ctx)
    properties = items.get("properties", {})
    if {"id", "assigned_to", "depends_on"} <= properties.keys():
        return _plan_steps(items, ctx)
    lowered = name.lower()
    low = schema.get("minItems", 0)
    high = schema.get("maxItems")
    if lowered in ("depends_on", "dependencies"):
        return []
    if any(word in lowered for word in _LIST_OF_POINTS) and low == 0:
        # A clean verdict has no issues; a negative one lists a few.
        count = ctx.rng.randint(1, 3) if ctx.reject else ctx.rng.choice([0, 0, 1, 2])
    else:
        count = ctx.rng.randint(max(low, 2), max(low, 2, min(high if high is not None else 4, 4)))
    if high is not None:
        count = min(count, high)
    count = max(count, low)
    values = [_value(items, ctx, name=name.rstrip("s")) for _ in range(count)]
    if schema.get("uniqueItems"):
        unique = []
        for value in values:
            if value not in unique:
                unique.append(value)
        values = unique
    return values


def _object(schema: dict[str, Any], ctx: Context) -> dict[str, Any]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", properties.keys()))
    out: dict[str, Any] = {}
    for key, sub in properties.items():
        if key not in required and ctx.rng.random() < 0.3:
            continue
        out[key] = _value(sub, ctx, name=key)
    if isinstance(out.get("specialist"), str) and isinstance(out.get("reason"), str):
        out["reason"] = _route_reason(out["specialist"], ctx)
    return out


def _plan_steps(item_schema: dict[str, Any], ctx: Context) -> list[dict[str, Any]]:
    """One or two steps per worker, ordered research -> build -> review."""
    phrases = ctx.phrases
    a = phrases[0]
    b = phrases[1] if len(phrases) > 1 else a
    steps: list[dict[str, Any]] = []
    research_ids: list[str] = []
    build_ids: list[str] = []

    def add(worker: str, title: str, instructions: str, depends_on: list[str]) -> str:
        step_id = f"s{len(steps) + 1}"
        steps.append(
            {"id": step_id, "title": title, "instructions": instructions, "assigned_to": worker, "depends_on": depends_on}
        )
        return step_id

    workers = ctx.peers
    kinds = {w: simtext.role_kind(w, "") for w in workers}
    for worker in workers:
        if kinds[worker] == "research":
            research_ids.append(add(
                worker,
                f"Research {a}",
                f"Survey how {a} is usually done, the constraints around {b}, and the main risks. Report findings and a recommendation.",
                [],
            ))
    for worker in workers:
        if kinds[worker] == "code":
            skeleton = add(
                worker,
                f"Sketch the interface for {a}",
                f"Write the public interface and data types for {a}, without the full logic.",
                [],
            )
            build_ids.append(add(
                worker,
                f"Implement {a}",
                f"Implement {a} behind the agreed interface, handling {b} explicitly.",
                research_ids + [skeleton],
            ))
        elif kinds[worker] == "write":
            build_ids.append(add(worker, f"Draft the write-up on {a}", f"Write a clear draft about {a}, covering {b}.", research_ids))
    for worker in workers:
        if kinds[worker] == "review":
            add(
                worker,
                f"Review {a}",
                f"Review the work on {a} for correctness, edge cases around {b}, and missing tests.",
                build_ids or research_ids,
            )
        elif kinds[worker] in ("general", "lead"):
            add(worker, f"{worker.capitalize()}: {a}", f"Work on {a} from your role's point of view; note anything about {b}.", [])

    allowed = set(item_schema.get("properties", {}))
    return [{k: v for k, v in step.items() if k in allowed} for step in steps]


def malformed(value: Any, schema: dict[str, Any], rng: random.Random) -> str:
    """A reply that is not what was asked for: broken JSON, a missing field or a wrong type."""
    text = json.dumps(value)
    required = [k for k in schema.get("required", []) if isinstance(value, dict) and k in value]
    variant = rng.choice(["truncated", "missing", "wrong_type"] if required else ["truncated"])
    if variant == "truncated":
        return text[: max(1, len(text) * 2 // 3)]
    broken = dict(value)
    key = rng.choice(required)
    if variant == "missing":
        del broken[key]
    else:
        broken[key] = {"unexpected": True} if not isinstance(broken[key], dict) else "not an object"
    return json.dumps(broken)

"""How a plan or a payload changed: a revision beside the version before it, and what
changed between them (steps added, removed or changed; fields set, removed or changed).

Pure functions over plain JSON data, returning Content; every string in the data came
through the view. Nothing here imports a widget.
"""

from __future__ import annotations

import json
from typing import Any

from textual.content import Content

from tui.render import Parts, plan_tree, pretty, proposed_plan
from tui.view import SessionView

STEP_FIELDS = ("assigned_to", "title", "depends_on", "instructions")
"""What a step's change lists, in this order."""


def _short(value: Any, width: int = 60) -> str:
    """A value on one line: words in quotes, anything else as JSON; cut to `width`."""
    text = " ".join((value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)).split())
    text = text if len(text) <= width else text[: width - 1] + "…"
    return f"“{text}”" if isinstance(value, str) and " " in text else text


def _steps(plan: Any) -> dict[str, dict[str, Any]]:
    steps = plan.get("steps") if isinstance(plan, dict) else None
    return {str(step.get("id", "?")): step for step in steps or [] if isinstance(step, dict)}


def is_plan(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("steps"), list)


def step_changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    """(sign, line) for each step added ("+"), removed ("-") or changed ("~"), in the new plan's order."""
    old, new = _steps(before), _steps(after)
    changes: list[tuple[str, str]] = []
    for step_id, step in new.items():
        was = old.get(step_id)
        if was is None:
            changes.append(("+", f"{step_id} {step.get('assigned_to', '?')}: {_short(step.get('title', ''))}"))
            continue
        differ = [
            f"{name} {_short(was.get(name))} → {_short(step.get(name))}" if name != "instructions" else "instructions"
            for name in STEP_FIELDS if was.get(name) != step.get(name)
        ]
        if differ:
            changes.append(("~", f"{step_id}: " + "; ".join(differ)))
    changes += [("-", f"{step_id} {step.get('assigned_to', '?')}: {_short(step.get('title', ''))}")
                for step_id, step in old.items() if step_id not in new]
    if before.get("confidence") != after.get("confidence") and "confidence" in after:
        changes.append(("~", f"confidence {_short(before.get('confidence'))} → {_short(after.get('confidence'))}"))
    return changes


def field_changes(before: Any, after: Any) -> list[tuple[str, str]]:
    """(sign, line) for each field set ("+"), removed ("-") or changed ("~"); a payload that
    is not an object changes as a whole."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [] if before == after else [("~", f"{_short(before)} → {_short(after)}")]
    changes = [("+" if key not in before else "~",
                f"{key}: {_short(value)}" if key not in before else f"{key}: {_short(before[key])} → {_short(value)}")
               for key, value in after.items() if before.get(key, object()) != value]
    return changes + [("-", f"{key}: {_short(value)}") for key, value in before.items() if key not in after]


SIGNS = {"+": ("+ ", "$text-success"), "-": ("− ", "$text-error"), "~": ("~ ", "$text-warning")}


def changes(before: Any, after: Any, heading: str) -> Content:
    """What changed from `before` to `after`, a line each, under `heading`."""
    found = step_changes(before, after) if is_plan(before) and is_plan(after) else field_changes(before, after)
    parts: Parts = [(heading, "bold"), "\n"]
    for sign, line in found:
        mark, style = SIGNS[sign]
        parts += [(mark, style), line, "\n"]
    if not found:
        parts += [("nothing", "dim"), "\n"]
    return Content.assemble(*parts)


def plan_revision(view: SessionView, scope: str, revision: int) -> Content:
    """A plan as it was at `revision`: the live tree if it is the plan in force, else as
    proposed; after a revision, what changed since the one before and that one too."""
    plan = view.revisions.get((scope, revision))
    if plan is None:
        return plan_tree(view)
    latest = max(rev for (where, rev) in view.revisions if where == scope)
    shown = plan_tree(view) if revision == latest else proposed_plan(plan)
    before = view.revisions.get((scope, revision - 1))
    if before is None:
        return shown
    return Content.assemble(
        shown, "\n", changes(before, plan, f"Changes from revision {revision - 1}"),
        "\n", (f"Revision {revision - 1}, as proposed", "bold"), "\n", proposed_plan(before),
    )


def edited_payload(proposed: Any, edited: Any) -> Content:
    """A payload a person edited: the edit, what changed, and the payload as proposed."""
    return Content.assemble(
        ("As edited", "bold"), "\n", pretty(edited), "\n\n",
        changes(proposed, edited, "Changes"), "\n",
        ("As proposed", "bold"), "\n", pretty(proposed),
    )

"""How session state reads on screen: plans, decisions, payloads and statuses, as Content.

Pure functions and tables, no widgets: screens, widgets and the pattern views
all draw with them. Every string they show came through the view, whose events
passed the gate (`tui.safe.safe`).
"""

from __future__ import annotations

import json
from typing import Any

from textual.content import Content

from engine.state import Decided
from engine.formats import clock, outcome
from tui.view import SessionView

Parts = list[Content | tuple[str, str] | str]

SESSION_STATUS: dict[str, tuple[str, str]] = {
    "running": ("●", "$text-success"),
    "waiting": ("◆", "bold $text-warning"),
    "completed": ("✓", "$text-success"),
    "failed": ("✗", "$text-error"),
    "stopped": ("■", "$text-warning"),
    "cancelled": ("⊘", "$text-muted"),
    "interrupted": ("⚠", "bold $text-error"),
}
"""A session's status: (glyph, style). Stopped means a budget or a limit ended it;
cancelled, that a person did."""

AGENT_STATUS: dict[str, tuple[str, str | None, bool]] = {
    "idle": ("○", None, False),
    "thinking": ("◔", "text-warning", False),
    "streaming": ("●", "text-success", False),
    "waiting": ("◆", "text-warning", True),
    "retrying": ("↻", "text-warning", False),
    "done": ("✓", "text-success", False),
    "failed": ("✗", "text-error", True),
}
"""An agent's status: (glyph, theme colour of its label (None: muted), whether its
panel's border takes that colour too: the two that need a person's eye)."""

STEP_STATUS: dict[str, tuple[str, str]] = {
    "planned": ("○", "$text-muted"),
    "running": ("●", "$text-warning"),
    "done": ("✓", "$text-success"),
    "error": ("✗", "$text-error"),
    "skipped": ("–", "$text-muted"),
    "stopped": ("■", "$text-warning"),
}
"""A plan step's status: (glyph, style)."""

DECISION_STYLES = {"approve": "$text-success", "reject": "$text-error", "edit": "$text-accent"}


def session_status(
    status: str, *, short: bool = False, bold: bool = False, failed_steps: int = 0, skipped_steps: int = 0,
    brief_steps: bool = False,
) -> Content:
    """A session's status with its glyph, saying which steps did not get done ("completed with
    3 failed steps", in the warning colour); `short` says "waiting" rather than "waiting for
    approval", `brief_steps` "completed, 3 failed" (a list's column)."""
    glyph, style = SESSION_STATUS.get(status, ("?", ""))
    label = "waiting for approval" if status == "waiting" and not short else status
    if failed_steps or skipped_steps:
        label = outcome(label, failed_steps, skipped_steps, short=brief_steps)
        if status == "completed":
            style = "$text-warning"
    if bold and "bold" not in style:
        style = f"bold {style}"
    return Content.styled(f"{glyph} {label}", style)


def plan_tree(view: SessionView) -> Content:
    """The plan with each step's live status, as a tree; a member team's own plan
    (hierarchical teams) hangs under the step it works on."""
    plan = view.plan or {}
    confidence = plan.get("confidence")
    head = f"Plan (revision {view.plan_revision})" if view.plan_revision else "Plan"
    if isinstance(confidence, int | float):
        head += f" · confidence {confidence:.0%}"
    parts: Parts = [(head, "bold"), "\n"]
    _steps(view, plan.get("steps", []), "", parts)
    return Content.assemble(*parts)


def _steps(view: SessionView, steps: list[dict[str, Any]], indent: str, parts: Parts) -> None:
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        step_id = str(step.get("id", "?"))
        state = view.steps.get(step_id)
        glyph, style = STEP_STATUS.get(state.status if state else "planned", STEP_STATUS["planned"])
        parts += [
            indent, "└─ " if last else "├─ ", (glyph + " ", style), (step_id.rsplit("/", 1)[-1], "bold"), " ",
            (str(step.get("assigned_to", "?")), "$text-accent"), "  ", str(step.get("title", "")), "\n",
        ]
        rail = indent + ("   " if last else "│  ")
        deps = step.get("depends_on") or []
        if deps:
            parts += [rail, ("   after " + ", ".join(d.rsplit("/", 1)[-1] for d in map(str, deps)), "dim"), "\n"]
        if state is not None and state.error:
            parts += [rail, ("   " + state.error, "$text-error"), "\n"]
        for scope, nested in view.plans.items():
            if scope.startswith(f"{step_id}/") and scope.count("/") == step_id.count("/") + 1:
                team = scope.rsplit("/", 1)[-1]
                parts += [rail, (f"   plan of {team}", "italic $text-accent"), "\n"]
                _steps(view, nested.get("steps", []), rail + "   ", parts)


def proposed_plan(plan: dict[str, Any]) -> Content:
    """A plan as an escalation proposes it, exactly as it would run: each step's id,
    worker, title, dependencies, and the instructions the worker would be given."""
    confidence = plan.get("confidence")
    head = "Proposed plan" + (f" · confidence {confidence:.0%}" if isinstance(confidence, int | float) else "")
    parts: Parts = [(head, "bold"), "\n"]
    steps = plan.get("steps")
    steps = steps if isinstance(steps, list) else []
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        step = step if isinstance(step, dict) else {"title": json.dumps(step, ensure_ascii=False, default=str)}
        parts += [
            "└─ " if last else "├─ ", (str(step.get("id", "?")), "bold"), " ",
            (str(step.get("assigned_to", "?")), "$text-accent"), "  ", str(step.get("title", "")), "\n",
        ]
        rail = "   " if last else "│  "
        deps = step.get("depends_on") or []
        if deps:
            parts += [rail, ("   after " + ", ".join(map(str, deps) if isinstance(deps, list) else [str(deps)]), "dim"), "\n"]
        for line in str(step.get("instructions") or "").splitlines():
            parts += [rail, ("   " + line, "dim"), "\n"]
    if not steps:
        parts.append(("(no steps)", "dim"))
    return Content.assemble(*parts)


def decision_line(decided: Decided, offset: float) -> Content:
    """How an escalation was decided: what, by whom, when (`offset` seconds into the
    session), under which rule."""
    reason = f": {decided.reason}" if decided.reason else ""
    return Content.assemble(
        ("Decision: ", "bold"), (decided.word, f"bold {DECISION_STYLES.get(decided.action, '')}"),
        f" by {decided.by} at +{clock(offset)}", (f" ({decided.rule})", "dim"), reason,
    )


def pretty(data: Any) -> str:
    """A payload as indented JSON."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)

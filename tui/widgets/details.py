"""DetailsPane: what the selected timeline entry concerns — the plan as a tree, a payload as JSON."""

from __future__ import annotations

import json
from typing import Any

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.safe import clean
from tui.view import Entry, SessionView

STEP_GLYPHS = {
    "planned": ("○", "$text-muted"),
    "running": ("●", "$text-warning"),
    "done": ("✓", "$text-success"),
    "error": ("✗", "$text-error"),
    "skipped": ("–", "$text-muted"),
    "stopped": ("■", "$text-warning"),
}


def plan_tree(view: SessionView) -> Content:
    """The plan with each step's live status, as a tree; a member team's own plan
    (hierarchical teams) hangs under the step it works on."""
    plan = view.plan or {}
    confidence = plan.get("confidence")
    head = f"Plan (revision {view.plan_revision})" if view.plan_revision else "Plan"
    if isinstance(confidence, int | float):
        head += f" · confidence {confidence:.0%}"
    parts: list[Content | tuple[str, str] | str] = [(head, "bold"), "\n"]
    _steps(view, plan.get("steps", []), "", parts)
    return Content.assemble(*parts)


def _steps(view: SessionView, steps: list[dict[str, Any]], indent: str, parts: list[Any]) -> None:
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        step_id = str(step.get("id", "?"))
        state = view.steps.get(step_id, {})
        glyph, style = STEP_GLYPHS.get(state.get("status", "planned"), STEP_GLYPHS["planned"])
        parts += [
            indent, "└─ " if last else "├─ ", (glyph + " ", style), (step_id.rsplit("/", 1)[-1], "bold"), " ",
            (str(step.get("assigned_to", "?")), "$text-accent"), "  ", str(step.get("title", "")), "\n",
        ]
        rail = indent + ("   " if last else "│  ")
        deps = step.get("depends_on") or []
        if deps:
            parts += [rail, ("   after " + ", ".join(d.rsplit("/", 1)[-1] for d in map(str, deps)), "dim"), "\n"]
        if state.get("error"):
            parts += [rail, ("   " + str(state["error"]), "$text-error"), "\n"]
        for scope, nested in view.plans.items():
            if scope.startswith(f"{step_id}/") and scope.count("/") == step_id.count("/") + 1:
                team = scope.rsplit("/", 1)[-1]
                parts += [rail, (f"   plan of {team}", "italic $text-accent"), "\n"]
                _steps(view, nested.get("steps", []), rail + "   ", parts)


def decision_line(decision: dict[str, Any]) -> Content:
    """How an escalation was decided: what, by whom, when, under which rule."""
    words = {"approve": ("approved", "$text-success"), "reject": ("rejected", "$text-error"), "edit": ("edited", "$text-accent")}
    word, style = words.get(decision["action"], (decision["action"], ""))
    offset = decision.get("offset", 0.0)
    reason = f": {decision['reason']}" if decision.get("reason") else ""
    return Content.assemble(
        ("Decision: ", "bold"), (word, f"bold {style}"), f" by {decision['by']} at +{int(offset) // 60}:{int(offset) % 60:02d}",
        (f" ({decision['rule']})", "dim"), reason,
    )


def pretty(data: Any) -> str:
    return clean(json.dumps(data, indent=2, ensure_ascii=False, default=str))


class DetailsPane(VerticalScroll):
    """Shows one timeline entry's details."""

    DEFAULT_CSS = """
    DetailsPane {
        height: 1fr;
        border: round $panel-lighten-2;
        padding: 0 1;
        & > Static { width: 1fr; }
    }
    """

    entry: Entry | None = None

    def compose(self):
        yield Static(Content("Select a timeline entry to see its details."), markup=False)

    def on_mount(self) -> None:
        self.border_title = "Details"

    def show(self, entry: Entry | None, view: SessionView, decisions: dict[str, dict[str, Any]] | None = None) -> None:
        """Show an entry; `decisions` (from the whole of a recorded session) tells how an
        escalation that is still pending at this point was decided later."""
        self.entry = entry
        body = self.query_one(Static)
        detail = entry.detail if entry is not None else None
        if entry is None:
            body.update(Content("Select a timeline entry to see its details."))
            return
        if detail and detail.get("plan"):
            self.border_title = "Details · plan"
            content = plan_tree(view)
        elif detail and "data" in detail:
            self.border_title = Content(clean(f"Details · {detail.get('title', '')}"))
            content = Content(pretty(detail["data"]))
        elif detail and "text" in detail:
            self.border_title = Content(clean(f"Details · {detail.get('title', '')}"))
            content = Content(clean(str(detail["text"])))
        else:
            self.border_title = "Details"
            content = Content(entry.text)
        decision = (decisions or view.decisions).get(entry.ref or "")
        if decision is not None:
            content = Content.assemble(decision_line(decision), "\n\n", content)
        body.update(content)

    def refresh_plan(self, view: SessionView) -> None:
        """Redraw if showing the plan (step statuses change as the run goes)."""
        if self.entry is not None and self.entry.detail and self.entry.detail.get("plan"):
            self.query_one(Static).update(plan_tree(view))

"""DetailsPane: what the selected timeline entry concerns — the plan as a tree, a payload as JSON."""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.render import decision_line, plan_tree, pretty
from tui.safe import clean
from tui.view import Entry, SessionView


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

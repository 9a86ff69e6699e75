"""DetailsPane: what the selected timeline entry concerns — the plan as a tree, a payload as JSON,
and for a revised plan or an edited payload, the version before and what changed."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from engine.state import Decided
from tui.render import decision_line, pretty
from tui.revisions import edited_payload, plan_revision
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
    _decisions: dict[str, Decided] | None = None

    def compose(self):
        yield Static(Content("Select a timeline entry to see its details."), markup=False)

    def on_mount(self) -> None:
        self.border_title = "Details"

    def show(self, entry: Entry | None, view: SessionView, decisions: dict[str, Decided] | None = None) -> None:
        """Show an entry; `decisions` (from the whole of a recorded session) tells how an
        escalation that is still pending at this point was decided later."""
        self.entry, self._decisions = entry, decisions
        body = self.query_one(Static)
        detail = entry.detail if entry is not None else None
        if entry is None:
            body.update(Content("Select a timeline entry to see its details."))
            return
        if detail and detail.get("plan"):
            self.border_title = "Details · plan"
            content = plan_revision(view, detail.get("scope", ""), detail.get("revision", view.plan_revision))
        elif detail and "data" in detail:
            self.border_title = Content(f"Details · {detail.get('title', '')}")
            if "proposed" in detail:
                content = edited_payload(detail["proposed"], detail["data"])
            else:
                content = Content(pretty(detail["data"]))
        elif detail and "text" in detail:
            self.border_title = Content(f"Details · {detail.get('title', '')}")
            content = Content(str(detail["text"]))
        else:
            self.border_title = "Details"
            content = Content(entry.text)
        decision = (decisions or view.decisions).get(entry.ref or "")
        if decision is not None:
            content = Content.assemble(decision_line(decision, view.offset(decision.ts)), "\n\n", content)
        body.update(content)

    def refresh_plan(self, view: SessionView) -> None:
        """Redraw if showing a plan (step statuses change as the run goes)."""
        if self.entry is not None and self.entry.detail and self.entry.detail.get("plan"):
            self.show(self.entry, view, self._decisions)

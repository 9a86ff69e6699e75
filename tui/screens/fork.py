"""ForkScreen: fork the replayed session at the moment shown (`f` in replay).

The fork is the session up to that moment, answered from its record, and live from
there (`tui.forking`). Here the person may change the task and the budgets and, when the
moment is a reply, edit it, or, when it is a decision, take another of its choices or
have it asked again. The fork starts only once it can be made; what is wrong with it
shows in one line and nothing is started.
"""

from __future__ import annotations

import json

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select, Static, TextArea

from engine.events import DECIDED, CallFinished, EscalationRequested, EscalationResolved, EventBase, SessionStarted
from engine.formats import preview
from sessions.errors import StoreError
from tui.forking import ASK_AGAIN, CannotFork, ForkChoices, load_forkable
from tui.safe import clean_line
from tui.setup import SetupError
from tui.widgets.budget_fields import BudgetFields

KEEP = "keep"
"""The decision select's value for the decision as it was taken."""


class ForkScreen(ModalScreen["Forkable | None"]):
    """Dismisses with the fork, ready to run; None when the person cancels."""

    CSS_PATH = "fork.tcss"
    BINDINGS = [
        Binding("ctrl+s", "fork", "Fork", id="fork.start", tooltip="Start the fork, live from this moment"),
        Binding("escape", "cancel", "Cancel", id="fork.cancel"),
    ]

    def __init__(self, session_id: str, events: list[EventBase]) -> None:
        """`events`: the session's events up to and including the moment to fork at."""
        super().__init__()
        self.session_id = session_id
        self.at = events[-1]
        started = events[0]
        assert isinstance(started, SessionStarted)
        self.started = started
        about = self.at.escalation_id if isinstance(self.at, EscalationRequested | EscalationResolved) else None
        self.asked = next((e for e in events if isinstance(e, EscalationRequested) and e.escalation_id == about), None)
        """The escalation the moment is (its request or its resolution), if it is one."""

    def compose(self) -> ComposeResult:
        at = self.at
        with Vertical(id="fork"):
            yield Static(Content.styled(f"Fork session {self.session_id[:8]} at #{at.seq}", "bold"), id="heading")
            yield Static(Content(
                f"{at.kind}{f' · {at.agent}' if at.agent else ''}. Up to here the fork is this session, from its "
                "record (nothing is sent again); from here on it runs live."
            ), id="about")
            with VerticalScroll(id="fields"):
                yield Label("Task")
                yield TextArea(self.started.task, id="task", soft_wrap=True, show_line_numbers=False)
                if isinstance(at, CallFinished):
                    yield Label(Content(f"{at.agent or 'The'} reply at #{at.seq} (edit it to change what the fork builds on)"))
                    yield TextArea(at.text, id="reply", soft_wrap=True, show_line_numbers=False)
                if self.asked is not None:
                    yield Label("Decision")
                    yield Select(self._decisions(), id="decide", allow_blank=False, value=KEEP)
                    answer = TextArea("", id="answer", soft_wrap=True, show_line_numbers=False)
                    answer.display = False
                    yield answer
                yield Label("Budgets over the recorded ones (empty: as recorded)")
                yield BudgetFields(empty="as recorded", id="budgets")
            yield Static(id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Fork (ctrl+s)", id="start", variant="success")

    def on_mount(self) -> None:
        """The field of what this moment is: its reply, its decision; else the task."""
        for wanted in ("#reply", "#decide", "#task"):
            found = self.query(wanted)
            if found:
                found.first().focus()
                return

    def _decisions(self) -> list[tuple[Content, str]]:
        """Keep the decision taken, ask it again, or take one of the escalation's choices."""
        asked = self.asked
        assert asked is not None
        decided = self.at if isinstance(self.at, EscalationResolved) else None
        kept = f"As decided: {DECIDED[decided.action]} by {decided.by}" if decided else "As it stood: not yet decided"
        return [
            (Content(kept), KEEP),
            (Content("Ask it again"), ASK_AGAIN),
            *((Content(f"{choice.label} instead"), choice.id) for choice in asked.choices),
        ]

    @on(Select.Changed, "#decide")
    def _decision_changed(self, message: Select.Changed) -> None:
        """A choice that takes input shows a field for it: the payload for an edit, prefilled."""
        asked = self.asked
        choice = next((c for c in asked.choices if c.id == message.value), None) if asked else None
        answer = self.query_one("#answer", TextArea)
        answer.display = choice is not None and choice.input != "none"
        if choice is not None and choice.input == "json":
            answer.text = json.dumps(asked.payload, indent=2, ensure_ascii=False)  # type: ignore[union-attr]
        elif choice is not None:
            answer.text = ""
            answer.border_title = choice.prompt or choice.field or "reason"

    def choices(self) -> ForkChoices:
        """What the form says, as a fork's choices; `SetupError` for a budget that is not a number."""
        task = self.query_one("#task", TextArea).text.strip()
        reply = self.query_one("#reply", TextArea).text if isinstance(self.at, CallFinished) else None
        decide = str(self.query_one("#decide", Select).value) if self.asked is not None else KEEP
        limits = self.query_one(BudgetFields).limits()
        return ForkChoices(
            approve="ask", at=self.at.seq,
            task=task if task != self.started.task else None,
            reply=reply if isinstance(self.at, CallFinished) and reply != self.at.text else None,
            decide=None if decide == KEEP else decide,
            answer=self.query_one("#answer", TextArea).text if decide != KEEP else "",
            tokens=limits.tokens, cost=limits.cost, turns=limits.turns, seconds=limits.seconds,
        )

    @on(Button.Pressed, "#start")
    def action_fork(self) -> None:
        try:
            choices = self.choices()
        except SetupError as problem:
            self._error(str(problem))
            return
        self._fork(choices)

    @work(group="fork", exclusive=True)
    async def _fork(self, choices: ForkChoices) -> None:
        try:
            found = await load_forkable(self.app.store, self.session_id, choices)  # type: ignore[attr-defined]
        except (CannotFork, StoreError) as problem:
            self._error(str(problem).removeprefix("huddle: "))
            return
        self.dismiss(found)

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(Content.styled(f"✗ {clean_line(preview(text, 300))}", "bold $text-error"))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

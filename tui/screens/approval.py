"""ApprovalScreen: answer the escalations waiting for you, one at a time.

Shows why (trigger and policy rule), what is at stake (the plan, the payload),
and how long until a timeout decides. Enter approves; `r` rejects with a
reason; `e` edits the payload as JSON, checked before it is accepted (an
invalid edit shows the error and keeps your text); `a` allows the trigger for
the rest of the session. The rest of the team keeps working behind it.
"""

from __future__ import annotations

import json
from typing import Protocol

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, TextArea

from engine.approvals import Decision, DecisionError
from engine.events import EscalationRequested
from tui.safe import clean
from tui.render import plan_tree, pretty
from tui.view import SessionView


class ApprovalHost(Protocol):
    view: SessionView

    def pending_escalations(self) -> list[EscalationRequested]: ...

    def decide(self, escalation_id: str, decision: Decision) -> None: ...

    def allow_always(self, trigger: str) -> None: ...

    def now(self) -> float: ...


class ApprovalScreen(ModalScreen[None]):
    """The oldest pending escalation, with a count of the rest."""

    CSS_PATH = "approval.tcss"

    BINDINGS = [
        Binding("enter", "approve", "Approve", id="approval.approve", tooltip="Approve (the plan, the payload, more budget)"),
        Binding("r", "reject", "Reject", id="approval.reject", tooltip="Reject, with a reason the agent gets back"),
        Binding("e", "edit", "Edit", id="approval.edit", tooltip="Edit the payload as JSON before approving it"),
        Binding("a", "allow", "Always allow", id="approval.allow", tooltip="Approve this kind of escalation for the rest of the session"),
        Binding("ctrl+s", "save", "Save edit", id="approval.save", show=False),
        Binding("escape", "back", "Back", id="approval.back", tooltip="Back to the choices, or hide this dialog (it stays pending)", priority=True),
    ]

    def __init__(self, host: ApprovalHost) -> None:
        super().__init__()
        self.host = host
        self.current: EscalationRequested | None = None
        self.mode = "choose"
        self._decided: set[str] = set()
        self._drafts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(id="why", markup=False)
            yield Static(id="rule", markup=False)
            yield Static(id="countdown", markup=False)
            with VerticalScroll(id="stake"):
                yield Static(id="payload", markup=False)
            yield Input(placeholder="Why? The agent gets this reason back. Enter rejects.", id="reason")
            yield TextArea(id="editor", soft_wrap=True, tab_behavior="indent", show_line_numbers=True)
            yield Static(id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Approve ⏎", variant="success", id="approve")
                yield Button("Reject (r)", variant="error", id="reject")
                yield Button("Edit (e)", variant="primary", id="edit")
                yield Button("Always allow (a)", id="allow")
                yield Button("Save edit (ctrl+s)", variant="primary", id="save")

    def on_mount(self) -> None:
        self.set_interval(0.5, self._countdown)
        self.sync()

    # -- which escalation ---------------------------------------------------------

    def sync(self) -> None:
        """Show the oldest escalation still waiting; close when none is left."""
        waiting = [e for e in self.host.pending_escalations() if e.escalation_id not in self._decided]
        if not waiting:
            self.dismiss(None)
            return
        first = waiting[0]
        if self.current is None or first.escalation_id != self.current.escalation_id:
            self.current = first
            self._show(first)
        self._title(len(waiting))

    def _title(self, count: int) -> None:
        assert self.current is not None
        e = self.current
        who = f" from {e.agent}" if e.agent else ""
        more = f" · {count - 1} more waiting" if count > 1 else ""
        self.query_one("#dialog").border_title = Content(f"Escalation: {e.trigger}{who}{more}")

    def _show(self, e: EscalationRequested) -> None:
        self.query_one("#why", Static).update(Content.assemble(("Why: ", "bold"), clean(e.reason)))
        self.query_one("#rule", Static).update(
            Content.assemble(("Rule: ", "bold"), e.rule, ("  ·  options: " + ", ".join(e.options), "dim"))
        )
        payload = self.query_one("#payload", Static)
        if isinstance(e.payload, dict) and "steps" in e.payload:
            payload.update(plan_tree(self.host.view))
        elif e.payload is None:
            payload.update(Content("(nothing to show)"))
        else:
            payload.update(Content(pretty(e.payload)))
        for name, key in (("approve", "⏎"), ("reject", "r"), ("edit", "e")):
            word = e.labels.get(name) or name.capitalize()
            self.query_one(f"#{name}", Button).label = Content(f"{word} ({key})" if key != "⏎" else f"{word} ⏎")
        self.query_one("#error", Static).update("")
        self._set_mode("choose")
        self._countdown()

    def _countdown(self) -> None:
        e = self.current
        label = self.query_one("#countdown", Static)
        if e is None or not e.timeout_s:
            label.display = False
            return
        left = max(0, int(e.ts + e.timeout_s - self.host.now()))
        label.display = True
        label.update(Content.styled(f"Decides {e.default} by itself in {left}s", "bold $text-warning"))

    # -- modes ------------------------------------------------------------------

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.query_one("#reason", Input).display = mode == "reject"
        self.query_one("#editor", TextArea).display = mode == "edit"
        self.query_one("#stake").display = mode != "edit"
        self.query_one("#save", Button).display = mode == "edit"
        for name in ("approve", "allow"):  # while editing: save, or reject after all
            self.query_one(f"#{name}", Button).display = mode == "choose"
        editable = self.current is not None and "edit" in self.current.options
        self.query_one("#edit", Button).display = mode == "choose" and editable
        if mode == "choose":
            self.query_one("#approve", Button).focus()
        elif mode == "reject":
            self.query_one("#reason", Input).focus()
        else:
            self.query_one("#editor", TextArea).focus()

    def action_back(self) -> None:
        if self.mode == "edit" and self.current is not None:
            self._drafts[self.current.escalation_id] = self.query_one("#editor", TextArea).text
        if self.mode != "choose":
            self._set_mode("choose")
        else:
            self.dismiss(None)

    # -- decisions ----------------------------------------------------------------

    def _decide(self, decision: Decision) -> bool:
        assert self.current is not None
        try:
            self.host.decide(self.current.escalation_id, decision)
        except DecisionError as error:
            self.query_one("#error", Static).update(Content.styled(f"✗ {error}", "bold $text-error"))
            return False
        self._decided.add(self.current.escalation_id)
        self._drafts.pop(self.current.escalation_id, None)
        self.sync()
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Typing in the reason or the editor must not trigger the single-key choices.
        if action in ("approve", "reject", "edit", "allow") and self.mode != "choose":
            return False
        if action == "save" and self.mode != "edit":
            return False
        return True

    @on(Button.Pressed, "#approve")
    def action_approve(self) -> None:
        if self.current is not None:
            self._decide(Decision("approve"))

    @on(Button.Pressed, "#reject")
    def action_reject(self) -> None:
        if self.mode == "reject":
            self._submit_reason()
        else:
            self._set_mode("reject")

    @on(Input.Submitted, "#reason")
    def _submit_reason(self) -> None:
        reason = self.query_one("#reason", Input).value.strip() or "rejected without a reason"
        if self._decide(Decision("reject", reason=reason)):
            self.query_one("#reason", Input).value = ""

    @on(Button.Pressed, "#edit")
    def action_edit(self) -> None:
        if self.current is None or "edit" not in self.current.options:
            return
        e = self.current
        editor = self.query_one("#editor", TextArea)
        editor.text = self._drafts.get(e.escalation_id) or json.dumps(e.payload, indent=2, ensure_ascii=False)
        self.query_one("#error", Static).update("")
        self._set_mode("edit")

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        assert self.current is not None
        text = self.query_one("#editor", TextArea).text
        self._drafts[self.current.escalation_id] = text
        try:
            edited = json.loads(text)
        except json.JSONDecodeError as error:
            self.query_one("#error", Static).update(
                Content.styled(f"✗ not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}", "bold $text-error")
            )
            return
        self._decide(Decision("edit", edited=edited))

    @on(Button.Pressed, "#allow")
    def action_allow(self) -> None:
        if self.current is None:
            return
        trigger = self.current.trigger
        self.host.allow_always(trigger)
        self._decided |= {e.escalation_id for e in self.host.pending_escalations() if e.trigger == trigger}
        self.notify(f"{trigger} escalations are approved for the rest of this session.", timeout=3, markup=False)
        self.sync()

"""ApprovalScreen: answer the escalations waiting for you, one at a time.

Shows why (trigger and policy rule), what is at stake (the plan, the payload),
and how long until a timeout decides. Each of the escalation's named choices has
a button and a key (Enter for the one that approves, `e` for the one that edits,
`r` for the one that rejects) and does exactly what it says: at once, or after
what it asks for: a line of text, one of a list, or the payload as JSON, checked
before it is accepted (an invalid answer shows the error and keeps your text).
`a` allows the trigger for the rest of the session; on a tool use it offers two
scopes instead: this tool with any input, or this tool with exactly this input.
A tool use shows the tool, its server, its description and its whole input
(scrolling, never cut); one that runs code shows the code highlighted and the sandbox
it would run in, with its limits. Code that would run unconfined (sandbox "none") says
so in red, and is never "always allowed". The rest of the team keeps working behind it.
"""

from __future__ import annotations

import json
from typing import Protocol

from textual.widgets.option_list import Option

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static, TextArea

from engine.approvals import Decision, DecisionError, answer
from engine.events import Choice, EscalationRequested
from tui.code_view import input_content, may_always_allow, sandbox_content
from tui.render import pretty, proposed_plan
from tui.safe import clean_line
from tui.view import SessionView


KEYS = {"approve": "⏎", "edit": "e", "reject": "r"}
"""The key of the choice that makes each action."""
MODES = {"reason": "line", "text": "line", "number": "line", "pick": "pick", "json": "json"}
"""What a choice's input shows: a line to type, a list to pick from, or the JSON editor."""
SCOPES = ("any input", "exactly this input")
"""What "always allow" on a tool use offers, in order: the tool with any input, or with this one."""


class ApprovalHost(Protocol):
    view: SessionView

    def pending_escalations(self) -> list[EscalationRequested]: ...

    def decide(self, escalation_id: str, decision: Decision) -> None: ...

    def allow_always(self, trigger: str) -> None: ...

    def allow_tool(self, escalation_id: str, *, exact: bool) -> str: ...

    def now(self) -> float: ...


class ApprovalScreen(ModalScreen[bool]):
    """The oldest pending escalation, with a count of the rest. Its result: whether it was
    hidden (Escape) with escalations still waiting, rather than closed as none were left."""

    CSS_PATH = "approval.tcss"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    """Under 40 lines, the payload (or the editor) takes what room is left and scrolls: the buttons stay in view."""

    BINDINGS = [
        Binding("enter", "choose('approve')", "Approve", id="approval.approve", tooltip="Take the choice that approves (the plan, the payload, more budget)"),
        Binding("r", "choose('reject')", "Reject", id="approval.reject", tooltip="Take the choice that rejects (a reason may go back to the agent)"),
        Binding("e", "choose('edit')", "Edit", id="approval.edit", tooltip="Take the choice that changes what is proposed"),
        Binding("a", "allow", "Always allow", id="approval.allow", tooltip="Approve this kind of escalation (a tool use: this tool, or this tool with this input) for the rest of the session"),
        Binding("ctrl+s", "save", "Save edit", id="approval.save", show=False),
        Binding("escape", "back", "Back", id="approval.back", tooltip="Back to the choices, or hide this dialog (it stays pending)", priority=True),
        Binding("down", "read('down')", "Scroll down", id="approval.down", key_display="↓", show=False, tooltip="Scroll what is at stake (the plan, the input) a line, whatever has the focus"),
        Binding("up", "read('up')", "Scroll up", id="approval.up", key_display="↑", show=False, tooltip="Scroll what is at stake a line back"),
        Binding("pagedown", "read('page_down')", "Page down", id="approval.page_down", key_display="PgDn", show=False, tooltip="Scroll what is at stake a page"),
        Binding("pageup", "read('page_up')", "Page up", id="approval.page_up", key_display="PgUp", show=False, tooltip="Scroll what is at stake a page back"),
    ]

    def __init__(self, host: ApprovalHost) -> None:
        super().__init__()
        self.host = host
        self._ready = False
        """True from mounting to closing: what it shows exists."""
        self.current: EscalationRequested | None = None
        self.mode = "choose"
        """"choose", what the choice being answered shows ("line", "pick" or "json"), or
        "scope": which "always allow" of a tool use."""
        self.choice: Choice | None = None
        """The choice being answered, while it asks for its input."""
        self._decided: set[str] = set()
        self._drafts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(id="why", markup=False)
            yield Static(id="rule", markup=False)
            yield Static(id="tool", markup=False)
            yield Static(id="sandbox", markup=False)
            yield Static(id="countdown", markup=False)
            with VerticalScroll(id="stake"):
                yield Static(id="about", markup=False)
                yield Static(id="payload", markup=False)
            yield Input(id="reason")
            yield OptionList(id="picks")
            yield TextArea(id="editor", soft_wrap=True, tab_behavior="indent", show_line_numbers=True)
            yield Static(id="error", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Approve ⏎", variant="success", id="approve")
                yield Button("Reject (r)", variant="error", id="reject")
                yield Button("Edit (e)", variant="primary", id="edit")
                yield Button("Always allow (a)", id="allow")
                yield Button("Save edit (ctrl+s)", variant="primary", id="save")

    def on_mount(self) -> None:
        self._ready = True
        self.set_interval(0.5, self._countdown)
        self.sync()

    # -- which escalation ---------------------------------------------------------

    def sync(self) -> None:
        """Show the oldest escalation still waiting; close when none is left. Before it is
        mounted there is nothing to show it in: mounting shows what waits then."""
        if not self._ready:
            return
        waiting = [e for e in self.host.pending_escalations() if e.escalation_id not in self._decided]
        if not waiting:
            self._close(hidden=False)
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
        self.query_one("#why", Static).update(Content.assemble(("Why: ", "bold"), e.reason))
        self.query_one("#rule", Static).update(
            Content.assemble(("Rule: ", "bold"), e.rule, ("  ·  options: " + ", ".join(e.options), "dim"))
        )
        self._show_tool(e)
        payload = self.query_one("#payload", Static)
        if e.tool is not None:
            payload.update(input_content(e.tool, e.payload))
        elif isinstance(e.payload, dict) and "steps" in e.payload:
            payload.update(proposed_plan(e.payload))  # the plan being approved, not the one shown elsewhere
        elif e.payload is None:
            payload.update(Content("(nothing to show)"))
        else:
            payload.update(Content(pretty(e.payload)))
        for action, key in KEYS.items():
            choice = e.choice(action)
            button = self.query_one(f"#{action}", Button)
            button.label = Content(f"{choice.label} {key}" if key == "⏎" else f"{choice.label} ({key})") if choice else Content("")
        self._error(None)
        self._set_mode("choose")
        self._countdown()

    def _show_tool(self, e: EscalationRequested) -> None:
        """For a tool use: the tool and its server above, its description over the input."""
        line, about = self.query_one("#tool", Static), self.query_one("#about", Static)
        sandbox = self.query_one("#sandbox", Static)
        line.display = about.display = e.tool is not None
        sandbox.display = e.tool is not None and e.tool.sandbox is not None
        if e.tool is None:
            return
        if e.tool.sandbox is not None:
            sandbox.update(sandbox_content(e.tool.sandbox))
        if e.tool.server is not None:
            line.update(Content.assemble(("Tool: ", "bold"), e.tool.short_name, ("  ·  server: ", "bold"), e.tool.server))
        else:
            line.update(Content.assemble(("Tool: ", "bold"), e.tool.short_name, ("  ·  built in", "dim")))
        about.update(Content(e.tool.description or "(no description)"))

    def _countdown(self) -> None:
        e = self.current
        label = self.query_one("#countdown", Static)
        if e is None or not e.timeout_s:
            label.display = False
            return
        left = max(0, int(e.ts + e.timeout_s - self.host.now()))
        label.display = True
        label.update(Content.styled(f"Decides {e.default} by itself in {left}s", "bold $text-warning"))

    def _error(self, message: str | None) -> None:
        """Say why the last answer was not taken, or nothing: the line then takes no room."""
        error = self.query_one("#error", Static)
        error.display = message is not None
        error.update(Content.styled(f"✗ {clean_line(message)}", "bold $text-error") if message is not None else "")

    # -- modes ------------------------------------------------------------------

    def _set_mode(self, mode: str, choice: Choice | None = None) -> None:
        """Show the choices ("choose"), the input `choice` asks for ("line", "pick", "json"),
        or the two ways to always allow a tool use ("scope")."""
        self.mode, self.choice = mode, choice
        self.query_one("#reason", Input).display = mode == "line"
        self.query_one("#picks", OptionList).display = mode in ("pick", "scope")
        self.query_one("#editor", TextArea).display = mode == "json"
        self.query_one("#stake").display = mode != "json"
        self.query_one("#save", Button).display = mode == "json"
        self.query_one("#allow", Button).display = mode == "choose" and self._may_allow()
        offered = self.current.options if self.current is not None else []
        for action in KEYS:  # while answering a choice: its own button, to submit; while editing, reject too
            answering = choice is not None and choice.action == action and mode == "line"
            shown = action in offered and (mode == "choose" or answering or (mode == "json" and action == "reject"))
            self.query_one(f"#{action}", Button).display = shown
        if mode == "choose":
            first = next((f"#{action}" for action in KEYS if action in offered), "#allow")
            self.query_one(first, Button).focus()
        elif mode == "line":
            self.query_one("#reason", Input).focus()
        elif mode in ("pick", "scope"):
            self.query_one("#picks", OptionList).focus()
        else:
            self.query_one("#editor", TextArea).focus()

    def _may_allow(self) -> bool:
        """Whether "always allow" is offered for the escalation shown (not for code that
        would run unconfined)."""
        return self.current is None or may_always_allow(self.current.tool)

    def action_read(self, how: str) -> None:
        """Scroll what is at stake, whatever has the focus (a button, mostly): a plan or
        an input longer than the dialog is read to its end before it is approved."""
        stake = self.query_one("#stake", VerticalScroll)
        if stake.display:
            getattr(stake, f"scroll_{how}")(animate=False)

    def action_back(self) -> None:
        if self.mode == "json" and self.current is not None:
            self._drafts[self.current.escalation_id] = self.query_one("#editor", TextArea).text
        if self.mode != "choose":
            self._error(None)
            self._set_mode("choose")
        else:
            self._close(hidden=True)

    def _close(self, *, hidden: bool) -> None:
        """Close, showing nothing more: what comes while it is taken down is for whoever opened
        it. Once only: a second dismissal would take down the screen below."""
        if self._ready:
            self._ready = False
            self.dismiss(hidden)

    # -- decisions ----------------------------------------------------------------

    def _decide(self, decision: Decision) -> bool:
        assert self.current is not None
        try:
            self.host.decide(self.current.escalation_id, decision)
        except DecisionError as error:
            self._error(str(error))
            return False
        self._decided.add(self.current.escalation_id)
        self._drafts.pop(self.current.escalation_id, None)
        self.sync()
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Typing in the reason or the editor must not trigger the single-key choices.
        if action in ("choose", "allow") and self.mode != "choose":
            return False
        if action == "allow" and not self._may_allow():
            return False
        if action == "save" and self.mode != "json":
            return False
        return True

    @on(Button.Pressed, "#approve, #reject, #edit")
    def _pressed(self, message: Button.Pressed) -> None:
        if self.mode == "line" and self.choice is not None and message.button.id == self.choice.action:
            self._submit_line()  # its button again: submit what was typed
        elif self.mode in ("choose", "json"):
            if self.mode == "json" and self.current is not None:  # refused after all: the edit is kept
                self._drafts[self.current.escalation_id] = self.query_one("#editor", TextArea).text
            self.action_choose(message.button.id or "")

    def action_choose(self, action: str) -> None:
        """Take the choice that makes `action`: decide now, or ask for what it needs."""
        choice = self.current.choice(action) if self.current is not None else None
        if choice is None:
            return
        self._error(None)
        mode = MODES.get(choice.input)
        if mode is None:
            self._decide(answer(choice))
        elif mode == "line":
            line = self.query_one("#reason", Input)
            line.value = ""
            line.placeholder = f"{choice.label}: {choice.prompt or 'your answer'}. Enter {'submits' if choice.action != 'reject' else 'rejects'}."
            self._set_mode("line", choice)
        elif mode == "pick":
            picks = self.query_one("#picks", OptionList)
            picks.clear_options()
            picks.add_options([Option(Content(pick)) for pick in choice.picks])
            picks.highlighted = 0 if choice.picks else None
            picks.border_title = Content(f"{choice.label}: {choice.prompt or 'pick one'}")
            self._set_mode("pick", choice)
        else:
            assert self.current is not None
            editor = self.query_one("#editor", TextArea)
            editor.text = self._drafts.get(self.current.escalation_id) or json.dumps(
                self.current.payload, indent=2, ensure_ascii=False
            )
            self._set_mode("json", choice)

    def _answer(self, text: str) -> bool:
        """Decide with the choice being answered and what was given for it."""
        assert self.choice is not None
        try:
            decision = answer(self.choice, text)
        except DecisionError as error:
            self._error(str(error))
            return False
        return self._decide(decision)

    @on(Input.Submitted, "#reason")
    def _submit_line(self) -> None:
        if self._answer(self.query_one("#reason", Input).value):
            self.query_one("#reason", Input).value = ""

    @on(OptionList.OptionSelected, "#picks")
    def _picked(self, message: OptionList.OptionSelected) -> None:
        if self.mode == "scope":
            self._allow_tool(exact=message.option_index == 1)
        elif self.choice is not None:
            self._answer(self.choice.picks[message.option_index])

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        assert self.current is not None
        text = self.query_one("#editor", TextArea).text
        self._drafts[self.current.escalation_id] = text
        self._answer(text)

    @on(Button.Pressed, "#allow")
    def action_allow(self) -> None:
        if self.current is None or not self._may_allow():
            return
        if self.current.tool is not None:
            self._ask_scope(self.current)
            return
        trigger = self.current.trigger
        self.host.allow_always(trigger)
        self._decided |= {e.escalation_id for e in self.host.pending_escalations() if e.trigger == trigger}
        self.notify(f"{trigger} escalations are approved for the rest of this session.", timeout=3, markup=False)
        self.sync()

    def _ask_scope(self, e: EscalationRequested) -> None:
        """Offer the two ways to always allow a tool use's tool."""
        assert e.tool is not None
        picks = self.query_one("#picks", OptionList)
        picks.clear_options()
        picks.add_options([Option(Content(f"{e.tool.name} with {scope}")) for scope in SCOPES])
        picks.highlighted = 0
        picks.border_title = Content(f"Always allow {e.tool.name} for this session")
        self._error(None)
        self._set_mode("scope")

    def _allow_tool(self, *, exact: bool) -> None:
        """Always allow the current tool use's tool (with this input, if `exact`)."""
        e = self.current
        assert e is not None and e.tool is not None
        try:
            self.host.allow_tool(e.escalation_id, exact=exact)
        except DecisionError as error:
            self._error(str(error))
            return
        name = e.tool.name
        self._decided |= {
            waiting.escalation_id for waiting in self.host.pending_escalations()
            if waiting.tool is not None and waiting.tool.name == name and (not exact or waiting.payload == e.payload)
        }
        scope = "with this input" if exact else "with any input"
        self.notify(f"{name} {scope} is allowed for the rest of this session.", timeout=3, markup=False)
        self._set_mode("choose")
        self.sync()

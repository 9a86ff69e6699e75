"""ConfirmScreen: a yes/no question before something that cannot be undone."""

from __future__ import annotations

from typing import NamedTuple

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class Question(NamedTuple):
    """What a confirmation asks: the question, what follows from it, the confirming
    button's label, and whether that undoes something (a red button)."""

    text: str
    detail: str = ""
    confirm: str = "Yes"
    danger: bool = True


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True when confirmed, False otherwise."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; height: auto; border: thick $warning; background: $surface; padding: 1 2;
        & > #question { text-style: bold; margin-bottom: 1; }
        & > #detail { color: $text-muted; margin-bottom: 1; }
        & > Horizontal { height: auto; align-horizontal: right; }
        & Button { margin-left: 1; }
    }
    """

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes"),
        Binding("n,escape", "cancel", "No", id="confirm.no"),
    ]

    def __init__(
        self, question: str, detail: str = "", *, confirm: str = "Yes", cancel: str = "Cancel", danger: bool = True
    ) -> None:
        super().__init__()
        self._question, self._detail = question, detail
        self._labels = (confirm, cancel)
        self._danger = danger
        self._answered = False
        """True once answered: it is being taken down, and takes neither another answer nor question."""

    @classmethod
    def asking(cls, question: Question) -> ConfirmScreen:
        return cls(question.text, question.detail, confirm=question.confirm, danger=question.danger)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._question), id="question")
            detail = Static(Content(self._detail), id="detail")
            detail.display = bool(self._detail)
            yield detail
            with Horizontal():
                yield Button(self._labels[1], id="cancel")
                yield Button(self._labels[0], variant="error" if self._danger else "primary", id="confirm")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def ask(self, question: Question) -> None:
        """Ask something else while open: what the question was about has changed."""
        self._question, self._detail = question.text, question.detail
        self._labels = (question.confirm, self._labels[1])
        self._danger = question.danger
        if not self.is_mounted or self._answered:
            return
        self.query_one("#question", Static).update(Content(question.text))
        detail = self.query_one("#detail", Static)
        detail.update(Content(question.detail))
        detail.display = bool(question.detail)
        button = self.query_one("#confirm", Button)
        button.label = Content(question.confirm)
        button.variant = "error" if question.danger else "primary"

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self._answer(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self._answer(False)

    def _answer(self, confirmed: bool) -> None:
        """The first answer only: a second (a button clicked twice) would dismiss the screen below."""
        if not self._answered:
            self._answered = True
            self.dismiss(confirmed)

"""ResultScreen: a finished session's answer, rendered, under how it ended."""

from __future__ import annotations

from typing import Protocol

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from tui.clipboard import copy
from tui.render import session_status
from tui.safe import clean, clean_line


class Ended(Protocol):
    """How a session ended: a finished `SessionView` or a stored `SessionRow`."""

    @property
    def status(self) -> str: ...
    @property
    def result(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def partial(self) -> bool: ...
    @property
    def failed_steps(self) -> int: ...
    @property
    def skipped_steps(self) -> int: ...


def banner(ended: Ended) -> Content:
    """The lines above the result: the status (with the steps that did not get done),
    whether the result is partial, and why the session ended as it did."""
    parts: list[Content | tuple[str, str] | str] = [
        session_status(ended.status, bold=True, failed_steps=ended.failed_steps, skipped_steps=ended.skipped_steps),
    ]
    if ended.partial:
        parts += ["\n", ("Partial result: ", "bold $text-warning"), "built from the work done before the session ended."]
    if ended.reason:
        parts += ["\n", ("Why: ", "bold"), clean_line(ended.reason)]
    return Content.assemble(*parts)


class ResultScreen(ModalScreen[None]):
    """The result is model text: it is cleaned, rendered as Markdown whose links do not
    open, and markup in it shows as written."""

    CSS_PATH = "result.tcss"

    BINDINGS = [
        Binding("escape,q,R", "close", "Close", id="result.close"),
        Binding("y", "copy", "Copy", id="result.copy", tooltip="Copy the result (its Markdown) to the clipboard"),
    ]

    def __init__(self, ended: Ended, *, title: str = "Result") -> None:
        super().__init__()
        self._ended = ended
        self._title = title
        self._text = clean(ended.result or "")

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(self._title)
            yield Static(banner(self._ended), id="banner")
            with VerticalScroll(id="body"):
                if self._text.strip():
                    yield Markdown(self._text, open_links=False)
                else:
                    yield Static(Content.styled("The session gave no result.", "dim"))
            yield Static(Content("y copies · escape closes"), id="hint")

    def on_mount(self) -> None:
        self.query_one("#body").focus()

    @on(Markdown.LinkClicked)
    def _link(self, message: Markdown.LinkClicked) -> None:
        self.notify(f"Link (not opened): {clean_line(message.href)}", timeout=4, markup=False)

    def action_copy(self) -> None:
        copy(self.app, "the result", self._text)

    def action_close(self) -> None:
        self.dismiss(None)

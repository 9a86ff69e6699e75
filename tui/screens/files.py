"""FilesScreen: the files a session's code left in its scratch folder, each with its size,
and where the folder is (the browser's `f`).

The folder is read in a worker (a large one takes a moment, and nothing blocks the
loop). File names were chosen by a model's code: they pass the gate and show as text.
"""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.clipboard import copy
from tui.scratch_shown import Scratch, read_scratch


class FilesScreen(ModalScreen[None]):
    """One session's scratch files, read when it opens."""

    CSS_PATH = "files.tcss"

    BINDINGS = [
        Binding("escape,q,f", "close", "Close", id="files.close"),
        Binding("y", "copy", "Copy folder", id="files.copy", tooltip="Copy where the scratch folder is"),
    ]

    def __init__(self, session_id: str, *, title: str) -> None:
        """`title`: what the border says (the session's, already through the gate)."""
        super().__init__()
        self.session_id = session_id
        self._title = title
        self.scratch: Scratch | None = None
        """The folder as read, once it is."""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Content(self._title)
            yield Static(Content.styled("Reading the scratch folder…", "dim"), id="where", markup=False)
            with VerticalScroll(id="list"):
                yield Static(id="files", markup=False)
            yield Static(Content("y copies the folder · escape closes"), id="hint")

    def on_mount(self) -> None:
        self.query_one("#list").focus()
        self._read()

    @work(group="files-read", exclusive=True)
    async def _read(self) -> None:
        scratch = await asyncio.to_thread(read_scratch, self.session_id)
        self.scratch = scratch
        self.query_one("#where", Static).update(Content(scratch.summary()))
        self.query_one("#files", Static).update(Content("\n".join(scratch.lines())))
        self.query_one("#list").display = bool(scratch.files)

    def action_copy(self) -> None:
        if self.scratch is not None:
            copy(self.app, "the scratch folder", str(self.scratch.folder))

    def action_close(self) -> None:
        self.dismiss(None)

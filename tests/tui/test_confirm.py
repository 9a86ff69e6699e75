"""The yes/no question: answered once, whatever is pressed after."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from tui.screens.confirm import ConfirmScreen, Question


class Below(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("what the question is asked over")


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool | None] = []

    def on_mount(self) -> None:
        self.push_screen(Below())


async def test_a_question_answered_twice_at_once_takes_the_first_and_leaves_the_screen_below() -> None:
    app = Host()
    async with app.run_test() as pilot:
        below = app.screen
        dialog = ConfirmScreen("Stop the session and leave?")
        app.push_screen(dialog, callback=app.answers.append)
        await pilot.pause()
        dialog.action_confirm()
        dialog.action_cancel()  # a second press already queued for it (a double click)
        dialog.ask(Question("Every session has finished. Quit?"))  # the sessions it was about ended meanwhile
        await pilot.pause()
        assert app.answers == [True]
        assert app.screen is below

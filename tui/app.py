"""HuddleApp: the terminal app. `make_app` builds it for the command line and for tests."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from engine.events import EventBase
from tui.bridge import LiveSession
from tui.screens.session import SessionScreen


class HuddleApp(App[None]):
    """Launch, watch and steer teams of agents."""

    CSS_PATH = "app.tcss"
    TITLE = "huddle"
    BINDINGS = [
        Binding("ctrl+q", "leave", "Quit", id="app.quit", tooltip="Leave huddle (asks first while a session runs)", priority=True),
    ]

    def __init__(self, live: LiveSession | None = None, *, events: list[EventBase] | None = None) -> None:
        super().__init__()
        self._live = live
        self._events = events

    def on_mount(self) -> None:
        if self._live is not None or self._events is not None:
            self.push_screen(SessionScreen(self._live, events=self._events))

    def action_leave(self) -> None:
        screen = self.screen
        if isinstance(screen, SessionScreen):
            screen.action_leave()
        else:
            self.exit()


def make_app(live: LiveSession | None = None, *, events: list[EventBase] | None = None) -> HuddleApp:
    """The app on a live session, or showing a session's recorded `events`."""
    return HuddleApp(live, events=events)

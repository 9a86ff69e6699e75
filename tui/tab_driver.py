"""TabDriver: Textual's web driver for the huddle a browser tab runs (`tui.serve_tab`), which
also ends the app when the server goes away.

The web driver reads its input (keys, resizes, "quit") from the server through a pipe. When
the server dies without saying "quit" (killed, crashed), the pipe just ends, and Textual's
driver leaves the app running with no one to see it, a session it runs included. This one
asks the app to exit then, as a closed tab does, so the session records how it ended.
"""

from __future__ import annotations

from textual import messages
from textual.drivers.web_driver import WebDriver


class TabDriver(WebDriver):
    """The web driver, plus: input ended before the app did → the app exits."""

    def run_input_thread(self) -> None:
        super().run_input_thread()
        if not self.exit_event.is_set():  # the server went away: no one will say "quit"
            self._app.post_message(messages.ExitApp())

"""ReplayBar: where playback is, how fast it goes, how much is loaded."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tui.replay import ReplayClock, speed_label
from engine.formats import clock as fmt_clock, count


class ReplayBar(Static):
    DEFAULT_CSS = """
    ReplayBar { height: 1; background: $secondary-muted; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, replay: ReplayClock, *, playing: bool, speed: float | None, elapsed: float) -> None:
        total = replay.total if replay.total is not None else replay.loaded
        state = ("▶ playing", "bold $text-success") if playing else ("‖ paused", "bold $text-warning")
        if replay.at_end:
            state = ("■ end", "bold")
        loading = "" if replay.complete else f" (loading {replay.loaded * 100 // max(total, 1)}%)"
        self.update(Content.assemble(  # one line, as wide as the screen: no layout needed
            state, " ", (speed_label(speed), "bold"), " · event ",
            (count(replay.position), "bold"), f" of {count(total)}{loading} · at +{fmt_clock(elapsed)} · ",
            ("recorded session: nothing is called", "dim"),
        ), layout=False)

"""The replay clock: which stored events have "happened" at a point of playback.

Events are applied in order; playback time runs at a chosen speed, and long
idle stretches (a person thinking over an approval) are shortened to
`MAX_GAP` so a replay never sits still for minutes. Nothing here touches the
screen or a model.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from engine.events import EventBase

SPEEDS: tuple[float | None, ...] = (1.0, 4.0, 16.0, None)
"""Playback speeds; None is instant (straight to the end)."""
MAX_GAP = 2.0
"""Seconds of the recording that one quiet stretch may take in playback, at 1x."""


def speed_label(speed: float | None) -> str:
    return "instant" if speed is None else f"{speed:g}x"


class ReplayClock:
    """Maps stored events onto playback time and tracks how far playback has got."""

    def __init__(self) -> None:
        self.events: list[EventBase] = []
        self._times: list[float] = []
        """Each event's playback time in seconds from the start, idle gaps shortened."""
        self.position = 0
        """How many events have been applied."""
        self.time = 0.0
        self.total: int | None = None
        """How many events the session has, when known."""

    def extend(self, events: Sequence[EventBase]) -> None:
        for event in events:
            if self.events:
                gap = max(0.0, event.ts - self.events[-1].ts)
                self._times.append(self._times[-1] + min(gap, MAX_GAP))
            else:
                self._times.append(0.0)
            self.events.append(event)

    @property
    def loaded(self) -> int:
        return len(self.events)

    @property
    def complete(self) -> bool:
        return self.total is not None and len(self.events) >= self.total

    @property
    def at_end(self) -> bool:
        return self.complete and self.position >= len(self.events)

    def advance(self, seconds: float, speed: float | None) -> int:
        """Move playback on by `seconds` of real time; the position it reaches."""
        if speed is None:
            target = len(self.events)
        else:
            self.time += seconds * speed
            target = bisect.bisect_right(self._times, self.time)
        self.position = max(self.position, min(target, len(self.events)))
        return self.position

    def seek(self, position: int) -> int:
        """Jump to just after event number `position` (0: before the first)."""
        self.position = max(0, min(position, len(self.events)))
        self.time = self._times[self.position - 1] if self.position else 0.0
        return self.position

    def index_of_seq(self, seq: int) -> int:
        """The position just after the event with this seq (events are gap-free from 1)."""
        return min(seq, len(self.events))

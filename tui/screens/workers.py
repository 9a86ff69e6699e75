"""CancelWorkersFirst: a screen's workers stop before any of its widgets goes."""

from __future__ import annotations

from typing import Any

from textual.messages import Prune
from textual.screen import Screen


class CancelWorkersFirst:
    """Mixed into a screen whose workers touch its widgets after an await (a page of
    rows loaded, a session deleted, a replay's events read).

    Textual (8.2) cancels a screen's workers when the screen is unmounted, and a
    screen is unmounted only after its widgets have been removed: a worker whose
    await ends in between finds its widgets gone and raises `NoMatches`. The first
    thing a screen hears when it goes (popped, switched away, the app quitting) is
    `Prune`, which also stops its timers; its workers are cancelled there too, so
    each stops at the await it is in while every widget is still in place.
    """

    def _on_prune(self: Screen[Any], event: Prune) -> None:
        self.workers.cancel_node(self)

"""A session's row as its events are recorded: the changing columns, folded by the
session state (`engine.state`), so the row, the screens and the exports count alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from engine.events import EventBase, SessionResumed
from engine.state import SessionState
from sessions.search import SEARCHED


class SessionTally:
    """The changing part of a session's row, read from the session state (`engine.state`)
    its events fold into as they are recorded: the row, the screens and the exports
    count the same way."""

    def __init__(self, session_id: str, *, created_at: float) -> None:
        self.session_id = session_id
        self.created_at = created_at
        self.state = SessionState()
        """The session's events folded, but those `held`."""
        self.resumes = 0
        """How many times the session was resumed."""
        self._held: list[EventBase] = []
        """Events not folded yet: the last batch's of a session that ended in it (`feed`)."""
        self._end: SessionState | None = None
        """Its `session.finished` alone, folded: what its row says once it ended."""

    @classmethod
    def of_record(cls, events: Sequence[EventBase]) -> SessionTally:
        """The tally of a session recorded so far (`events`, all of them, from its
        `session.started`): where a resume of it carries on counting."""
        tally = cls(events[0].session_id, created_at=events[0].ts)
        for event in events:
            tally.feed(event)
        return tally

    def feed(self, event: EventBase, *, ending: bool = False) -> str | None:
        """Fold one event in (events come in `seq` order); return the text it adds to
        the search index, if any. Cheap for the common kinds: deltas are most of a session.

        `ending`: the session's `session.finished` is this event or comes later in the same
        batch. The row of an ended session is what that event says, so the events before
        it are held rather than folded (most of a short session's work, a batch that is
        all of it); should anything follow them, they are folded first, in order."""
        if ending:
            self._held.append(event)
            if event.kind == "session.finished":
                self._end = SessionState()
                self._end.apply(event)
        else:
            if self._held:
                self._fold_held()
            self.state.apply(event)
        if isinstance(event, SessionResumed):
            self.resumes += 1
        searched = _SEARCHED.get(event.kind)
        return searched(event) if searched is not None else None

    @property
    def finished(self) -> bool:
        return self._end is not None or self.state.finished

    def _fold_held(self) -> None:
        for event in self._held:
            self.state.apply(event)
        self._held.clear()
        self._end = None

    def values(self) -> dict[str, Any]:
        """The columns an update writes. While the session is live, its status says
        whether it waits for a person, and its duration runs to its latest event."""
        state = self._end if self._end is not None else self.state
        totals = state.totals
        updated_at = state.last_ts if state.last_ts is not None else self.created_at
        if state.finished:
            status, duration_s = state.status, state.duration_s
        else:  # the time it has worked so far (a resume's time away left out)
            status = "waiting" if state.pending else "running"
            duration_s = round(max(0.0, state.offset(updated_at)), 3)
        return {
            "id": self.session_id,
            "updated_at": updated_at,
            "status": status,
            "tokens_in": totals.tokens_in,
            "tokens_out": totals.tokens_out,
            "cost": round(totals.cost, 8),
            "calls": totals.calls,
            "turns": totals.turns,
            "duration_s": duration_s,
            "result": state.result,
            "reason": state.reason,
            "partial": int(state.partial),
            "last_seq": state.seq,
            "failed_steps": state.failed_steps,
            "skipped_steps": state.skipped_steps,
            "unpriced": totals.unpriced,
            "resumes": self.resumes,
        }


_SEARCHED: dict[str, Callable[[Any], str]] = {kind: attrgetter(name) for kind, name in SEARCHED.items()}

"""Reading a session's events, the same on every store: each store gives its events as
(seq, JSON text) pages (`_stored`), and this makes them events, or passes the text on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from engine.events import Event
from sessions.errors import StoreError

_EVENTS = TypeAdapter(list[Event])


class EventReading:
    """What a store reads alike: events by page, all of them, or their JSON text."""

    if TYPE_CHECKING:  # what each store gives
        path: Any
        """Where the store is, as messages say it."""

        async def _stored(self, session_id: str, after_seq: int, limit: int) -> list[tuple[int, str]]:
            """Up to `limit` (seq, JSON text) of a session's events with `seq` above `after_seq`, in order."""

    def _damaged_event(self, session_id: str, seq: Any, problem: str) -> StoreError:
        where = self.path
        return StoreError(
            f"huddle: event {seq} of session {session_id} in {where} cannot be read ({problem}): "
            "the row is damaged, or a newer huddle wrote it",
            path=where if isinstance(where, Path) else None,
        )

    async def load_events(self, session_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Up to `limit` events of a session with `seq` above `after_seq`, in order."""
        found = await self._stored(session_id, after_seq, limit)
        if not found:
            return []
        try:
            return _EVENTS.validate_json("[" + ",".join(data for _, data in found) + "]")
        except ValidationError as error:
            first = error.errors()[0]
            loc = first["loc"]
            where = loc[0] if loc and isinstance(loc[0], int) and loc[0] < len(found) else 0
            field = ".".join(str(part) for part in loc[1:])
            problem = f"{field}: {first['msg']}" if field else str(first["msg"])
            raise self._damaged_event(session_id, found[where][0], problem) from error

    async def iter_events(self, session_id: str, *, page: int = 1000) -> AsyncIterator[Event]:
        """Every event of a session, in order, loaded `page` at a time."""
        after = 0
        while True:
            events = await self.load_events(session_id, after_seq=after, limit=page)
            for event in events:
                yield event
            if len(events) < page:
                return
            after = events[-1].seq

    async def iter_event_json(self, session_id: str, *, page: int = 1000) -> AsyncIterator[str]:
        """Every event of a session as the JSON text it is stored as (see
        `engine.events.event_to_json`), in order, read `page` at a time, never parsed."""
        after = 0
        while True:
            found = await self._stored(session_id, after, page)
            for _, data in found:
                yield data
            if len(found) < page:
                return
            after = found[-1][0]

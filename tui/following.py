"""Following a session another process records: its events, read from the store as they
are committed. What an attached screen (`huddle attach`) shows; nothing here needs Textual.

    follower = Follower(store, session_id)
    async for page in follower.pages():  # what is recorded, then new events as they come
        view.apply_all(page)
    follower.ended                       # why it stopped: the session's row as it ended

The process running a session is the only writer of its events: the follower reads the
events after the last one it has (an indexed read) as soon as the store tells it the
session changed (PostgreSQL's LISTEN/NOTIFY), or every `POLL_S` seconds where nothing
tells (a SQLite file), so a new event is read within a tenth of a second of its commit. It stops when the session is no longer live: it finished (its
`session.finished` is the last event, its row no longer `running` or `waiting`), or its
row says it ended otherwise (its process died, and any huddle opening the store marks
it `interrupted`; the follower looks for that every `CHECK_S` seconds).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from engine.events import EventBase, SessionFinished
from sessions.rows import LIVE_STATES, SessionRow
from sessions.store import SessionStore

POLL_S = 0.1
"""How often the follower reads the events committed since its last look."""
CHECK_S = 1.0
"""How often, while no event comes, it checks the session is still live (its process alive)."""
PAGE = 2_000
"""Most events read at a time: catching up on a long session, a page after another."""


class Follower:
    """Reads session `session_id`'s events from `store`, after `after_seq`, until it ends."""

    def __init__(
        self, store: SessionStore, session_id: str, *, after_seq: int = 0, poll_s: float = POLL_S,
        check_s: float = CHECK_S, page: int = PAGE,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.last_seq = after_seq
        """The seq of the last event read."""
        self.poll_s = poll_s
        self.check_s = check_s
        self.page = page
        self.caught_up = False
        """True once everything recorded when it started following has been read."""
        self.was_live = False
        """True once the session was found live after catching up; False when it had
        ended before it was followed (its record is then all there is)."""
        self.ended: SessionRow | None = None
        """The session's row once it is no longer live (its status and reason say how it
        ended); None while it runs."""

    @property
    def following(self) -> bool:
        """True until the session is found to have ended."""
        return self.ended is None

    async def pages(self) -> AsyncIterator[list[EventBase]]:
        """The session's events, a page at a time: what is recorded already, at once, then
        new ones as they are committed, until the session is no longer live (`ended`).
        A store that cannot be read raises its `StoreError`."""
        loop = asyncio.get_running_loop()
        checked = -math.inf  # once caught up, at once: a session that ended long ago is told at once
        while True:
            page = await self._read()
            full = len(page) == self.page  # more may be waiting: the next page at once
            self.caught_up |= not full
            if page:
                yield page
            if full:
                continue
            if (page and isinstance(page[-1], SessionFinished)) or loop.time() - checked >= self.check_s:
                checked = loop.time()
                row = await self._row()
                if row.status not in LIVE_STATES:
                    while rest := await self._read():  # committed before its row said it ended
                        yield rest
                    self.ended = row
                    return
                self.was_live = True
            await self.store.wait_for_change(self.session_id, self.poll_s)  # woken by a commit where the store can

    async def _read(self) -> list[EventBase]:
        page = await self.store.load_events(self.session_id, after_seq=self.last_seq, limit=self.page)
        if page:
            self.last_seq = page[-1].seq
        return page

    async def _row(self) -> SessionRow:
        """The session's row now; one whose process on this machine has died is marked
        `interrupted` first, as opening the store would."""
        await self.store.mark_interrupted()
        return await self.store.get_session(self.session_id)


def ended_line(row: SessionRow) -> str:
    """What a person reads when a session they follow is no longer running: its status,
    and why it ended, if its row says."""
    why = f" ({row.reason})" if row.reason else ""
    return f"session {row.id} is no longer running: {row.status}{why}"

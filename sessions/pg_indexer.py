"""The search documents of a PostgreSQL store's recorded batches, written just after each
batch commits, on a connection of their own.

Parsing and indexing the documents (`to_tsvector`, the GIN index) is half of what the
server does for a recorded batch. Written in the batch's transaction, the recorder's
next batch waited for it; here the server does it on another connection, meanwhile.
Each session's documents are written, then its `sessions.indexed_seq` is moved on to
the last of them, only from where the ones before ended: documents not written (the
process ended in between, or the write failed) are written from the events when the
database is next opened (`PgSessionStore.open`), and a document written twice is kept
once. Each is one statement, in a transaction of its own: no transaction stays open
between two round trips, and this connection holds one session's row for a moment
only, so a batch being written (which updates it) hardly waits, and never deadlocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sessions.pg_errors import close_connection
from sessions.pg_schema import SEARCH_CONFIG

if TYPE_CHECKING:
    import asyncpg

    from sessions.store import EventRow

log = logging.getLogger(__name__)

INSERT_DOCUMENTS = f"""
    INSERT INTO search (session_id, seq, document)
    SELECT $1, d.seq, to_tsvector('{SEARCH_CONFIG}', d.body) FROM unnest($3::bigint[], $4::text[]) AS d (seq, body)
    WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND indexed_seq = $2 FOR KEY SHARE)
    ON CONFLICT DO NOTHING
"""
"""A session's documents, if those before them were written (its `indexed_seq` is where
they start); written again, a document is left as it is. Its row is locked (FOR KEY
SHARE): a delete of the session being committed is waited for, and then there is no
session to write for; without the lock, the documents went in after the delete had
removed the session's, and stayed. A batch's update of the row neither waits for it nor
is waited for."""
MOVE_ON = "UPDATE sessions SET indexed_seq = $3 WHERE id = $1 AND indexed_seq = $2"
"""Then its `indexed_seq`, moved on to the last of them."""


@dataclass
class _Span:
    """A session's events committed and not indexed yet: from `first` to `last`, and the
    documents (seq, text) among them."""

    first: int
    last: int
    documents: list[tuple[int, str]] = field(default_factory=list)


class PgIndexer:
    """Writes the search documents of committed batches (`add`), in order, on a
    connection `connect` makes when first needed. `fold` makes a text what PostgreSQL
    indexes (`pg_search.document`); `describe` makes an error the line that says it."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        fold: Callable[[str], str],
        describe: Callable[[BaseException], str],
    ) -> None:
        self._connect = connect
        self._fold = fold
        self._describe = describe
        self._db: asyncpg.Connection | None = None
        self._pending: dict[str, _Span] = {}
        self._behind: set[str] = set()
        """Sessions whose documents were not written once: none after are (`INSERT_DOCUMENTS`
        would refuse them), until the database is next opened."""
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, events: Sequence[EventRow], documents: Sequence[tuple[str, int, str]]) -> None:
        """A batch committed: its events (rows), and the search documents among them."""
        firsts = {session_id: seq for session_id, seq, *_ in reversed(events)}
        lasts = {session_id: seq for session_id, seq, *_ in events}
        for session_id, first in firsts.items():
            span = self._pending.get(session_id)
            if span is None:
                self._pending[session_id] = _Span(first, lasts[session_id])
            else:  # the batch after the one still waiting
                span.last = lasts[session_id]
        for session_id, seq, text in documents:
            self._pending[session_id].documents.append((seq, text))
        if self._pending and self._task is None:
            self._idle.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="huddle-pg-indexer")

    async def written(self) -> None:
        """Wait until the documents of every batch added so far are written (or given up)."""
        await self._idle.wait()

    async def close(self, timeout: float) -> None:
        """Write what waits (for `timeout` seconds at most), then close the connection."""
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.written()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        db, self._db = self._db, None
        if db is not None:
            await close_connection(db)

    async def _run(self) -> None:
        try:
            while self._pending:
                pending, self._pending = self._pending, {}
                for session_id, span in pending.items():
                    if session_id not in self._behind:
                        await self._write(session_id, span)
        finally:
            self._task = None
            self._idle.set()

    async def _write(self, session_id: str, span: _Span) -> None:
        """One session's documents (`INSERT_DOCUMENTS`), then its `indexed_seq` (`MOVE_ON`);
        an error is said in the log, and the documents are left to the database's next open."""
        try:
            db = self._db = self._db or await self._connect()
            if span.documents:
                seqs = [seq for seq, _ in span.documents]
                bodies = [self._fold(text) for _, text in span.documents]
                await db.execute(INSERT_DOCUMENTS, session_id, span.first - 1, seqs, bodies)
            if await db.execute(MOVE_ON, session_id, span.first - 1, span.last) != "UPDATE 1":
                self._behind.add(session_id)  # deleted, or its earlier documents were not written
        except Exception as error:  # noqa: BLE001 - said, and left to the next open
            self._behind.add(session_id)
            log.warning("search documents of session %s not written now (they are when the database is next "
                        "opened): %s", session_id, self._describe(error))
            db, self._db = self._db, None
            if db is not None:
                db.terminate()

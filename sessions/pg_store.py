"""PgSessionStore: every session and its events in a PostgreSQL database, shared by a team.

The same public methods, and the same meaning, as `sessions.store.SessionStore`
(SQLite): the recorder, the browser, the inbox and the exports use either alike.
One asyncpg connection serves a store; its operations take turns under one lock
(a connection runs one at a time), and a write transaction holds the lock from
its first statement to its commit, as the SQLite store's does. Events are kept as
the JSON text they were written as; search runs on PostgreSQL's own text search, over
text folded and cut to fit in Python (`sessions.pg_search`).
Every error leaves as a `StoreError` whose text is one line naming the database
(without its password: `path`) and what to do. A server that cannot be reached or a
connection that was lost is `StoreUnreachable`: the next operation connects anew (the
listening connection too), so a store whose server comes back works again.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from engine.events import EscalationRequested
from engine.formats import one_line
from sessions import decisions, pg_schema
from sessions.decisions import Posted
from sessions.reading import EventReading
from sessions.errors import (
    AmbiguousId, NoDatabase, SchemaTooNew, SessionBusy, SessionNotFound, StoreUnreachable,
)
from sessions.pg_errors import Dsn, cannot_connect, close_connection, from_pg_error
from sessions.pg_indexer import PgIndexer
from sessions.pg_schema import SCHEMA, SCHEMA_VERSION, SEARCH_CONFIG
from sessions.pg_search import document, fold
from sessions.rows import COLUMNS, LIVE_STATES, SessionRow
from sessions.liveness import HOST, process_gone, why_ended
from sessions.listing import LIVE_ROWS, SELECT_ROW as _SELECT_ROW, short_ids as short_prefixes
from sessions.search import SEARCHED, UNINDEXED
from sessions.store import DEFAULT_BUSY_TIMEOUT, Batch, EventRow

if TYPE_CHECKING:
    import asyncpg

REINDEX_PAGE = 500
"""Events read at a time when an upgrade makes every search document again (`PgMigration.reindex`)."""
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the server to accept a connection before giving up."""
CHANNEL = "huddle"
"""The LISTEN/NOTIFY channel a write tells the ids of the sessions it changed on (`wait_for_change`)."""
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', id) FROM unnest($1::text[]) AS id"

_T = TypeVar("_T")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ROW_COLUMNS = ", ".join(COLUMNS)
_STARTED = ("id", "created_at", "updated_at", "task", "title", "pattern", "team", "agents", "provider",
            "models", "seed", "status", "pid", "host", "last_seq", "parent_id", "forked_at", "heartbeat")
_INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_STARTED)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_STARTED) + 1))})"
)
_UPDATED = ("updated_at", "status", "tokens_in", "tokens_out", "cost", "calls", "turns", "duration_s", "result",
            "reason", "partial", "last_seq", "failed_steps", "skipped_steps", "unpriced", "resumes", "id")
_UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{column} = ${n}" for n, column in enumerate(_UPDATED[:-1], start=1))
    + f" WHERE id = ${len(_UPDATED)}"
)
_RESUME_SESSION = """
    UPDATE sessions SET status = 'running', pid = $2, host = $3, heartbeat = $5
    WHERE id = $1 AND last_seq = $4 AND status NOT IN ('running', 'waiting', 'completed')
"""
"""A resumed session's row taken over by the process carrying it on (see `store._RESUME_SESSION`)."""
_EVENT_COLUMNS = ("session_id", "seq", "ts", "kind", "agent", "data")
_INSERT_EVENTS = """
    INSERT INTO events (session_id, seq, ts, kind, agent, data)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::text[], $5::text[], $6::text[])
"""
_INSERT_DOCUMENTS = f"""
    INSERT INTO search (session_id, seq, document)
    SELECT id, seq, to_tsvector('{SEARCH_CONFIG}', body) FROM unnest($1::text[], $2::bigint[], $3::text[]) AS d (id, seq, body)
    ON CONFLICT DO NOTHING
"""
"""Search documents (`_document_columns`); one there already is left as it is: the documents
made again at open (`_index_again`) may meet those a process wrote just before it stopped,
its `indexed_seq` not yet moved on (`pg_indexer`)."""
_ANY_UNINDEXED = f"SELECT EXISTS (SELECT 1 FROM sessions AS s WHERE {UNINDEXED})"
_INDEXED = "UPDATE sessions SET indexed_seq = last_seq WHERE id = $1"
"""A session's search documents are all written (`pg_indexer`)."""
SORT_KEYS: dict[str, str] = {
    "created_at": "created_at",
    "title": 'lower(title) COLLATE "C"',
    "pattern": 'pattern COLLATE "C"',
    "status": 'status COLLATE "C"',
    "agent_count": "json_array_length(agents::json)",
    "tokens": "tokens_in + tokens_out",
    "cost": "cost",
    "duration_s": "duration_s",
}
"""What sessions can be listed by (the keys of `store.SORT_KEYS`) and the SQL it sorts on:
the only text that reaches ORDER BY. Text sorts by code point, as SQLite's does."""
_SEARCH_MATCHING = f"id IN (SELECT session_id FROM search WHERE document @@ to_tsquery('{SEARCH_CONFIG}', ${{n}}))"
_WAITING_ESCALATIONS = f"""
    SELECT e.session_id, e.seq, {", ".join(f"s.{column}" for column in COLUMNS)}, e.data
    FROM events AS e JOIN sessions AS s ON s.id = e.session_id
    WHERE s.status IN ('running', 'waiting') AND e.kind = 'escalation.requested'
      AND (e.data::json ->> 'human') = 'true'
      AND e.seq > coalesce((SELECT max(x.seq) FROM events AS x
                            WHERE x.session_id = e.session_id AND x.kind = 'session.resumed'), 0)
      AND NOT EXISTS (SELECT 1 FROM events AS r
                      WHERE r.session_id = e.session_id AND r.kind = 'escalation.resolved' AND r.seq > e.seq
                        AND (r.data::json ->> 'escalation_id') = (e.data::json ->> 'escalation_id'))
      AND NOT EXISTS (SELECT 1 FROM decisions AS d
                      WHERE d.session_id = e.session_id AND d.escalation_id = (e.data::json ->> 'escalation_id'))
    ORDER BY e.ts, e.session_id, e.seq
"""
"""Escalations waiting for a person (`PgSessionStore.waiting_escalations`)."""


def search_query(text: str) -> str | None:
    """A `to_tsquery` text for what the user typed: every word must appear, each as a
    prefix ("limit" finds "limiter"), as `search.match_query` asks of SQLite, folded as
    the documents are (`pg_search.fold`: "RESUME" finds "résumé"). Each word is quoted,
    so `&`, `|`, `!`, `:` and the like are searched for, never run as operators. None
    when there is nothing to search for."""
    words = fold(storable(text)).split()
    if not words:
        return None
    return " & ".join("'" + word.replace("\\", "\\\\").replace("'", "''") + "':*" for word in words)


def storable(value: Any) -> Any:
    """`value` as PostgreSQL text can hold it: a NUL (which it refuses) and a lone surrogate
    (which UTF-8 cannot carry) each become U+FFFD. SQLite keeps them; no screen shows them
    anyway. Anything but text is left as it is."""
    if not isinstance(value, str) or "\x00" not in value and value.isascii():
        return value
    return _UNSTORABLE.sub("\ufffd", value)


def _storable_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(storable(value) for value in row) for row in rows]


def _document_columns(documents: Sequence[tuple[str, int, str]]) -> tuple[list[str], list[int], list[str]]:
    """Search documents (session id, seq, text) as the columns `_INSERT_DOCUMENTS` takes,
    each text as PostgreSQL indexes it (`pg_search.document`)."""
    return (
        [storable(session_id) for session_id, _, _ in documents],
        [seq for _, seq, _ in documents],
        [document(storable(text)) for _, _, text in documents],
    )


def _searched_text(kind: str, data: str) -> str | None:
    """The text an event's search document holds (`search.SEARCHED`), from its stored JSON;
    None when it has none, or its JSON cannot be read (its replay says so)."""
    try:
        text = json.loads(data).get(SEARCHED[kind])
    except (ValueError, AttributeError):
        return None
    return text if isinstance(text, str) and text else None


def _changed(status: str) -> int:
    """The rows an INSERT, UPDATE or DELETE touched, from its status ("UPDATE 1")."""
    return int(status.rsplit(" ", 1)[-1])


class PgSessionStore(EventReading):
    """Sessions and their events in a PostgreSQL database. Make one with `await PgSessionStore.open(dsn)`."""

    def __init__(self, db: asyncpg.Connection, dsn: Dsn, busy_timeout: float) -> None:
        self._db = db
        self._dsn = dsn
        self._busy_timeout = busy_timeout
        self._lock = asyncio.Lock()
        """Held by every operation on the connection, and by a write transaction until it ends."""
        self._closed = False
        self._lost = False
        """True once the connection was lost (`StoreUnreachable`): the next operation makes a new one."""
        self._settings: dict[str, str] = {}
        self._connect_timeout = DEFAULT_CONNECT_TIMEOUT
        self._listener: asyncpg.Connection | None = None
        """A connection of its own that LISTENs, opened by the first `wait_for_change`."""
        self._listening = asyncio.Lock()
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._indexer = PgIndexer(self._connect, fold=lambda text: document(storable(text)), describe=self._describe)
        """The search documents of the recorder's batches, written just after each commits."""
        self.schema_found = 0
        """The schema version the database had when this store opened it (0: new); `open`
        brings it to `SCHEMA_VERSION`."""

    # -- opening and closing ------------------------------------------------------

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        create: bool = True,
        busy_timeout: float | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> PgSessionStore:
        """Connect to the database `dsn` names (`postgresql://user@host/db`), make or upgrade
        huddle's tables in it (with `create`; without, a database without them is refused),
        and mark sessions whose recording process has died as `interrupted`.

        A database a newer huddle wrote is refused before anything is written. Waiting for
        another program's lock gives up after `busy_timeout` seconds (`DatabaseLocked`).
        """
        import asyncpg

        where = Dsn.parse(dsn)
        timeout = DEFAULT_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        settings = {
            "application_name": "huddle",
            "search_path": SCHEMA,
            "lock_timeout": f"{max(1, round(timeout * 1000))}ms",
        }
        try:
            db = await asyncpg.connect(where.text, timeout=connect_timeout, server_settings=settings)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as error:
            raise cannot_connect(error, where, timeout=connect_timeout) from None
        store = cls(db, where, timeout)
        store._settings = settings
        store._connect_timeout = connect_timeout
        try:
            await store._setup(create=create)
        except BaseException:
            await store.close()
            raise
        return store

    async def _setup(self, *, create: bool) -> None:
        version = self.schema_found = await self._use(self._version)
        if version > SCHEMA_VERSION:
            raise self._too_new(version)
        if version == 0 and not create:
            raise NoDatabase(
                f"huddle: there are no huddle sessions in {self.path} yet; 'huddle run' records sessions there, "
                "or pass another database with --db"
            )
        if pg_schema.pending(version):
            await self._migrate()
        await self.mark_interrupted()
        await self._index_again()

    async def _version(self, db: asyncpg.Connection) -> int:
        """The schema version of the database: 0 when huddle's tables are not there yet."""
        if await db.fetchval(f"SELECT to_regclass('{SCHEMA}.schema_version')") is None:
            return 0
        return int(await db.fetchval(f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_version"))

    def _too_new(self, version: int) -> SchemaTooNew:
        return SchemaTooNew(
            f"huddle: {self.path} was written by a newer huddle (schema version {version}, this huddle reads up to "
            f"{SCHEMA_VERSION}); it was left untouched: upgrade huddle or pass another database with --db"
        )

    async def _migrate(self) -> None:
        async with self._writing() as db:
            await db.execute("SELECT pg_advisory_xact_lock($1)", pg_schema.MIGRATION_LOCK)
            version = await self._version(db)  # another huddle may have done it meanwhile
            if version > SCHEMA_VERSION:
                raise self._too_new(version)
            steps = pg_schema.pending(version)
            if not steps:
                return
            if await db.fetchval("SELECT to_regnamespace($1)", SCHEMA) is None:
                await db.execute(f"CREATE SCHEMA {SCHEMA}")
            await db.execute(pg_schema.VERSION_TABLE)
            for step in steps:
                for statement in step.statements:
                    await db.execute(statement)
                if step.reindex:
                    await self._reindex(db)
            await db.execute(f"DELETE FROM {SCHEMA}.schema_version")
            await db.execute(f"INSERT INTO {SCHEMA}.schema_version (version) VALUES ($1)", SCHEMA_VERSION)

    @staticmethod
    async def _reindex(db: asyncpg.Connection, among: str = "TRUE", *parameters: Any) -> None:
        """Make the search document of every event that has one, from the events as stored,
        a page at a time: every event's (an upgrade's, in its transaction, so the index is
        never half made), or those `among` picks (SQL on `events`, its parameters from $2)."""
        rows = db.cursor(f"SELECT session_id, seq, kind, data FROM events WHERE kind = ANY($1::text[]) AND {among}",
                         list(SEARCHED), *parameters, prefetch=REINDEX_PAGE)
        page: list[tuple[str, int, str]] = []
        async for session_id, seq, kind, data in rows:
            text = _searched_text(kind, data)
            if text is not None:
                page.append((session_id, seq, text))
            if len(page) == REINDEX_PAGE:
                await db.execute(_INSERT_DOCUMENTS, *_document_columns(page))
                page = []
        if page:
            await db.execute(_INSERT_DOCUMENTS, *_document_columns(page))

    async def close(self) -> None:
        """Close the connections (a transaction still open is rolled back by the server)."""
        if not self._closed:
            self._closed = True
            await self._indexer.close(self._busy_timeout)
            listener, self._listener = self._listener, None
            for db in (self._db, listener):
                if db is not None:
                    await close_connection(db)
            for waiters in self._waiting.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    async def __aenter__(self) -> PgSessionStore:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def location(self) -> str:
        """The database's DSN without its password: what every message shows."""
        return self._dsn.shown

    @property
    def path(self) -> str:
        """`location`, under the name the SQLite store's callers print."""
        return self._dsn.shown

    @property
    def busy_timeout(self) -> float:
        return self._busy_timeout

    # -- plumbing -----------------------------------------------------------------

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import asyncpg

        try:
            yield
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
            translated = from_pg_error(error, self._dsn, busy_timeout=self._busy_timeout)
            if isinstance(translated, StoreUnreachable):
                self._drop_connections()
            raise translated from None

    def _drop_connections(self) -> None:
        """Forget the connections after the server went away: the next operation connects
        anew (`_reconnect`), and the next `wait_for_change` listens anew."""
        self._lost = True
        for db in (self._db, self._listener):
            if db is not None and not db.is_closed():
                db.terminate()
        self._listener = None

    async def _connect(self) -> asyncpg.Connection:
        """A new connection to the database, as the store's first was made."""
        import asyncpg

        try:
            return await asyncpg.connect(self._dsn.text, timeout=self._connect_timeout, server_settings=self._settings)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise cannot_connect(error, self._dsn, timeout=self._connect_timeout) from None

    def _describe(self, error: BaseException) -> str:
        """The one line that says what went wrong with the database."""
        import asyncpg

        if isinstance(error, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            error = from_pg_error(error, self._dsn, busy_timeout=self._busy_timeout)
        return one_line(str(error).removeprefix("huddle: "))

    async def _reconnect(self) -> None:
        """Connect again if the connection was lost; a server still away raises `StoreUnreachable`.
        Called with the lock held."""
        if not self._lost or self._closed:
            return
        self._db = await self._connect()
        self._lost = False

    async def _use(self, work: Callable[[asyncpg.Connection], Awaitable[_T]]) -> _T:
        """Run `work` on the connection in its turn (outside any write transaction)."""
        async with self._lock:
            await self._reconnect()
            with self._translated():
                return await work(self._db)

    async def _fetch(self, sql: str, *parameters: Any) -> list[Any]:
        return await self._use(lambda db: db.fetch(sql, *parameters))

    async def _begin(self) -> None:
        """Take the lock and open a write transaction. (Plain BEGIN, COMMIT and ROLLBACK,
        not asyncpg's `transaction()`: one whose start is cancelled, a heartbeat cut short by
        a recorder's end, stays the connection's in asyncpg's books, and makes the next a
        savepoint that the server refuses.)"""
        await self._lock.acquire()
        try:
            await self._reconnect()
            with self._translated():
                await self._db.execute("BEGIN")
        except BaseException:
            try:
                await self._rollback()  # cancelled while the BEGIN ran: end it before the next writer begins
            finally:
                self._lock.release()
            raise

    async def _end(self, *, commit: bool) -> None:
        """Commit (or roll back) the open transaction, and let the lock go."""
        try:
            if commit:
                with self._translated():
                    try:
                        await self._db.execute("COMMIT")
                    except BaseException:
                        await self._rollback()
                        raise
            else:
                await self._rollback()
        finally:
            self._lock.release()

    async def _rollback(self) -> None:
        """End the open transaction, if there is one; a connection that is gone has none."""
        with suppress(Exception):  # the error that got us here is the one to tell
            if not self._db.is_closed() and self._db.is_in_transaction():
                await self._db.execute("ROLLBACK")

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[asyncpg.Connection]:
        """One write transaction, committed when the block ends, rolled back if it raises."""
        await self._begin()
        try:
            with self._translated():
                yield self._db
        except BaseException:
            await self._end(commit=False)
            raise
        await self._end(commit=True)

    async def _rows(self, sql: str, *parameters: Any) -> list[SessionRow]:
        found = await self._fetch(sql, *parameters)
        return [SessionRow.from_db(tuple(values)) for values in found]

    # -- writing ------------------------------------------------------------------

    async def check_writable(self) -> None:
        """Write nothing, but raise now, not mid-session, if the user may not write
        huddle's tables or another program holds a lock on them past the timeout."""
        async with self._writing() as db:
            await db.execute("LOCK TABLE sessions, events, search IN ROW EXCLUSIVE MODE")

    async def begin_batch(self) -> bool:
        """False: a batch's events go to the server with it, in `write_batch` (nothing is
        staged ahead of it, as `SessionStore.begin_batch` lets a file's writer have them)."""
        return False

    def stage(self, rows: list[EventRow]) -> None:
        raise NotImplementedError("a batch's events go to the server with it")

    def unstage(self) -> None:
        """Nothing was begun (`begin_batch`)."""

    async def write_batch(self, batch: Batch, *, now: bool = False) -> asyncio.Future[None]:
        """Write one recorder batch as one transaction, and start committing it.

        Returns once the rows are written, with a future that completes when the
        commit has (or raises the `StoreError` that stopped it; the batch is then
        not stored at all). The transaction holds the lock until then, so the next
        write waits its turn while the caller prepares the next batch. Its search
        documents are written just after, on a connection of their own (`pg_indexer`).
        `now` changes nothing here: the server's commit is a round trip whatever the batch.
        """
        await self._begin()
        try:
            with self._translated():
                await self._insert(batch)
        except BaseException:
            await self._end(commit=False)
            raise
        return asyncio.ensure_future(self._commit(batch))

    async def _commit(self, batch: Batch) -> None:
        await self._end(commit=True)
        self._indexer.add(batch.events, batch.documents)

    async def _insert(self, batch: Batch) -> None:
        db = self._db
        if batch.started:
            await db.executemany(_INSERT_SESSION, _storable_rows([row[c] for c in _STARTED] for row in batch.started))
        for resumed in batch.resumed:
            taken = await db.execute(
                _RESUME_SESSION, resumed["id"], resumed["pid"], resumed["host"], resumed["after_seq"], resumed["heartbeat"]
            )
            if _changed(taken) != 1:
                raise SessionBusy(
                    f"huddle: session {resumed['id']} changed in {self.path} while it was being resumed "
                    "(another huddle resumed or deleted it); nothing was added to it here"
                )
        if batch.events:  # COPY: two to three times the rate of an INSERT of arrays, the recorder's hot path
            await db.copy_records_to_table(
                "events", schema_name=SCHEMA, columns=_EVENT_COLUMNS, records=_storable_rows(batch.events),
            )
        if batch.updates:
            await db.executemany(_UPDATE_SESSION, _storable_rows([row[c] for c in _UPDATED] for row in batch.updates))
        if batch.events:
            await db.execute(_NOTIFY, list({row[0]: None for row in batch.events}))  # delivered at commit

    async def import_session(
        self, values: Sequence[Any], pages: AsyncIterable[tuple[list[EventRow], list[tuple[str, int, str]]]],
        posted: Sequence[Posted],
    ) -> bool:
        """Write a session copied from another store (`sessions.copying`) whole, in one
        transaction: its row as it is (`values`, in `COLUMNS` order), its events and search
        documents a page at a time, and the decisions `posted` for it. False, with nothing
        written, when a session with its id is here already."""
        marks = ", ".join(f"${n}" for n in range(1, len(COLUMNS) + 1))
        async with self._writing() as db:
            status = await db.execute(
                f"INSERT INTO sessions ({_ROW_COLUMNS}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING",
                *(storable(value) for value in values),
            )
            if _changed(status) != 1:
                return False
            async for events, documents in pages:
                if events:
                    await db.execute(_INSERT_EVENTS, *(list(column) for column in zip(*_storable_rows(events), strict=True)))
                if documents:
                    await db.execute(_INSERT_DOCUMENTS, *_document_columns(documents))
            await db.execute(_INDEXED, storable(values[0]))
            if posted:
                await db.executemany(
                    f"INSERT INTO decisions ({decisions.COLUMNS}) VALUES ({', '.join(f'${n}' for n in range(1, 12))})",
                    _storable_rows((*one.values(), one.outcome, one.settled_at) for one in posted),
                )
        return True

    async def mark_failed(self, session_ids: Iterable[str], reason: str) -> None:
        """Mark sessions this process records that are still live `failed` (the recorder
        could not go on); a session another process took over is left alone."""
        ids = [(storable(reason), session_id, os.getpid(), HOST) for session_id in session_ids]
        async with self._writing() as db:
            await db.executemany(
                "UPDATE sessions SET status = 'failed', reason = $1 "
                "WHERE id = $2 AND status IN ('running', 'waiting') AND pid = $3 AND host IS NOT DISTINCT FROM $4",
                ids,
            )

    async def beat(self, session_ids: Sequence[str]) -> None:
        """Say this process still records these sessions (`SessionRow.heartbeat`): those it
        still owns, live, are heard from now."""
        now, pid = time.time(), os.getpid()
        async with self._writing() as db:
            await db.executemany(
                "UPDATE sessions SET heartbeat = $1 WHERE id = $2 AND pid = $3 AND host IS NOT DISTINCT FROM $4 "
                "AND status IN ('running', 'waiting')",
                [(now, session_id, pid, HOST) for session_id in session_ids],
            )

    async def mark_interrupted(self) -> None:
        """Mark live sessions whose recording process has ended as `interrupted`: one on
        this machine that is gone, or one on any machine not heard from for `STALE_S`
        (its heartbeat). Run by `open`."""
        live = await self._fetch(LIVE_ROWS)
        now = time.time()
        gone = [(why, session_id) for session_id, pid, host, heartbeat in live
                if (why := why_ended(pid, host, heartbeat, now)) is not None]
        if gone:
            async with self._writing() as db:
                await db.executemany(
                    "UPDATE sessions SET status = 'interrupted', reason = $1 "
                    "WHERE id = $2 AND status IN ('running', 'waiting')",
                    gone,
                )

    async def _index_again(self) -> None:
        """Write the search documents of sessions no longer recorded whose process ended
        after it committed their last events and before their documents (`pg_indexer`),
        from their events. Run by `open`; two huddles opening at once take turns, and a
        session whose documents are being written as it opens is left to that."""
        if not await self._use(lambda db: db.fetchval(_ANY_UNINDEXED)):
            return
        async with self._writing() as db:
            behind = await db.fetch(
                f"SELECT id, indexed_seq, last_seq FROM sessions AS s WHERE {UNINDEXED} FOR UPDATE SKIP LOCKED"
            )
            for session_id, after, last in behind:
                await self._reindex(db, "session_id = $2 AND seq > $3 AND seq <= $4", session_id, after, last)
                await db.execute(_INDEXED, session_id)

    async def delete_session(self, session_id: str) -> SessionRow:
        """Delete a session with its events, search documents and decisions; return its row.

        A session still being recorded by a live process is refused (`SessionBusy`).
        """
        async with self._writing() as db:
            found = await db.fetchrow(f"{_SELECT_ROW} WHERE id = $1 FOR UPDATE", session_id)
            if found is None:
                raise self._not_found(session_id)
            row = SessionRow.from_db(tuple(found))
            if row.status in LIVE_STATES and not process_gone(row.pid, row.host):
                raise SessionBusy(
                    f"huddle: session {row.id} is still being recorded (pid {row.pid} on {row.host}); "
                    "let it finish or stop it, then delete it"
                )
            for table in ("search", "events", "decisions"):
                await db.execute(f"DELETE FROM {table} WHERE session_id = $1", session_id)
            await db.execute("DELETE FROM sessions WHERE id = $1", session_id)
        return row

    # -- decisions on their way to a session ------------------------------------------------

    async def post_decision(self, posted: Posted) -> Posted:
        """Post a decision for a session's escalation (`sessions.decisions`): the one posted
        first is the one. Returns it: `posted`, or the earlier one (`first` False)."""
        columns = decisions.COLUMNS.split(", ")[:-2]
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        async with self._writing() as db:
            status = await db.execute(
                f"INSERT INTO decisions ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                *(storable(value) for value in posted.values()),
            )
            if _changed(status) == 1:
                await db.execute(_NOTIFY, [posted.session_id])
                return posted
        earlier = await self.posted(posted.session_id, posted.escalation_id)
        assert earlier is not None  # decisions are never taken back
        return replace(earlier, first=False)

    async def posted(self, session_id: str, escalation_id: str) -> Posted | None:
        """The decision posted for an escalation, with its outcome so far; None if none was."""
        found = await self._fetch(
            f"SELECT {decisions.COLUMNS} FROM decisions WHERE session_id = $1 AND escalation_id = $2",
            session_id, escalation_id,
        )
        return next((Posted.from_db(tuple(values)) for values in found), None)

    async def decisions_of(self, session_id: str) -> list[Posted]:
        """Every decision posted for a session, settled or not, oldest first."""
        found = await self._fetch(
            f"SELECT {decisions.COLUMNS} FROM decisions WHERE session_id = $1 ORDER BY decided_at, escalation_id",
            session_id,
        )
        return [Posted.from_db(tuple(values)) for values in found]

    async def waiting_decisions(self, session_id: str) -> list[Posted]:
        """The decisions posted for a session that it has not picked up yet, oldest first."""
        found = await self._fetch(
            f"SELECT {decisions.COLUMNS} FROM decisions WHERE session_id = $1 AND outcome IS NULL "
            "ORDER BY decided_at, escalation_id",
            session_id,
        )
        return [Posted.from_db(tuple(values)) for values in found]

    async def settle_decision(self, session_id: str, escalation_id: str, outcome: str) -> None:
        """Say what became of a posted decision: `decisions.TAKEN`, or why it was not taken."""
        async with self._writing() as db:
            await db.execute(
                "UPDATE decisions SET outcome = $1, settled_at = $2 "
                "WHERE session_id = $3 AND escalation_id = $4 AND outcome IS NULL",
                storable(outcome), time.time(), session_id, escalation_id,
            )
            await db.execute(_NOTIFY, [session_id])

    # -- waiting for another huddle's writes -----------------------------------------------

    async def wait_for_change(self, session_id: str, timeout: float) -> bool:
        """Wait until any huddle on the database commits a change to the session (events
        recorded, a decision posted or settled), or `timeout` seconds pass: True when one
        came. What a poller waits on between two looks instead of sleeping, so it looks
        again as soon as there is something to see. A change committed before the call is
        not seen: look first, then wait (a change missed so costs at most `timeout`)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(session_id, set())
        waiters.add(waiter)
        try:
            with suppress(StoreUnreachable):  # the server is away: the wait runs its time all the same
                await self._listen()
            await asyncio.wait_for(waiter, timeout)
            return not self._closed
        except TimeoutError:
            return False
        finally:
            waiters.discard(waiter)
            if not waiters:
                self._waiting.pop(session_id, None)

    async def _listen(self) -> None:
        """Open the listening connection, unless it is open."""
        import asyncpg

        async with self._listening:
            if self._listener is not None and not self._listener.is_closed() or self._closed:
                return
            try:
                listener = await asyncpg.connect(self._dsn.text, timeout=DEFAULT_CONNECT_TIMEOUT,
                                                 server_settings=self._settings)
                await listener.add_listener(CHANNEL, self._notified)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                raise cannot_connect(error, self._dsn, timeout=DEFAULT_CONNECT_TIMEOUT) from None
            if self._closed:  # closed while it connected
                listener.terminate()
                return
            self._listener = listener

    def _notified(self, connection: Any, pid: int, channel: str, session_id: str) -> None:
        for waiter in self._waiting.get(session_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    async def waiting_escalations(self) -> list[tuple[SessionRow, EscalationRequested]]:
        """Every escalation that waits for a person in a running session, oldest first, with
        its session's row: asked since the session's latest start or resume, not resolved,
        and no decision posted for it yet."""
        found = await self._fetch(_WAITING_ESCALATIONS)
        rows: dict[str, SessionRow] = {}
        waiting = []
        for session_id, seq, *columns, data in found:
            row = rows.setdefault(session_id, SessionRow.from_db(tuple(columns)))
            try:
                waiting.append((row, EscalationRequested.model_validate_json(data)))
            except ValidationError as error:
                raise self._damaged_event(session_id, seq, one_line(error)) from error
        return waiting

    # -- reading sessions ---------------------------------------------------------------

    async def _documents_written(self) -> None:
        """Wait for the search documents this store is writing (a batch's come just after its
        events, `pg_indexer`): a search here finds what was recorded here."""
        await self._indexer.written()

    @staticmethod
    def _where(search: str | None, status: str | None, pattern: str | None) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        parameters: list[Any] = []
        if status is not None:
            parameters.append(status)
            clauses.append(f"status = ${len(parameters)}")
        if pattern is not None:
            parameters.append(pattern)
            clauses.append(f"pattern = ${len(parameters)}")
        query = search_query(search) if search is not None else None
        if query is not None:
            parameters.append(query)
            clauses.append(_SEARCH_MATCHING.format(n=len(parameters)))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), parameters

    async def list_sessions(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        pattern: str | None = None,
        limit: int = 50,
        offset: int = 0,
        order_by: str = "created_at",
        descending: bool = True,
    ) -> list[SessionRow]:
        """Sessions newest first, or in the order asked, from their rows alone (events
        are never read). The same filters, keys and paging as `SessionStore.list_sessions`."""
        try:
            order = SORT_KEYS[order_by]
        except KeyError:
            raise ValueError(f"cannot list sessions by {order_by!r}; choose from {', '.join(SORT_KEYS)}") from None
        direction = "DESC" if descending else "ASC"
        where, parameters = self._where(search, status, pattern)
        if search is not None:
            await self._documents_written()
        n = len(parameters)
        return await self._rows(
            f"{_SELECT_ROW}{where} ORDER BY {order} {direction}, key {direction} LIMIT ${n + 1} OFFSET ${n + 2}",
            *parameters, limit, offset,
        )

    async def count_sessions(
        self, *, search: str | None = None, status: str | None = None, pattern: str | None = None
    ) -> int:
        """How many sessions `list_sessions` with these filters would page through."""
        where, parameters = self._where(search, status, pattern)
        if search is not None:
            await self._documents_written()
        return int(await self._use(lambda db: db.fetchval(f"SELECT count(*) FROM sessions{where}", *parameters)))

    def _not_found(self, wanted: str) -> SessionNotFound:
        return SessionNotFound(f"huddle: no session {wanted!r} in {self.path}; 'huddle sessions list' shows them")

    async def get_session(self, id_or_prefix: str) -> SessionRow:
        """The session with this id, or the only one whose id starts with it (like git)."""
        wanted = id_or_prefix.strip()
        if not wanted:
            raise self._not_found(wanted)
        rows = await self._rows(
            f"{_SELECT_ROW} WHERE id >= $1 ORDER BY id LIMIT 6", wanted
        )
        matches = [row for row in rows if row.id.startswith(wanted)]
        if not matches:
            raise self._not_found(wanted)
        if len(matches) > 1 and matches[0].id != wanted:
            shown = ", ".join(row.id for row in matches[:5]) + (", …" if len(matches) > 5 else "")
            raise AmbiguousId(f"huddle: session id {wanted!r} is ambiguous in {self.path} ({shown}); give more of it")
        return matches[0]

    async def short_ids(self, session_ids: Sequence[str], *, min_length: int = 8) -> dict[str, str]:
        """For each id, its shortest prefix (at least `min_length`) that no other session shares."""
        if not session_ids:
            return {}
        found = await self._fetch(
            "SELECT s.id, (SELECT max(id) FROM sessions WHERE id < s.id), "
            "(SELECT min(id) FROM sessions WHERE id > s.id) "
            "FROM sessions AS s WHERE s.id = ANY($1::text[])",
            list(session_ids),
        )
        return short_prefixes(found, min_length)

    # -- reading events -----------------------------------------------------------------

    async def _stored(self, session_id: str, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` (seq, JSON text) of a session's events with `seq` above `after_seq`, in order."""
        found = await self._fetch(
            "SELECT seq, data FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            session_id, after_seq, limit,
        )
        return [(seq, data) for seq, data in found]

    async def event_rows(self, session_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[EventRow]:
        """Up to `limit` of a session's `events` rows with `seq` above `after_seq`, in order,
        their JSON as stored (what `sessions.copying` copies)."""
        found = await self._fetch(
            "SELECT seq, ts, kind, agent, data FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            session_id, after_seq, limit,
        )
        return [(session_id, seq, ts, kind, agent, data) for seq, ts, kind, agent, data in found]

    async def event_count(self, session_id: str) -> int:
        return int(await self._use(lambda db: db.fetchval("SELECT count(*) FROM events WHERE session_id = $1", session_id)))

"""SessionStore: every session and its events in one SQLite file.

One long-lived aiosqlite connection in WAL mode, so readers (another huddle
listing sessions) never wait for the writer. Writes are transactions taken
with `BEGIN IMMEDIATE` under one lock, so the recorder and the browser can
share the connection. Every SQLite error leaves as a `StoreError` whose text
is one line naming the file and what to do.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite
from pydantic import ValidationError

from engine.events import EscalationRequested
from engine.formats import one_line
from sessions import decisions, errors, listing
from sessions.batch_writer import INSERT_EVENT, BatchWriter
from sessions.decisions import Posted
from sessions.reading import EventReading
from sessions.errors import AmbiguousId, SessionBusy, SessionNotFound, StoreError
from sessions.files import DEFAULT_BUSY_TIMEOUT, check_file, check_schema
from sessions.liveness import HOST, process_gone, why_ended
from sessions.migrations import APPLICATION_ID, SCHEMA_VERSION, pending
from sessions.rows import COLUMNS, LIVE_STATES, SessionRow
from sessions.search import INDEX_AGAIN, UNINDEXED, document_range

_ROW_COLUMNS = ", ".join(COLUMNS)
SORT_KEYS: dict[str, str] = {
    "created_at": "created_at",
    "title": "title COLLATE NOCASE",
    "pattern": "pattern",
    "status": "status",
    "agent_count": "json_array_length(agents)",
    "tokens": "tokens_in + tokens_out",
    "cost": "cost",
    "duration_s": "duration_s",
}
"""What sessions can be listed by (each a `SessionRow` attribute) and the SQL it sorts on:
the only text that reaches ORDER BY."""
_DECISION_INSERT = ", ".join(decisions.COLUMNS.split(", ")[:-2])
_WAITING_ESCALATIONS = f"""
    SELECT e.session_id, e.seq, {", ".join(f"s.{column}" for column in COLUMNS)}, e.data
    FROM events AS e JOIN sessions AS s ON s.id = e.session_id
    WHERE s.status IN ('running', 'waiting') AND e.kind = 'escalation.requested'
      AND json_extract(e.data, '$.human') = 1
      AND e.seq > coalesce((SELECT max(x.seq) FROM events AS x
                            WHERE x.session_id = e.session_id AND x.kind = 'session.resumed'), 0)
      AND NOT EXISTS (SELECT 1 FROM events AS r
                      WHERE r.session_id = e.session_id AND r.kind = 'escalation.resolved'
                        AND r.seq > e.seq AND json_extract(r.data, '$.escalation_id') = json_extract(e.data, '$.escalation_id'))
      AND NOT EXISTS (SELECT 1 FROM decisions AS d
                      WHERE d.session_id = e.session_id AND d.escalation_id = json_extract(e.data, '$.escalation_id'))
    ORDER BY e.ts
"""
"""Escalations waiting for a person (`SessionStore.waiting_escalations`)."""
EventRow = tuple[str, int, float, str, str | None, str]
"""An `events` row: session id, seq, ts, kind, agent, the event's JSON."""


@dataclass
class Batch:
    """What one recorder transaction writes."""

    started: list[dict[str, Any]] = field(default_factory=list)
    """New session rows (see `rows.started_values`)."""
    events: list[EventRow] = field(default_factory=list)
    documents: list[tuple[str, int, str]] = field(default_factory=list)
    """Search documents: (session id, seq of the event it came from, text)."""
    updates: list[dict[str, Any]] = field(default_factory=list)
    """Session rows brought up to date (see `SessionTally.values`)."""
    resumed: list[dict[str, Any]] = field(default_factory=list)
    """Sessions carried on in their own record by this process (id, pid, host, after_seq):
    each row is taken over before its new events are written (see `batch_writer.RESUME_SESSION`)."""


def _connection(path: Path, timeout: float) -> aiosqlite.Connection:
    """An aiosqlite connection, not yet started, whose thread cannot keep the process alive.

    aiosqlite runs each connection on a thread of its own, and since 0.22 not a
    daemon one: a store left open (a bug, or a test that failed before closing it)
    would then keep the interpreter from ever exiting. As a daemon, the thread is
    abandoned at exit, which SQLite handles like any crash: every committed
    transaction is in the file or its log (WAL), and one still open
    is rolled back by the next connection to the file. `close` remains the clean
    way to end a store; the app and every command close theirs. (`atexit` could
    not close it instead: Python waits for non-daemon threads before it runs
    `atexit` functions.)
    """
    connection = aiosqlite.connect(path, isolation_level=None, timeout=timeout)
    thread = getattr(connection, "_thread", connection)  # before 0.22 the connection was the thread
    if isinstance(thread, threading.Thread):
        thread.daemon = True
    return connection


class SessionStore(EventReading):
    """Sessions and their events in one SQLite file. Make one with `await SessionStore.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: Path, busy_timeout: float) -> None:
        self._db = db
        self._path = path
        self._busy_timeout = busy_timeout
        self._write_lock = asyncio.Lock()
        self._begun = False
        """True while the write lock is held for a recorder batch being prepared (`begin_batch`)."""
        self._staged = 0
        """How many of its first events were sent to the writer ahead of it (`stage`)."""
        self._closed = False
        self._writer = BatchWriter(
            path, busy_timeout, lambda error: errors.from_sqlite_error(error, path, busy_timeout=busy_timeout)
        )
        """The recorder's transactions, on a connection and in a process of their own."""
        self.schema_found = 0
        """The schema version the database had when this store opened it (0: new); `open`
        brings it to `SCHEMA_VERSION`."""

    # -- opening and closing ------------------------------------------------------

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, create: bool = True, busy_timeout: float | None = None
    ) -> SessionStore:
        """Open (or with `create`, make) the database at `path`, upgrade its schema,
        and mark sessions whose recording process has died as `interrupted`.

        A new file is created readable and writable by its owner only (SQLite gives
        its `-wal` and `-shm` files the same mode). A file that is not a huddle
        database, or that a newer huddle wrote, is refused before anything is written.
        """
        timeout = DEFAULT_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
        where = Path(path).expanduser().absolute()
        try:
            if check_file(where, create=create):
                await asyncio.to_thread(check_schema, where, timeout)
            db = await _connection(where, timeout)
        except sqlite3.Error as error:
            raise errors.from_sqlite_error(error, where, busy_timeout=timeout) from error
        store = cls(db, where, timeout)
        try:
            await store._setup()
        except BaseException:
            await store.close()
            raise
        return store

    async def _setup(self) -> None:
        with self._translated():
            version = self.schema_found = await self._scalar("PRAGMA user_version")
            if version > SCHEMA_VERSION:  # upgraded by a newer huddle in the last moment
                raise errors.schema_too_new(self._path, version, SCHEMA_VERSION)
            mode = await self._write_ahead()
            if mode != "wal":
                raise StoreError(
                    f"huddle: {self._path} cannot use write-ahead logging (its journal mode stays {mode}); "
                    "pass a file on a local disk with --db",
                    path=self._path,
                )
            # FULL here, NORMAL on the recorder's writer (`batch_writer`): this connection
            # commits rarely (a person's decision, a mark, a heartbeat), and a decision is
            # worth a sync of its own; the recorder's many commits are flushed by its checkpoints.
            await self._db.execute("PRAGMA synchronous = FULL")
        if pending(version):
            await self._migrate()
        await self.mark_interrupted()
        await self._index_again()

    async def _write_ahead(self) -> str:
        """Put the file in write-ahead-log mode (nothing to do once it is); the journal mode
        it is in after. Switching needs the file to itself for a moment: when two connections
        switch a new file at the same moment, each holds what the other needs, and SQLite
        refuses one at once rather than wait its busy timeout (two huddles started together
        on a new file: one said the file was locked). Tried again here, for as long."""
        deadline, pause = time.monotonic() + self._busy_timeout, 0.005
        while True:
            try:
                return str(await self._scalar("PRAGMA journal_mode = WAL"))
            except sqlite3.OperationalError as error:
                if not errors.is_busy(error) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.1)

    async def _migrate(self) -> None:
        async with self._writing() as db:
            version = await self._scalar("PRAGMA user_version")  # another huddle may have done it meanwhile
            for step in pending(version):
                for statement in step.statements:
                    await db.execute(statement)
            await db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    async def close(self) -> None:
        """Close the connection (SQLite checkpoints the write-ahead log into the file). A
        write in its turn ends first, a recorder's batch begun included, so closing never
        cuts a batch between its first rows and the rest; one that does not end within the
        busy timeout is not waited for longer."""
        if not self._closed:
            self._closed = True
            held = False
            with suppress(TimeoutError):
                async with asyncio.timeout(self._busy_timeout):
                    held = await self._write_lock.acquire()
            try:
                await self._writer.close()
                await self._db.close()
            finally:
                if held:
                    self._write_lock.release()

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def busy_timeout(self) -> float:
        return self._busy_timeout

    # -- plumbing -----------------------------------------------------------------

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise errors.from_sqlite_error(error, self._path, busy_timeout=self._busy_timeout) from error

    async def _begin(self) -> None:
        """Take the write lock and open a write transaction."""
        await self._write_lock.acquire()
        try:
            with self._translated():
                await self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            try:  # cancelled while queued, the BEGIN still runs: end it before the next writer begins
                with suppress(sqlite3.Error):  # the error that got us here is the one to tell
                    await self._rollback()
            finally:
                self._write_lock.release()
            raise

    async def _end(self, *, commit: bool) -> None:
        """Commit (or roll back) the open transaction, and let the write lock go."""
        try:
            with self._translated():
                if commit:
                    try:
                        await self._db.execute("COMMIT")
                    except BaseException:
                        await self._rollback()
                        raise
                else:
                    await self._rollback()
        finally:
            self._write_lock.release()

    async def _rollback(self) -> None:
        """End the open transaction, if there is one. Statements run in order on the
        connection's thread, so this also ends a `BEGIN` still queued when the caller
        was cancelled."""
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.OperationalError:
            if self._db.in_transaction:
                raise
            # No transaction was open: SQLite had already rolled it back (as it may
            # on a full disk), or it never began. Nothing is left to undo.

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction, committed when the block ends, rolled back if it raises."""
        await self._begin()
        try:
            with self._translated():
                yield self._db
        except BaseException:
            await self._end(commit=False)
            raise
        await self._end(commit=True)

    async def _scalar(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        rows = await self._db.execute_fetchall(sql, parameters)
        return next(iter(rows))[0]

    async def _rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[SessionRow]:
        with self._translated():
            found = await self._db.execute_fetchall(sql, parameters)
        return [SessionRow.from_db(tuple(values)) for values in found]

    # -- writing ------------------------------------------------------------------

    async def check_writable(self) -> None:
        """Take the write lock once and let it go: raises now, not mid-session, if the
        file is read-only or another program holds the lock past the timeout."""
        async with self._writing():
            pass

    async def begin_batch(self) -> bool:
        """Take the write turn for the recorder's next batch now, so that its events can go
        to the writer ahead of it, as they are prepared (`stage`): the writer writes them
        in the batch's transaction meanwhile (their writing overlaps the preparing, which a
        session's end waits for), and commits them with it (`write_batch`), or not at all
        (`unstage`). Taken now, nothing else in this process writes in between (a write
        that waited for the writer's transaction, while it waited for the batch, would stall
        both). True: events may be staged."""
        await self._write_lock.acquire()
        self._begun, self._staged = True, 0
        return True

    def stage(self, rows: list[EventRow]) -> None:
        """Send the next events of the batch begun (`begin_batch`) to the writer ahead of
        it: the batch's first events, in order (it holds them too: they are not sent again)."""
        self._writer.stage(rows)
        self._staged += len(rows)

    def unstage(self) -> None:
        """Undo the batch begun (`begin_batch`) and the events staged for it: it will not
        be written."""
        if self._begun:
            self._begun = False
            self._writer.drop()
            self._write_lock.release()

    async def write_batch(self, batch: Batch, *, now: bool = False) -> asyncio.Future[None]:
        """Start writing one recorder batch as one transaction (`batch_writer`): a future
        that completes when it is committed (or raises the `StoreError` that stopped it; the
        batch is then not stored at all). The write lock is held until then, so the next
        write (and a search) waits its turn, until the batch's search documents are written
        too, while the caller prepares the next batch; it was taken already if the batch
        was begun (`begin_batch`). `now`: the caller has nothing to do but wait for the
        commit (the batch ends a session), so it is committed on this thread at once if no
        other program is writing (`BatchWriter.write_now`)."""
        if self._begun:
            self._begun = False
            batch = replace(batch, events=batch.events[self._staged:])  # the rest
        else:
            await self._write_lock.acquire()
        try:
            commit, indexed = (now and self._writer.write_now(batch)) or self._writer.send(batch)
        except BaseException:
            self._writer.drop()  # what was staged for it
            self._write_lock.release()
            raise
        indexed.add_done_callback(lambda _: self._write_lock.release())  # its search documents too
        return commit

    async def import_session(
        self, values: Sequence[Any], pages: AsyncIterable[tuple[list[EventRow], list[tuple[str, int, str]]]],
        posted: Sequence[Posted],
    ) -> bool:
        """Write a session copied from another store (`sessions.copying`) whole, in one
        transaction: its row as it is (`values`, in `COLUMNS` order), its events and search
        documents a page at a time, and the decisions `posted` for it. False, with nothing
        written, when a session with its id is here already."""
        async with self._writing() as db:
            marks = ", ".join("?" for _ in COLUMNS)
            cursor = await db.execute(
                f"INSERT INTO sessions ({_ROW_COLUMNS}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING", tuple(values)
            )
            if cursor.rowcount != 1:
                return False
            key = cursor.lastrowid
            async for events, _ in pages:  # its search documents: from its events, as it ends
                await db.executemany(INSERT_EVENT, events)
            await db.execute("UPDATE sessions SET indexed_seq = last_seq WHERE key = ?", (key,))
            await db.executemany(
                f"INSERT INTO decisions ({decisions.COLUMNS}) VALUES ({', '.join('?' for _ in range(11))})",
                [(*one.values(), one.outcome, one.settled_at) for one in posted],
            )
        return True

    async def mark_failed(self, session_ids: Iterable[str], reason: str) -> None:
        """Mark sessions this process records that are still live `failed` (the recorder
        could not go on); a session another process took over is left alone."""
        ids = [(reason, session_id, os.getpid(), HOST) for session_id in session_ids]
        async with self._writing() as db:
            await db.executemany(
                "UPDATE sessions SET status = 'failed', reason = ? "
                "WHERE id = ? AND status IN ('running', 'waiting') AND pid = ? AND host IS ?",
                ids,
            )

    async def beat(self, session_ids: Sequence[str]) -> None:
        """Say this process still records these sessions (`SessionRow.heartbeat`): those it
        still owns, live, are heard from now."""
        now, pid = time.time(), os.getpid()
        async with self._writing() as db:
            await db.executemany(
                "UPDATE sessions SET heartbeat = ? WHERE id = ? AND pid = ? AND host IS ? AND status IN ('running', 'waiting')",
                [(now, session_id, pid, HOST) for session_id in session_ids],
            )

    async def mark_interrupted(self) -> None:
        """Mark live sessions whose recording process has ended as `interrupted`: one on
        this machine that is gone, or one on any machine not heard from for `STALE_S`
        (its heartbeat; also what finds a pid a new process took over). Run by `open`."""
        with self._translated():
            live = await self._db.execute_fetchall(listing.LIVE_ROWS)
        now = time.time()
        gone = [(why, session_id) for session_id, pid, host, heartbeat in live
                if (why := why_ended(pid, host, heartbeat, now)) is not None]
        if gone:
            async with self._writing() as db:
                await db.executemany(
                    "UPDATE sessions SET status = 'interrupted', reason = ? "
                    "WHERE id = ? AND status IN ('running', 'waiting')",
                    gone,
                )

    async def _index_again(self) -> None:
        """Write the search documents of sessions no longer recorded whose process ended
        after it committed their last events and before their documents. Run by `open`."""
        with self._translated():
            behind = await self._scalar(f"SELECT count(*) FROM sessions AS s WHERE {UNINDEXED}")
        if behind:
            async with self._writing() as db:
                await db.execute(INDEX_AGAIN)

    async def delete_session(self, session_id: str) -> SessionRow:
        """Delete a session with its events and search documents; return its row.

        A session still being recorded by a live process is refused (`SessionBusy`).
        """
        async with self._writing() as db:
            found = await db.execute_fetchall(f"SELECT key, {_ROW_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
            if not found:
                raise self._not_found(session_id)
            key, *values = next(iter(found))
            row = SessionRow.from_db(tuple(values))
            if row.status in LIVE_STATES and not process_gone(row.pid, row.host):
                raise SessionBusy(
                    f"huddle: session {row.id} is still being recorded (pid {row.pid} on {row.host}); "
                    "let it finish or stop it, then delete it",
                    path=self._path,
                )
            await db.execute("DELETE FROM search WHERE rowid BETWEEN ? AND ?", document_range(key))
            await db.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
            await db.execute("DELETE FROM decisions WHERE session_id = ?", (session_id,))
            await db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        return row

    # -- decisions on their way to a session ------------------------------------------------

    async def post_decision(self, posted: Posted) -> Posted:
        """Post a decision for a session's escalation (`sessions.decisions`): the one posted
        first is the one. Returns it: `posted`, or the earlier one (`first` False)."""
        async with self._writing() as db:
            cursor = await db.execute(
                f"INSERT INTO decisions ({_DECISION_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                posted.values(),
            )
            if cursor.rowcount == 1:
                return posted
        earlier = await self.posted(posted.session_id, posted.escalation_id)
        assert earlier is not None  # decisions are never taken back
        return replace(earlier, first=False)

    async def posted(self, session_id: str, escalation_id: str) -> Posted | None:
        """The decision posted for an escalation, with its outcome so far; None if none was."""
        with self._translated():
            found = await self._db.execute_fetchall(
                f"SELECT {decisions.COLUMNS} FROM decisions WHERE session_id = ? AND escalation_id = ?",
                (session_id, escalation_id),
            )
        return next((Posted.from_db(tuple(values)) for values in found), None)

    async def decisions_of(self, session_id: str) -> list[Posted]:
        """Every decision posted for a session, settled or not, oldest first."""
        with self._translated():
            found = await self._db.execute_fetchall(
                f"SELECT {decisions.COLUMNS} FROM decisions WHERE session_id = ? ORDER BY decided_at, escalation_id",
                (session_id,),
            )
        return [Posted.from_db(tuple(values)) for values in found]

    async def waiting_decisions(self, session_id: str) -> list[Posted]:
        """The decisions posted for a session that it has not picked up yet, oldest first."""
        with self._translated():
            found = await self._db.execute_fetchall(
                f"SELECT {decisions.COLUMNS} FROM decisions WHERE session_id = ? AND outcome IS NULL ORDER BY decided_at",
                (session_id,),
            )
        return [Posted.from_db(tuple(values)) for values in found]

    async def settle_decision(self, session_id: str, escalation_id: str, outcome: str) -> None:
        """Say what became of a posted decision: `decisions.TAKEN`, or why it was not taken."""
        async with self._writing() as db:
            await db.execute(
                "UPDATE decisions SET outcome = ?, settled_at = ? WHERE session_id = ? AND escalation_id = ? AND outcome IS NULL",
                (outcome, time.time(), session_id, escalation_id),
            )

    async def wait_for_change(self, session_id: str, timeout: float) -> bool:
        """Wait `timeout` seconds before a poller looks at the session again: another
        process's commit to a SQLite file tells nobody (PostgreSQL's store is woken by one).
        False: no change was told."""
        await asyncio.sleep(timeout)
        return False

    async def waiting_escalations(self) -> list[tuple[SessionRow, EscalationRequested]]:
        """Every escalation that waits for a person in a running session, oldest first, with
        its session's row: asked since the session's latest start or resume, not resolved,
        and no decision posted for it yet."""
        with self._translated():
            found = await self._db.execute_fetchall(_WAITING_ESCALATIONS)
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
        are never read).

        `search` matches words in the task, the agents' replies and the result
        (every word, each as a prefix); `status` and `pattern` match exactly.
        `order_by` is one of `SORT_KEYS` (ValueError otherwise); rows that tie keep
        the order they were recorded in, so pages (`offset`) never skip or repeat one.
        """
        try:
            order = SORT_KEYS[order_by]
        except KeyError:
            raise ValueError(f"cannot list sessions by {order_by!r}; choose from {', '.join(SORT_KEYS)}") from None
        direction = "DESC" if descending else "ASC"
        clause, parameters = listing.where(search, status, pattern)
        if search is not None:
            await self._documents_written()
        return await self._rows(listing.page_query(clause, order, direction), [*parameters, limit, offset])

    async def count_sessions(
        self, *, search: str | None = None, status: str | None = None, pattern: str | None = None
    ) -> int:
        """How many sessions `list_sessions` with these filters would page through."""
        clause, parameters = listing.where(search, status, pattern)
        if search is not None:
            await self._documents_written()
        with self._translated():
            return int(await self._scalar(listing.count_query(clause), parameters))

    async def _documents_written(self) -> None:
        """Wait for the search documents this store is writing (a batch's come just after its
        events): a search here finds what was recorded here."""
        async with self._write_lock:
            pass

    def _not_found(self, wanted: str) -> SessionNotFound:
        return SessionNotFound(
            f"huddle: no session {wanted!r} in {self._path}; 'huddle sessions list' shows them", path=self._path
        )

    async def get_session(self, id_or_prefix: str) -> SessionRow:
        """The session with this id, or the only one whose id starts with it (like git)."""
        wanted = id_or_prefix.strip()
        if not wanted:
            raise self._not_found(wanted)
        rows = await self._rows(f"{listing.SELECT_ROW} WHERE id >= ? ORDER BY id LIMIT 6", (wanted,))
        matches = [row for row in rows if row.id.startswith(wanted)]
        if not matches:
            raise self._not_found(wanted)
        if len(matches) > 1 and matches[0].id != wanted:
            shown = ", ".join(row.id for row in matches[:5]) + (", …" if len(matches) > 5 else "")
            raise AmbiguousId(
                f"huddle: session id {wanted!r} is ambiguous in {self._path} ({shown}); give more of it",
                path=self._path,
            )
        return matches[0]

    async def short_ids(self, session_ids: Sequence[str], *, min_length: int = 8) -> dict[str, str]:
        """For each id, its shortest prefix (at least `min_length`) that no other session shares."""
        if not session_ids:
            return {}
        with self._translated():
            found = await self._db.execute_fetchall(listing.neighbours_query(len(session_ids)), list(session_ids))
        return listing.short_ids(list(found), min_length)

    # -- reading events -----------------------------------------------------------------

    async def _stored(self, session_id: str, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` (seq, JSON text) of a session's events with `seq` above `after_seq`, in
        order. An event that is not JSON text (a damaged row) is a StoreError naming it."""
        with self._translated():
            found = await self._db.execute_fetchall(
                "SELECT seq, data, typeof(data) = 'text' AND json_valid(data) FROM events "
                "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (session_id, after_seq, limit),
            )
        for seq, _, readable in found:
            if not readable:
                raise self._damaged_event(session_id, seq, "not JSON text")
        return [(seq, data) for seq, data, _ in found]

    async def event_rows(self, session_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[EventRow]:
        """Up to `limit` of a session's `events` rows with `seq` above `after_seq`, in order,
        their JSON as stored (what `sessions.copying` copies). A damaged one is a StoreError."""
        with self._translated():
            found = await self._db.execute_fetchall(
                "SELECT seq, ts, kind, agent, data, typeof(data) = 'text' AND json_valid(data) FROM events "
                "WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (session_id, after_seq, limit),
            )
        for seq, *_, readable in found:
            if not readable:
                raise self._damaged_event(session_id, seq, "not JSON text")
        return [(session_id, seq, ts, kind, agent, data) for seq, ts, kind, agent, data, _ in found]

    async def event_count(self, session_id: str) -> int:
        with self._translated():
            return int(await self._scalar("SELECT count(*) FROM events WHERE session_id = ?", (session_id,)))

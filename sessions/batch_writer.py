"""The recorder's transactions on a SQLite file, each written and committed whole by one
call on a thread of its own.

A batch is a handful of statements (sessions started, events, search documents,
rows brought up to date). Sent one by one through aiosqlite, each is a trip to
its thread and back, and the event loop and that thread trade the GIL for every
one; a session's last batch, which the recorder waits for, then costs several
trips in a row. Here the whole transaction is one trip: a thread that owns a
plain `sqlite3` connection to the same file takes the batch, writes it and
commits it, while the loop goes on. The connection is opened on the first
batch, so a store that records nothing (the browser, a command) never has one.

The search documents are written just after the events are committed and said to
be, from the stored events, by the trigger that moving `sessions.indexed_seq` on
fires (migration 8): a session's last documents are written while the next session
runs, not while the recorder waits, and the batch's `documents` are not needed here.
Those of a process that ended in between are written from its events when the
database is next opened (`search.INDEX_AGAIN`).

Its commits do not wait for the disk (`synchronous = NORMAL`): the operating system
has them as soon as they are made, so a crash or `kill -9` of huddle loses none of
them. Flushing them to the disk, and copying the log into the file, is the work of a
checkpoint, which the thread makes between commits, at most every `CHECKPOINT_EVERY`
seconds, and mostly while the session runs rather than while it waits: a power cut or
a crash of the system loses at most the commits since the last one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from sessions.errors import SessionBusy, StoreError

if TYPE_CHECKING:
    from sessions.store import Batch

log = logging.getLogger(__name__)

INSERT_SESSION = """
    INSERT INTO sessions (id, created_at, updated_at, task, title, pattern, team, agents, provider,
                          models, seed, status, pid, host, last_seq, parent_id, forked_at, heartbeat)
    VALUES (:id, :created_at, :updated_at, :task, :title, :pattern, :team, :agents, :provider,
            :models, :seed, :status, :pid, :host, :last_seq, :parent_id, :forked_at, :heartbeat)
"""
UPDATE_SESSION = """
    UPDATE sessions SET updated_at = :updated_at, status = :status, tokens_in = :tokens_in,
        tokens_out = :tokens_out, cost = :cost, calls = :calls, turns = :turns,
        duration_s = :duration_s, result = :result, reason = :reason, partial = :partial,
        last_seq = :last_seq, failed_steps = :failed_steps, skipped_steps = :skipped_steps,
        unpriced = :unpriced, resumes = :resumes
    WHERE id = :id
"""
RESUME_SESSION = """
    UPDATE sessions SET status = 'running', pid = :pid, host = :host, heartbeat = :heartbeat
    WHERE id = :id AND last_seq = :after_seq AND status NOT IN ('running', 'waiting', 'completed')
"""
"""A resumed session's row taken over by the process carrying it on: only while it is as
the resume found it (ended, its last event the one the resume follows)."""
CHECKPOINT_EVERY = 0.5
"""Seconds between two checkpoints of the write-ahead log (at most: one is made after a
commit once this long has passed since the last), which also flush it to the disk."""
INSERT_EVENT = "INSERT INTO events (session_id, seq, ts, kind, agent, data) VALUES (?, ?, ?, ?, ?, ?)"


class BatchWriter:
    """Writes recorder batches into the SQLite file at `path`, one transaction each, in the
    order they are sent, on a thread of its own. `translate` turns a `sqlite3.Error` into
    the `StoreError` to raise."""

    def __init__(self, path: Path, busy_timeout: float, translate: Callable[[sqlite3.Error], StoreError]) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._translate = translate
        self._thread: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._checkpointed_at = float("-inf")
        """When the last checkpoint was asked for, by the monotonic clock."""

    def send(self, batch: Batch) -> tuple[asyncio.Future[None], asyncio.Future[None]]:
        """Start writing `batch`. Two futures: the first completes once its events and rows
        are committed, or raises the `StoreError` that kept them out (nothing of the batch
        is then stored); the second once its search documents are written too, just after
        (it never raises: documents not written now are written from the events when the
        database is next opened, `search.INDEX_AGAIN`)."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="huddle-writer")
        loop = asyncio.get_running_loop()
        committed, indexed = loop.create_future(), loop.create_future()
        self._thread.submit(self._record, batch, loop, committed, indexed)
        now = time.monotonic()
        if now - self._checkpointed_at >= CHECKPOINT_EVERY:  # after this batch, before the next
            self._checkpointed_at = now
            self._thread.submit(self._checkpoint)
        return committed, indexed

    async def close(self) -> None:
        """Let the batches sent so far finish, then close the connection and the thread."""
        if self._thread is not None:
            thread, self._thread = self._thread, None
            await asyncio.wrap_future(thread.submit(self._disconnect))
            thread.shutdown(wait=False)

    # -- on the writer's thread ----------------------------------------------------

    def _record(
        self, batch: Batch, loop: asyncio.AbstractEventLoop, committed: asyncio.Future[None], indexed: asyncio.Future[None]
    ) -> None:
        """The events, committed and said so; then their search documents, off the path that
        waits for the commit (a session's last documents are written while the next runs)."""
        try:
            try:
                self._write(batch)
            except BaseException as error:
                _tell(loop, committed, error)
                return
            _tell(loop, committed, None)
            self._index(batch)
        finally:
            _tell(loop, indexed, None)

    def _write(self, batch: Batch) -> None:
        try:
            connection = self._connection or self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                _insert(connection, batch, self._path)
                connection.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):  # gone already if SQLite rolled it back itself (a full disk)
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise self._translate(error) from error

    def _index(self, batch: Batch) -> None:
        """Write the search documents of the batch's events: moving each session's
        `indexed_seq` on writes them (migration 8's trigger), one statement each, in the
        rare moments the thread needs the GIL. Only for a session whose documents are
        written up to this batch: one whose earlier ones were not is left behind, and
        written from its events when it is no longer recorded (`search.INDEX_AGAIN`)."""
        spans: dict[str, tuple[int, int]] = {}
        for session_id, seq, *_ in batch.events:
            first, _ = spans.get(session_id, (seq, seq))
            spans[session_id] = (first, seq)
        assert self._connection is not None  # `_write` opened it
        try:
            self._connection.executemany(
                "UPDATE sessions SET indexed_seq = ? WHERE id = ? AND indexed_seq = ?",
                [(last, session_id, first - 1) for session_id, (first, last) in spans.items()],
            )
        except sqlite3.Error as error:
            log.warning("search documents not written now (they are when %s is next opened): %s", self._path, error)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout)
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint = 0")  # `_checkpoint` does it, between commits
        self._connection = connection
        return connection

    def _checkpoint(self) -> None:
        """Copy what the log holds into the file, flushing both to the disk, as far as the
        readers of the moment let it (a checkpoint that waits for nobody). One that fails
        (the database is busy, or gone) is left to the next."""
        if self._connection is not None:
            try:
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as error:
                log.debug("checkpoint of %s not made now: %s", self._path, error)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _insert(connection: sqlite3.Connection, batch: Batch, path: Path) -> None:
    """The statements of one batch but its search documents, inside its transaction (in the
    database at `path`)."""
    if batch.started:
        connection.executemany(INSERT_SESSION, batch.started)
    for resumed in batch.resumed:
        if connection.execute(RESUME_SESSION, resumed).rowcount != 1:
            raise SessionBusy(
                f"huddle: session {resumed['id']} changed in {path} while it was being resumed "
                "(another huddle resumed or deleted it); nothing was added to it here",
                path=path,
            )
    if batch.events:
        connection.executemany(INSERT_EVENT, batch.events)
    if batch.updates:
        connection.executemany(UPDATE_SESSION, batch.updates)


def _tell(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], error: BaseException | None) -> None:
    """Settle `future` on its loop, from the writer's thread (unless the loop is gone)."""
    with suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(_settle, future, error)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)

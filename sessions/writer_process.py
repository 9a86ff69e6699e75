"""The program that writes a recorder's batches into a SQLite file: a process of its own,
started by `batch_writer.BatchWriter`, so that its work never waits for the event loop's
interpreter, nor the loop for it (a thread would share the loop's GIL: in a busy session
it could run only when the loop was idle, which is when the loop waits for its commit).

It reads frames from its stdin and answers on its stdout, in order. A frame is a 4-byte
little-endian length and a `marshal` of a tuple:

    ("open", path, busy_timeout, setup)      -> nothing (or "failed" at the first batch)
    ("rows", events)                          -> nothing (said with the batch they are of)
    ("batch", started, resumed, events, updates)
        -> ("committed",) or a failure, then ("indexed", warning or None)
    ("drop",)                                 -> nothing
    ("index", events)                         -> ("indexed", warning or None)

"rows" are events of the batch being prepared, sent ahead of it: they are written in its
transaction, so the writing overlaps the preparing, and are committed with it, or not at
all ("drop": the batch will not come). A failure is ("failed", sqlite3 error class,
message, error code, error name), or ("busy", session id) for a resumed session that
changed meanwhile; the batch is then not stored at all. Each batch is one transaction;
its search documents are written just after its commit is said (migration 8's trigger,
by moving `sessions.indexed_seq`). "index" names the events (session and seq) of a batch
huddle committed itself (`BatchWriter.write_now`): their search documents are written
here just the same.

It ends at the end of its stdin, once what it was sent is written: when huddle closes
the store, and when huddle's process ends however it ends (a frame cut short is not
written). Only the standard library is imported here: it starts in a few milliseconds.
"""

from __future__ import annotations

import marshal
import os
import signal
import sqlite3
import struct
import sys
import time
from typing import Any, BinaryIO

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
INSERT_EVENT = "INSERT INTO events (session_id, seq, ts, kind, agent, data) VALUES (?, ?, ?, ?, ?, ?)"
INDEX = "UPDATE sessions SET indexed_seq = ? WHERE id = ? AND indexed_seq = ?"
"""Write a session's search documents up to a seq (migration 8's trigger), if those before
its batch are written: one whose earlier ones were not is left behind, and written from
its events when it is no longer recorded (`search.INDEX_AGAIN`)."""
CHECKPOINT_EVERY = 0.5
"""Seconds between two checkpoints of the write-ahead log (at most: one is made after a
commit once this long has passed since the last), which also flush it to the disk."""
_LENGTH = struct.Struct("<I")


class Busy(Exception):
    """A resumed session's row is no longer as the resume found it."""


class Writer:
    """The connection, and the batches written on it."""

    def __init__(self, path: str, busy_timeout: float, setup: list[str]) -> None:
        self._path, self._busy_timeout, self._setup = path, busy_timeout, setup
        self._connection: sqlite3.Connection | None = None
        self._checkpointed_at = float("-inf")
        self._staged: list[tuple[str, int]] = []
        """The session and seq of each event written ahead of its batch, in its open transaction."""
        self._failed: BaseException | None = None
        """Why events sent ahead of their batch could not be written: the batch fails with it."""

    def stage(self, events: list[tuple[Any, ...]]) -> None:
        """Write events of the next batch in its transaction, opened by the first of them."""
        if self._failed is not None:
            return
        try:
            connection = self._connection or self._connect()
            if not self._staged:
                connection.execute("BEGIN IMMEDIATE")
            self._staged += [(session_id, seq) for session_id, seq, *_ in events]
            connection.executemany(INSERT_EVENT, events)
        except Exception as failure:
            self.drop(failed=failure)

    def drop(self, *, failed: BaseException | None = None) -> None:
        """Undo the events written ahead of a batch: it will not come, or (`failed`) it
        fails with that."""
        if self._staged and self._connection is not None:
            try:
                self._connection.execute("ROLLBACK")
            except sqlite3.Error:  # gone already if SQLite rolled it back itself (a full disk)
                pass
        self._staged, self._failed = [], failed

    def write(self, started: list[dict[str, Any]], resumed: list[dict[str, Any]], events: list[tuple[Any, ...]],
              updates: list[dict[str, Any]]) -> list[tuple[str, int]]:
        """One batch, one transaction (with the events sent ahead of it): nothing of it is
        stored if it raises. Each of its events' session and seq, for `index`."""
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed
        connection = self._connection or self._connect()
        if not self._staged:
            connection.execute("BEGIN IMMEDIATE")
        written, self._staged = self._staged + [(session_id, seq) for session_id, seq, *_ in events], []
        try:
            if started:
                connection.executemany(INSERT_SESSION, started)
            for row in resumed:
                if connection.execute(RESUME_SESSION, row).rowcount != 1:
                    raise Busy(row["id"])
            if events:
                connection.executemany(INSERT_EVENT, events)
            if updates:
                connection.executemany(UPDATE_SESSION, updates)
            connection.execute("COMMIT")
        except BaseException:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:  # gone already if SQLite rolled it back itself (a full disk)
                pass
            raise
        return written

    def index(self, events: list[tuple[str, int]]) -> str | None:
        """Write the search documents of a committed batch's events (each its session and
        seq, in order); why not, if they were not."""
        spans: dict[str, tuple[int, int]] = {}
        for session_id, seq in events:
            first, _ = spans.get(session_id, (seq, seq))
            spans[session_id] = (first, seq)
        try:
            connection = self._connection or self._connect()  # a batch huddle committed may be its first
            connection.executemany(INDEX, [(last, id_, first - 1) for id_, (first, last) in spans.items()])
        except sqlite3.Error as error:
            return str(error)
        return None

    def checkpoint(self) -> None:
        """Copy what the log holds into the file, flushing both to the disk, as far as the
        readers of the moment let it (a checkpoint that waits for nobody), at most every
        `CHECKPOINT_EVERY` seconds. One that fails (the database is busy) is left to the next."""
        now = time.monotonic()
        if self._connection is None or now - self._checkpointed_at < CHECKPOINT_EVERY:
            return
        self._checkpointed_at = now
        try:
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def _connect(self) -> sqlite3.Connection:
        # Commits do not wait for the disk (NORMAL): the operating system has them once
        # made, so a crash of huddle loses none; the checkpoints flush them.
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout)
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA wal_autocheckpoint = 0")  # `checkpoint` does it, between commits
        for statement in self._setup:
            connection.execute(statement)
        self._connection = connection
        return connection


def answer(failure: BaseException) -> tuple[Any, ...]:
    """The reply saying why a batch was not stored."""
    if isinstance(failure, Busy):
        return ("busy", failure.args[0])
    if isinstance(failure, sqlite3.Error):
        return ("failed", type(failure).__name__, str(failure), getattr(failure, "sqlite_errorcode", None),
                getattr(failure, "sqlite_errorname", None))
    return ("failed", "Error", f"{type(failure).__name__}: {failure}", None, None)


def frames(stream: BinaryIO) -> Any:
    """Each message sent, until the end of the stream (a frame cut short ends it too)."""
    while len(head := stream.read(_LENGTH.size)) == _LENGTH.size:
        (length,) = _LENGTH.unpack(head)
        body = stream.read(length)
        if len(body) < length:
            return
        yield marshal.loads(body)


def send(message: tuple[Any, ...]) -> None:
    body = marshal.dumps(message)
    data = _LENGTH.pack(len(body)) + body
    while data:
        data = data[os.write(1, data):]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is huddle's to act on; what it sent is written
    writer: Writer | None = None
    for message in frames(sys.stdin.buffer):
        if message[0] == "open":
            writer = Writer(*message[1:])
            continue
        assert writer is not None, "a batch before the database was named"
        if message[0] == "rows":
            writer.stage(message[1])
            continue
        if message[0] == "drop":
            writer.drop()
            continue
        if message[0] == "index":
            send(("indexed", writer.index(message[1])))
            writer.checkpoint()
            continue
        _, started, resumed, events, updates = message
        try:
            written = writer.write(started, resumed, events, updates)
        except Exception as failure:
            send(answer(failure))
            send(("indexed", None))
            continue
        send(("committed",))
        send(("indexed", writer.index(written)))
        writer.checkpoint()
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main()

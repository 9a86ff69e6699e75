"""Listing sessions from their rows alone: the SQL that `SessionStore` lists with, and a
quick listing of a SQLite file through it for `huddle sessions list`.

The quick listing reads the file with the standard library's `sqlite3` on a read-only
connection, so the command loads neither asyncio, aiosqlite nor pydantic and answers
about as soon as Python has started. It makes the same checks as `SessionStore.open`,
with the same one-line errors, and leaves to the store (None) every database that
opening would change: one to create or upgrade, one not yet in write-ahead logging, one
with sessions whose recording process has ended (opening marks them `interrupted`) or
whose last search documents are not written (opening writes them).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessions import errors
from sessions.files import DEFAULT_BUSY_TIMEOUT, check_file, check_schema
from sessions.migrations import SCHEMA_VERSION, pending
from sessions.rows import COLUMNS, SessionRow
from sessions.search import SESSION_KEYS_MATCHING, UNINDEXED, match_query

SELECT_ROW = f"SELECT {', '.join(COLUMNS)} FROM sessions"
"""Every column of `SessionRow`, in order (`SessionRow.from_db` reads them)."""
LIVE_ROWS = "SELECT id, pid, host, heartbeat FROM sessions WHERE status IN ('running', 'waiting')"
"""The sessions still being recorded, or whose recorder died, with what tells which."""


def where(search: str | None, status: str | None, pattern: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (" WHERE ...", or "" for no filter) and its parameters for the
    filters `SessionStore.list_sessions` takes."""
    clauses: list[str] = []
    parameters: list[Any] = []
    if status is not None:
        clauses.append("status = ?")
        parameters.append(status)
    if pattern is not None:
        clauses.append("pattern = ?")
        parameters.append(pattern)
    query = match_query(search) if search is not None else None
    if query is not None:
        clauses.append(f"key IN ({SESSION_KEYS_MATCHING})")
        parameters.append(query)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def page_query(where: str, order: str = "created_at", direction: str = "DESC") -> str:
    """A page of rows (LIMIT and OFFSET are its last two parameters). Rows that tie keep
    the order they were recorded in, so pages never skip or repeat one."""
    return f"{SELECT_ROW}{where} ORDER BY {order} {direction}, key {direction} LIMIT ? OFFSET ?"


def count_query(where: str) -> str:
    """How many sessions match (the parameters of `where`'s clause)."""
    return f"SELECT count(*) FROM sessions{where}"


def neighbours_query(count: int) -> str:
    """For `count` ids (its parameters): each id with the ids just before and after it."""
    marks = ", ".join("?" for _ in range(count))
    return (
        "SELECT s.id, (SELECT max(id) FROM sessions WHERE id < s.id), "
        f"(SELECT min(id) FROM sessions WHERE id > s.id) FROM sessions AS s WHERE s.id IN ({marks})"
    )


def short_ids(neighbours: Sequence[Sequence[Any]], min_length: int = 8) -> dict[str, str]:
    """Each id of `neighbours_query`'s rows as its shortest prefix, at least `min_length`
    long, that neither neighbour shares."""
    short: dict[str, str] = {}
    for session_id, before, after in neighbours:
        shared = max(len(os.path.commonprefix([session_id, other])) for other in (before or "", after or ""))
        short[session_id] = session_id[: max(min_length, shared + 1)]
    return short


@dataclass(frozen=True)
class Listing:
    """What `huddle sessions list` prints: the rows, as stored (not yet through the gate)."""

    rows: list[SessionRow]
    short: dict[str, str]
    """Each row's id as its shortest unique prefix."""
    total: int
    """How many sessions match the filters (counted only when the page is full)."""


def quick_listing(
    path: Path,
    *,
    search: str | None = None,
    status: str | None = None,
    pattern: str | None = None,
    limit: int,
    tabled: bool = True,
    busy_timeout: float | None = None,
) -> Listing | None:
    """The newest `limit` sessions of the SQLite file at `path` (absolute) matching the
    filters, read without opening a store; None when the store must answer instead (see
    the module's docstring, and any other error of SQLite's: the store says it as it
    always has). A missing file is `errors.NoDatabase`; a file that is not huddle's, or
    that a newer huddle wrote, the `StoreError` that opening the store raises. `tabled`:
    the short ids and the count a table shows are wanted too (JSON needs neither)."""
    busy_timeout = DEFAULT_BUSY_TIMEOUT if busy_timeout is None else busy_timeout
    try:
        if not check_file(path, create=False):
            return None  # empty: opening makes it a database
        check_schema(path, busy_timeout)
    except sqlite3.Error as error:
        raise errors.from_sqlite_error(error, path, busy_timeout=busy_timeout) from error
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=busy_timeout)
    except sqlite3.Error:
        return None
    try:
        return _read(connection, path, search, status, pattern, limit, tabled)
    except sqlite3.Error as error:
        translated = errors.from_sqlite_error(error, path, busy_timeout=busy_timeout)
        if isinstance(translated, errors.DatabaseLocked):  # the store would wait as long again, to say the same
            raise translated from error
        return None
    finally:
        connection.close()


def _read(
    connection: sqlite3.Connection, path: Path, search: str | None, status: str | None, pattern: str | None, limit: int,
    tabled: bool,
) -> Listing | None:
    """The listing, from one snapshot of the file; None when the store must answer."""
    connection.execute("BEGIN")  # one snapshot for every query
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:  # upgraded by a newer huddle in the last moment
        raise errors.schema_too_new(path, version, SCHEMA_VERSION)
    if pending(version) or connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return None
    live = connection.execute(LIVE_ROWS).fetchall()
    if live:
        from sessions.liveness import why_ended  # here: it asks for the host name (socket)

        now = time.time()
        if any(why_ended(pid, host, heartbeat, now) is not None for _, pid, host, heartbeat in live):
            return None
    if connection.execute(f"SELECT 1 FROM sessions AS s WHERE {UNINDEXED} LIMIT 1").fetchone() is not None:
        return None  # opening writes their search documents
    clause, parameters = where(search, status, pattern)
    rows = [SessionRow.from_db(tuple(values)) for values in connection.execute(page_query(clause), [*parameters, limit, 0])]
    if not rows or not tabled:
        return Listing(rows, {}, len(rows))
    ids = [row.id for row in rows]
    short = short_ids(connection.execute(neighbours_query(len(ids)), ids).fetchall())
    # Only a full page can have more behind it: count (a second search) only then.
    total = connection.execute(count_query(clause), parameters).fetchone()[0] if len(rows) == limit else len(rows)
    return Listing(rows, short, int(total))

"""What can go wrong with the session database, each as one line a user can act on.

`str(error)` is the whole message: it names the file and says what to do, so
the command line prints it as it is and the app can show it in a notice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `huddle --help` imports this module: it loads nothing it does not need
    import sqlite3

# SQLite's primary result codes (the low byte of an extended code).
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 10, 11, 13, 14, 26


class StoreError(Exception):
    """A problem with the session database; the message is one user-facing line."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class NoDatabase(StoreError):
    """There is no database file yet, and the command only reads."""


class NotADatabase(StoreError):
    """The file is not SQLite, or is another program's SQLite database."""


class SchemaTooNew(StoreError):
    """The database was written by a newer huddle; it is left untouched."""


class CorruptDatabase(StoreError):
    """SQLite found the file damaged."""


class DatabaseLocked(StoreError):
    """Another program held the write lock for longer than the busy timeout."""


class NotWritable(StoreError):
    """The file or its directory cannot be created, opened or written."""


class DiskFull(StoreError):
    """A write failed because the disk (or the database's size limit) is full."""


class StoreUnreachable(StoreError):
    """The database server cannot be reached now, or the connection to it was lost: it
    may come back, and the next operation tries again (a recorder keeps its events meanwhile)."""


class SessionNotFound(StoreError):
    """No session has this id or id prefix."""


class AmbiguousId(StoreError):
    """More than one session starts with this prefix."""


class SessionBusy(StoreError):
    """The session is still being recorded by a live process."""


_ANOTHER = "pass another file with --db"


def not_a_database(path: Path, why: str = "not SQLite") -> NotADatabase:
    return NotADatabase(f"huddle: {path} is not a huddle database ({why}); pass another file with --db", path=path)


def schema_too_new(path: Path, found: int, supported: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"huddle: {path} was written by a newer huddle (schema version {found}, this huddle reads up to "
        f"{supported}); it was left untouched: upgrade huddle or pass another file with --db",
        path=path,
    )


def not_writable(path: Path, detail: str) -> NotWritable:
    return NotWritable(
        f"huddle: cannot write {path} ({detail}); huddle needs to write it and its directory: "
        f"fix the permissions or {_ANOTHER}",
        path=path,
    )


def from_os_error(error: OSError, path: Path) -> StoreError:
    """A file-system error met while preparing the database file."""
    detail = error.strerror or str(error)
    if isinstance(error, PermissionError):
        return not_writable(path, "permission denied")
    if error.errno == 28:  # ENOSPC
        return DiskFull(f"huddle: the disk holding {path} is full; free some space and try again", path=path)
    return StoreError(f"huddle: cannot use {path} ({detail}); {_ANOTHER}", path=path)


def primary_code(error: sqlite3.Error) -> int | None:
    """SQLite's primary result code for `error` (the low byte of its extended one), if it has one."""
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_busy(error: sqlite3.Error) -> bool:
    """SQLite refused because another connection holds what it needs (SQLITE_BUSY, any kind)."""
    return primary_code(error) == _BUSY


def from_sqlite_error(error: sqlite3.Error, path: Path, *, busy_timeout: float) -> StoreError:
    """The StoreError for an error SQLite raised while working on `path`."""
    primary = primary_code(error)
    message = " ".join(str(error).split())
    if primary == _NOTADB:
        return not_a_database(path)
    if primary == _CORRUPT:
        return CorruptDatabase(
            f"huddle: {path} is damaged ({message}); restore it from a backup, or move it aside "
            "and huddle starts a new one",
            path=path,
        )
    if primary in (_BUSY, _LOCKED):
        return DatabaseLocked(
            f"huddle: {path} is locked by another program (waited {busy_timeout:g}s); "
            "let the other huddle finish, or try again",
            path=path,
        )
    if primary == _FULL:
        return DiskFull(
            f"huddle: the disk holding {path} is full; what was recorded so far is kept: "
            "free some space and try again",
            path=path,
        )
    if primary in (_READONLY, _PERM, _CANTOPEN):
        return not_writable(path, message)
    if primary == _IOERR:
        return StoreError(f"huddle: cannot read or write {path} ({message}); check the disk or {_ANOTHER}", path=path)
    return StoreError(f"huddle: database error in {path} ({message}); {_ANOTHER}", path=path)

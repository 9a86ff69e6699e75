"""The database file before SQLite opens it for writing: made owner-only when new,
and refused, untouched, when it is not huddle's or a newer huddle wrote it."""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from pathlib import Path

from sessions import errors
from sessions.errors import StoreError
from sessions.migrations import APPLICATION_ID, SCHEMA_VERSION

DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds to wait for another program's write lock before giving up."""

_MAGIC = b"SQLite format 3\x00"
_HEADER = 100


def check_file(path: Path, *, create: bool) -> bool:
    """Create the file (owner-only) if need be, and refuse one that is not ours by
    its header alone, before SQLite opens it. True when the file holds a database."""
    try:
        header = _read_header(path, create=create)
    except OSError as error:
        raise errors.from_os_error(error, path) from error
    if not header:
        return False  # new or empty: SQLite makes it a new database
    if len(header) < _HEADER or not header.startswith(_MAGIC):
        raise errors.not_a_database(path)
    version, application = int.from_bytes(header[60:64], "big"), int.from_bytes(header[68:72], "big")
    _check_identity(path, version=version, application=application)
    return True


def _check_identity(path: Path, *, version: int, application: int) -> None:
    """Refuse a database written by a newer huddle, or by another program."""
    if application not in (0, APPLICATION_ID):
        raise errors.not_a_database(path, "an SQLite database of another program")
    if version > SCHEMA_VERSION:
        raise errors.schema_too_new(path, version, SCHEMA_VERSION)
    if application == 0 and version > 0:
        raise errors.not_a_database(path, "an SQLite database of another program")


def check_schema(path: Path, busy_timeout: float) -> None:
    """The identity checks again, through SQLite this time, so that a version still
    in another process's write-ahead log counts. The connection is read-only: it
    never writes the file, nor checkpoints the log into it when it closes."""
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=busy_timeout)
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        connection.close()
    _check_identity(path, version=version, application=application)
    if application != APPLICATION_ID and version == 0 and tables:
        raise errors.not_a_database(path, "an SQLite database of another program")


def _read_header(path: Path, *, create: bool) -> bytes:
    """The first bytes of the file; a new file, readable and writable by its owner
    only, is made first when there is none (and `create` allows it)."""
    if path.is_dir():
        raise StoreError(f"huddle: {path} is a directory; pass a file path with --db", path=path)
    if not path.exists():
        if not create:
            raise errors.NoDatabase(
                f"huddle: there is no session database at {path} yet; 'huddle run' records sessions there, "
                "or pass another file with --db",
                path=path,
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with suppress(FileExistsError):  # another huddle made it a moment ago: check it like any other
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with open(path, "rb") as handle:
        return handle.read(_HEADER)

"""Opening the session database, whichever it is: a SQLite file (`sessions.store`, the
default, needing nothing) or a PostgreSQL database a team shares (`sessions.pg_store`).
Both have the same methods; every command and screen opens its database here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sessions.paths import is_dsn

if TYPE_CHECKING:
    from sessions.pg_store import PgSessionStore
    from sessions.store import SessionStore


async def open_store(target: Path | str, *, create: bool = True) -> SessionStore | PgSessionStore:
    """The store at `target` (`sessions.paths.db_path`): a PostgreSQL address or a SQLite
    file, made or upgraded with `create`, refused (one-line `StoreError`) when it cannot be."""
    if is_dsn(target):
        from sessions.pg_store import PgSessionStore

        return await PgSessionStore.open(str(target), create=create)
    from sessions.store import SessionStore

    return await SessionStore.open(Path(target), create=create)

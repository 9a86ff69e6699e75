"""What can go wrong with a PostgreSQL session store, each as one line a user can act on.

A DSN is shown only without its password (`Dsn.shown`), and every message is
scrubbed of the password besides, so none reaches a screen, a log or an error,
whatever the server or the driver put in their own text.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from sessions.errors import DatabaseLocked, DiskFull, NotWritable, StoreError, StoreUnreachable

if TYPE_CHECKING:
    import asyncpg

SCHEMES = ("postgresql", "postgres")
"""The URL schemes that name a PostgreSQL database (`postgresql://user@host/db`)."""
_HIDDEN = "***"
_ANOTHER = "pass another database with --db"


def is_dsn(text: str) -> bool:
    """True when `text` names a PostgreSQL database rather than a file."""
    return text.partition("://")[0].lower() in SCHEMES


@dataclass(frozen=True)
class Dsn:
    """A PostgreSQL DSN as given (`text`, for the driver only), and as it may be shown."""

    text: str
    shown: str
    """The DSN without its password: the only form any message carries."""
    secrets: tuple[str, ...]
    """The password as written and as decoded, scrubbed from every message."""

    @classmethod
    def parse(cls, text: str) -> Dsn:
        """Read a `postgresql://` URL; a StoreError (that never quotes the text) otherwise."""
        try:
            parts = urlsplit(text.strip())
            query = parse_qsl(parts.query, keep_blank_values=True)
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in SCHEMES:
            raise StoreError(
                "huddle: the database address is not a PostgreSQL URL (postgresql://user@host/database); "
                "fix it or pass a file with --db"
            )
        userinfo, at, hosts = parts.netloc.rpartition("@")
        user, colon, password = userinfo.partition(":")
        secrets = {password, unquote(password)} if colon else set()
        kept = []
        for key, value in query:
            if "password" in key.lower():
                secrets.update({value, unquote(value)})
            else:
                kept.append((key, value))
        netloc = f"{user}@{hosts}" if at else hosts
        query_text = urlencode(kept)
        shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query_text}" if query_text else "")
        return cls(text.strip(), shown, tuple(sorted((s for s in secrets if s), key=len, reverse=True)))

    def scrub(self, message: str) -> str:
        """`message` on one line, without the password anywhere in it."""
        for secret in self.secrets:
            message = message.replace(secret, _HIDDEN)
        return " ".join(message.split())


def _detail(error: BaseException, dsn: Dsn) -> str:
    text = dsn.scrub(str(error)) or type(error).__name__
    return text[:300]


def cannot_connect(error: BaseException, dsn: Dsn, *, timeout: float) -> StoreError:
    """The StoreError for a connection that could not be made at all."""
    if isinstance(error, TimeoutError):
        return StoreUnreachable(
            f"huddle: the PostgreSQL server at {dsn.shown} did not answer within {timeout:g}s; "
            f"check that it runs and can be reached, or {_ANOTHER}"
        )
    if isinstance(error, OSError):
        reason = dsn.scrub(error.strerror or str(error))
        return StoreUnreachable(
            f"huddle: cannot reach the PostgreSQL server at {dsn.shown} ({reason}); "
            f"start it or fix the host and port, or {_ANOTHER}"
        )
    return from_pg_error(error, dsn, busy_timeout=timeout)


def from_pg_error(error: BaseException, dsn: Dsn, *, busy_timeout: float) -> StoreError:
    """The StoreError for an error the driver or the server raised while working on `dsn`."""
    import asyncpg  # here, not at the top: `huddle --help` loads nothing it does not need

    detail = _detail(error, dsn)
    where = dsn.shown
    state = getattr(error, "sqlstate", None) or ""
    if isinstance(error, asyncpg.ClientConfigurationError) or isinstance(error, ValueError):
        return StoreError(f"huddle: the database address {where} is not usable ({detail}); fix it or {_ANOTHER}")
    if state.startswith("28"):
        return StoreError(
            f"huddle: the PostgreSQL server at {where} refused the login ({detail}); "
            "fix the user and password (in the URL, PGPASSWORD or ~/.pgpass)"
        )
    if state == "3D000":
        return StoreError(
            f"huddle: the database in {where} does not exist; create it (createdb) or {_ANOTHER}"
        )
    if state == "42501":
        return NotWritable(
            f"huddle: permission denied in {where} ({detail}); the user needs to create and write "
            f"huddle's tables there (GRANT CREATE, or ask the database's owner), or {_ANOTHER}"
        )
    if state == "55P03":
        return DatabaseLocked(
            f"huddle: {where} is locked by another program (waited {busy_timeout:g}s); "
            "let the other huddle finish, or try again"
        )
    if state.startswith("53"):
        if state == "53100":
            return DiskFull(
                f"huddle: the disk of the PostgreSQL server at {where} is full; what was recorded so far is kept: "
                "free some space and try again"
            )
        return StoreError(f"huddle: the PostgreSQL server at {where} is out of resources ({detail}); try again later")
    if state == "57P03":
        return StoreUnreachable(
            f"huddle: the PostgreSQL server at {where} is starting or stopping ({detail}); try again in a moment"
        )
    if state.startswith(("08", "57")) or isinstance(error, asyncpg.InterfaceError | ConnectionError):
        return StoreUnreachable(
            f"huddle: lost the connection to the PostgreSQL server at {where} ({detail}); "
            "check that the server runs, then try again"
        )
    return StoreError(f"huddle: database error in {where} ({detail}); {_ANOTHER}")


async def close_connection(db: asyncpg.Connection) -> None:
    """Close a connection politely, or cut it if it is gone already or will not say
    goodbye within 5 seconds (a transaction still open is rolled back by the server)."""
    try:
        await asyncio.wait_for(db.close(), timeout=5)
    except Exception:  # noqa: BLE001 - gone already, or will not say goodbye
        db.terminate()

"""The spool: a recorder's batches waiting for a database server that cannot be reached,
kept in order in memory and mirrored, one JSON line each, in a file on local disk that
only its owner may read (`Recorder` writes them once the server is back).

The file's first line is its header (`SpoolHeader`): the database its batches wait for, as
messages show it (a PostgreSQL address without its password), and the process that wrote
it, so that a file whose process is gone is written by the next huddle (`sessions.leftovers`)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from sessions.errors import StoreError, from_os_error
from sessions.liveness import HOST
from sessions.pg_errors import Dsn, is_dsn
from sessions.store import Batch

if TYPE_CHECKING:
    from sessions.pg_store import PgSessionStore
    from sessions.store import SessionStore

SPOOL_EVENTS = 50_000
"""Most events kept while the database is unreachable; past them (or `SPOOL_BYTES`), recording stops."""
SPOOL_BYTES = 100_000_000
"""Most bytes of spooled batches, as written to the spool file."""


def spool_dir() -> Path:
    """Where spool files go: a `spool` folder in the user's cache folder (`~/.cache/huddle` on Linux)."""
    return _spool_dir(os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))


@functools.lru_cache(maxsize=4)
def _spool_dir(_cache_home: str | None, _home: str | None) -> Path:
    """`spool_dir()` for the environment it depends on (its key): worked out once, not for
    each recorder (platformdirs takes a tenth of a millisecond, as long as a short session
    takes to record)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("huddle", appauthor=False)) / "spool"


@dataclasses.dataclass(frozen=True)
class SpoolHeader:
    """Whose a spool file is: the first line of the file."""

    database: str | None
    """The database its batches wait for, as messages show it (never with a password);
    None: not said (a spool made without one is never written by another process)."""
    pid: int
    """The process that wrote the file."""
    host: str
    """The machine that process runs on."""

    def line(self) -> str:
        """The header as the file's first line."""
        return json.dumps({"spool": 1, **dataclasses.asdict(self)}, separators=(",", ":")) + "\n"

    @classmethod
    def parse(cls, line: str) -> SpoolHeader | None:
        """The header a file's first line is; None when it is not one (a file of another
        program, or of a huddle from before spool files had headers)."""
        try:
            found = json.loads(line)
        except ValueError:
            return None
        if not isinstance(found, dict) or found.get("spool") != 1:
            return None
        database, pid, host = found.get("database"), found.get("pid"), found.get("host")
        if not (database is None or isinstance(database, str)) or not isinstance(pid, int) or not isinstance(host, str):
            return None
        return cls(database, pid, host)

    @classmethod
    def of_file(cls, path: Path) -> SpoolHeader | None:
        """The header of the spool file at `path` (its first line only is read); None when it
        has none, or cannot be read now."""
        try:
            with path.open(encoding="utf-8", errors="replace") as file:
                return cls.parse(file.readline(4096))
        except OSError:
            return None


def shown_database(database: str | os.PathLike[str]) -> str:
    """A database as messages show it, and as a spool header names it: a PostgreSQL
    address without its password, a file's path as it is."""
    text = str(database)
    return Dsn.parse(text).shown if is_dsn(text) else text


async def stored(store: SessionStore | PgSessionStore, batch: Batch) -> bool:
    """Whether a batch sent before was committed after all (its commit was cut off, or the
    process that sent it ended before it could say): its first event is stored, as it is
    in the batch. One transaction, so the rest of it is too."""
    session_id, seq, *_, data = batch.events[0]
    found = await store.event_rows(session_id, after_seq=seq - 1, limit=1)
    return bool(found) and found[0][1] == seq and found[0][5] == data


class Spool:
    """Batches waiting for a database that cannot be reached, oldest first, each kept as
    the JSON line it is in a file on local disk (readable by its owner only): the file
    holds its header and exactly what is not written yet, and is removed once it is all written."""

    def __init__(
        self, path: Path, *, database: str | os.PathLike[str] | None = None, pid: int | None = None,
        host: str | None = None, max_events: int | None = None, max_bytes: int | None = None,
    ) -> None:
        """`database`: the one the batches wait for (a PostgreSQL address loses its password
        here); `pid` and `host`: the process that writes the file, by default this one."""
        self.path = path
        self.header = SpoolHeader(
            None if database is None else shown_database(database),
            os.getpid() if pid is None else pid,
            HOST if host is None else host,
        )
        """The file's first line: which database, which process."""
        self._max_events = SPOOL_EVENTS if max_events is None else max_events
        self._max_bytes = SPOOL_BYTES if max_bytes is None else max_bytes
        self._lines: deque[tuple[str, int]] = deque()
        """Each batch as its JSON line, with its count of events."""
        self.in_doubt = False
        """True when the first batch's commit was cut off: it may be stored already."""
        self.events = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._lines)

    @classmethod
    def read(cls, path: Path) -> Spool:
        """The spool a file holds (one another process left), its first batch in doubt (that
        process may have written it, and more, before it ended). A last line cut short (the
        process ended while writing it) is left out; a StoreError when the file has no header
        or a line that is not a batch."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            detail = error.strerror if isinstance(error, OSError) else "not text"
            raise StoreError(f"huddle: cannot read the spool file {path} ({detail})") from None
        lines = text.splitlines(keepends=True)
        header = SpoolHeader.parse(lines[0]) if lines else None
        if header is None:
            raise StoreError(f"huddle: {path} is not a huddle spool file (it has no header)")
        spool = cls(path, database=header.database, pid=header.pid, host=header.host)
        for number, line in enumerate(lines[1:], start=2):
            if not line.endswith("\n"):
                break
            try:
                count = len(Batch(**json.loads(line)).events)
            except (ValueError, TypeError):
                raise StoreError(f"huddle: line {number} of the spool file {path} is not a batch of events") from None
            if count:
                spool._lines.append((line, count))
                spool.events += count
                spool.bytes += len(line)
        spool.in_doubt = bool(spool._lines)
        return spool

    def add(self, batch: Batch, count: int, *, in_doubt: bool = False) -> None:
        """Keep `batch` after the others (an `in_doubt` one goes first: it was sent before
        them); a StoreError when the spool is full or the file cannot be written."""
        line = json.dumps(dataclasses.asdict(batch), separators=(",", ":")) + "\n"
        if self.events + count > self._max_events or self.bytes + len(line) > self._max_bytes:
            raise StoreError(
                f"huddle: the session database was unreachable for too long: more than {self._max_events:,} events "
                f"or {self._max_bytes // 1_000_000} MB waited for it; recording stopped, and what waited is kept "
                f"in {self.path}"
            )
        if in_doubt:
            self._lines.appendleft((line, count))
            self.in_doubt = True
        else:
            self._lines.append((line, count))
        self.events += count
        self.bytes += len(line)
        self._save(append=None if in_doubt or len(self._lines) == 1 else line)

    def first(self) -> tuple[Batch, int]:
        """The oldest batch, and its count of events."""
        line, count = self._lines[0]
        return Batch(**json.loads(line)), count

    def drop_first(self) -> None:
        """Forget the oldest batch (it is written); the file goes when the spool is empty."""
        line, count = self._lines.popleft()
        self.in_doubt = False
        self.events -= count
        self.bytes -= len(line)
        if not self._lines:
            self.path.unlink(missing_ok=True)

    def save(self) -> None:
        """Make the file hold what is left (after some of it was written)."""
        if self._lines:
            self._save(append=None)

    def _save(self, *, append: str | None) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append is not None else os.O_TRUNC)
            fd = os.open(self.path, flags, 0o600)
            with open(fd, "w", encoding="utf-8") as file:
                file.write(append if append is not None else self.header.line() + "".join(line for line, _ in self._lines))
        except OSError as error:
            raise from_os_error(error, self.path) from None

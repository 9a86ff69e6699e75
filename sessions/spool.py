"""The spool: a recorder's batches waiting for a database server that cannot be reached,
kept in order in memory and mirrored, one JSON line each, in a file on local disk that
only its owner may read (`Recorder` writes them once the server is back)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import deque
from pathlib import Path

from sessions.errors import StoreError, from_os_error
from sessions.store import Batch

SPOOL_EVENTS = 50_000
"""Most events kept while the database is unreachable; past them (or `SPOOL_BYTES`), recording stops."""
SPOOL_BYTES = 100_000_000
"""Most bytes of spooled batches, as written to the spool file."""


def spool_dir() -> Path:
    """Where spool files go: a `spool` folder in the user's cache folder (`~/.cache/huddle` on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("huddle", appauthor=False)) / "spool"


class Spool:
    """Batches waiting for a database that cannot be reached, oldest first, each kept as
    the JSON line it is in a file on local disk (readable by its owner only): the file
    holds exactly what is not written yet, and is removed once it is all written."""

    def __init__(self, path: Path, *, max_events: int | None = None, max_bytes: int | None = None) -> None:
        self.path = path
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
        self._save(append=None if in_doubt else line)

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
                file.write(append if append is not None else "".join(line for line, _ in self._lines))
        except OSError as error:
            raise from_os_error(error, self.path) from None

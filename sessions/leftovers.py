"""Spool files left behind: batches a recorder kept while its database was away, whose
process ended before it wrote them (it was killed during the outage, or it gave up: the
spool was full, or the person stopped waiting). The next huddle on that database writes
them, as the recorder would have (`write_leftovers`).

A file is written only by the database its header names, and only once the process that
wrote it is gone (on this machine: one elsewhere, or alive, is left alone). Its batches go
in order, one transaction each; those already stored (a commit whose answer was lost, or
batches written just before the process ended) are skipped. A batch whose place in its
session is taken by other events (the session was resumed without them) is not written:
the rest of the file is kept under another name, and a line says where.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sessions.errors import SessionBusy, StoreError, StoreUnreachable
from sessions.liveness import process_gone
from sessions.spool import Spool, SpoolHeader, shown_database, spool_dir, stored
from sessions.store import Batch

if TYPE_CHECKING:
    from sessions.pg_store import PgSessionStore
    from sessions.store import SessionStore

KEPT_SUFFIX = ".kept"
"""What a spool file that is not to be tried again is renamed to end with."""


@dataclass(frozen=True)
class Leftover:
    """What became of one spool file left behind."""

    path: Path
    """The file as it was found."""
    outcome: Literal["written", "kept", "left"]
    """written: all of it is in the database now, and the file is removed; kept: what was
    not written is kept for good under another name (`kept`); left: it stays in `path`, to
    be tried again next time (the database could not take it now)."""
    written: int
    """Events written from it."""
    line: str
    """One line saying what was written, or what was not and where it is."""
    kept: Path | None = None
    """Where the events that were not written are kept, when they are kept for good."""


async def write_leftovers(store: SessionStore | PgSessionStore, *, folder: Path | None = None) -> list[Leftover]:
    """Write the spool files in `folder` (by default `spool_dir()`) left for `store`'s
    database by processes that are gone, oldest first; what became of each. Sessions a file
    leaves live whose process is gone are then marked `interrupted` (`mark_interrupted`)."""
    database = shown_database(store.path)
    found: list[Leftover] = []
    for path in _left_for(spool_dir() if folder is None else folder, database):
        with _claimed(path) as ours:
            if not ours:
                continue
            try:
                found.append(await _write_file(store, path))
            except StoreUnreachable as error:  # nothing more can be written now; the files stay for next time
                found.append(Leftover(path, "left", 0, _not_now(path, error)))
                break
            except StoreError as error:
                found.append(Leftover(path, "left", 0, _not_now(path, error)))
    if any(one.written for one in found):
        await store.mark_interrupted()
    return found


def _left_for(folder: Path, database: str) -> list[Path]:
    """The spool files in `folder` waiting for `database` whose process is gone, oldest first."""
    try:
        candidates = list(folder.glob("*.jsonl"))
    except OSError:
        return []
    aged: list[tuple[float, Path]] = []
    for path in candidates:
        header = SpoolHeader.of_file(path)
        if header is None or header.database != database or not process_gone(header.pid, header.host):
            continue
        try:
            aged.append((path.stat().st_mtime, path))
        except OSError:  # written and removed by another huddle meanwhile
            continue
    return [path for _, path in sorted(aged)]


@contextmanager
def _claimed(path: Path) -> Iterator[bool]:
    """Hold the file for the time it is written (True), so two huddles starting at once do
    not both write it; False when another holds it, or has already written it."""
    import fcntl  # only reached where a process that is gone can be told (not on Windows)

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield path.exists()  # removed or set aside by the huddle that held it before
    finally:
        os.close(fd)  # and the lock with it


async def _write_file(store: SessionStore | PgSessionStore, path: Path) -> Leftover:
    """Write one file's batches in order, each once; what became of it."""
    database = shown_database(store.path)
    try:
        spool = Spool.read(path)
    except StoreError as error:
        kept = _set_aside(path)
        why = str(error).removeprefix("huddle: ")
        return Leftover(path, "kept", 0, f"huddle: {why}; it is kept as {kept} and not tried again", kept)
    pid = spool.header.pid
    doubt, written = spool.in_doubt, 0
    sessions: dict[str, None] = {}
    while spool:
        batch, count = spool.first()
        if doubt and await stored(store, batch):  # written before its process ended
            spool.drop_first()
            continue
        doubt = False
        clash = await _taken(store, batch)
        if clash is None:
            try:
                await (await store.write_batch(batch))
            except SessionBusy:  # resumed by another huddle meanwhile
                clash = batch.events[0][0]
            except StoreUnreachable:
                _keep_rest(spool, written)
                raise
            except StoreError as error:
                _keep_rest(spool, written)
                return Leftover(path, "left", written, _not_now(path, error))
        if clash is not None:
            spool.save()
            kept = _set_aside(path)
            return Leftover(
                path, "kept", written,
                f"huddle: {spool.events:,} events of session {clash} were not written to {database}: its record "
                f"there has other events in their place (it was resumed without them); they are kept in {kept}",
                kept,
            )
        spool.drop_first()
        written += count
        sessions.update(dict.fromkeys(row[0] for row in batch.events))
    path.unlink(missing_ok=True)  # all of it stored (or nothing in it)
    if not written:
        return Leftover(path, "written", 0, f"huddle: {path} held nothing that {database} did not have; removed")
    return Leftover(
        path, "written", written,
        f"huddle: wrote {written:,} events of session {', '.join(sessions)} to {database}; they waited in "
        f"{path} for it, left by a huddle that ended (pid {pid})",
    )


async def _taken(store: SessionStore | PgSessionStore, batch: Batch) -> str | None:
    """The session whose events are stored from this batch's first one of it on (a batch
    that is not stored itself: other events took their place); None when there is none."""
    first: dict[str, int] = {}
    for row in batch.events:
        first.setdefault(row[0], row[1])
    for session_id, seq in first.items():
        if await store.event_rows(session_id, after_seq=seq - 1, limit=1):
            return session_id
    return None


def _keep_rest(spool: Spool, written: int) -> None:
    """Leave in the file only what was not written, for the next try."""
    if written:
        spool.save()


def _set_aside(path: Path) -> Path:
    """Rename a file not to be tried again (`KEPT_SUFFIX`); where it is now (where it was,
    if it cannot be renamed: it is then tried, and said, again)."""
    kept = path.with_suffix(KEPT_SUFFIX)
    try:
        os.replace(path, kept)
    except OSError:
        return path
    return kept


def _not_now(path: Path, error: StoreError) -> str:
    why = str(error).removeprefix("huddle: ")
    return f"huddle: the events left in {path} were not written ({why}); they are tried again next time"

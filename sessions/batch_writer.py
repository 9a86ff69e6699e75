"""The recorder's transactions on a SQLite file, each written and committed whole by a
process of its own (`writer_process`), while the event loop goes on.

A batch is a handful of statements (sessions started, events, rows brought up to
date). Written on the loop's own interpreter, by aiosqlite or a thread of ours, each
statement would trade the GIL with the loop, and in a busy session a thread gets the
GIL back only every switch interval (5 ms): its work then waits for the loop to be
idle, which is when the loop waits for its commit. The writer process shares nothing
with the loop: it takes a whole batch down a pipe, commits it, and says so, while the
loop goes on; then writes the batch's search documents while the next session runs.
It is started with the first batch, so a store that records nothing (the browser, a
command) never has one, and it ends when the store is closed or huddle's process ends
(it writes what it was sent first).

A batch the loop has nothing to do but wait for (one that ends a session) is the
exception: handed over, its commit would wait for the writer to wake, and the loop for
its answer, each a wake-up on another CPU (a good part of a millisecond each on a
virtual machine). The loop commits it itself, on a connection of its own that waits
for no lock (`write_now`), when nothing is in flight and no other program writes; the
writer process writes its search documents after, as for any batch.

Its commits do not wait for the disk (`synchronous = NORMAL`): the operating system
has them as soon as they are made, so a crash or `kill -9` of huddle loses none of
them. Flushing them to the disk, and copying the log into the file, is the work of a
checkpoint, which the writer makes between commits, at most every `CHECKPOINT_EVERY`
seconds: a power cut or a crash of the system loses at most the commits since the last one.
Search documents it could not write (or a process that ended before writing them) are
written from the events when the database is next opened (`search.INDEX_AGAIN`).
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import sqlite3
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessions.errors import DatabaseLocked, SessionBusy, StoreError
from sessions.writer_process import _LENGTH, CHECKPOINT_EVERY, INSERT_EVENT, RESUME_SESSION, Writer, answer

if TYPE_CHECKING:
    from sessions.store import Batch, EventRow

__all__ = ["BatchWriter", "CHECKPOINT_EVERY", "INSERT_EVENT", "RESUME_SESSION"]

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parent.parent
"""The folder `sessions` is in: where the writer process finds `sessions.writer_process`."""
_PROGRAM = f"import sys; sys.path.insert(0, {str(_ROOT)!r}); from sessions.writer_process import main; main()"


class BatchWriter:
    """Writes recorder batches into the SQLite file at `path`, one transaction each, in the
    order they are sent, in a process of its own. `translate` turns a `sqlite3.Error` into
    the `StoreError` to raise."""

    def __init__(self, path: Path, busy_timeout: float, translate: Callable[[sqlite3.Error], StoreError]) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._translate = translate
        self.setup: list[str] = []
        """Statements the writer runs on its connection as it opens it (tests limit the
        file's size, or fail its search documents, with them)."""
        self._process: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[tuple[asyncio.Future[None], asyncio.Future[None]]] = deque()
        """Each batch sent and not fully answered: its commit, then its search documents."""
        self._unsent = bytearray()
        """What the pipe to the writer could not take yet."""
        self._received = bytearray()
        self._ended: asyncio.Future[None] | None = None
        """Done once the writer has closed its end: it has answered everything, and exits."""
        self._closing = False
        """True once `close` ends the writer's input, after what it was sent."""
        self._waiting_for_room = False
        """True while the loop watches the pipe for room for `_unsent`."""
        self._staged = False
        """True while events sent ahead of the next batch wait for it (`stage`)."""
        self._lost: StoreError | None = None
        """Why the next batch cannot be written: the writer its first events went to ended."""
        self._here: tuple[Writer, int] | None = None
        """The connection `write_now` writes on, and the thread it belongs to."""

    def send(self, batch: Batch) -> tuple[asyncio.Future[None], asyncio.Future[None]]:
        """Start writing `batch`. Two futures: the first completes once its events and rows
        are committed, or raises the `StoreError` that kept them out (nothing of the batch
        is then stored); the second once its search documents are written too, just after
        (it never raises: documents not written now are written from the events when the
        database is next opened, `search.INDEX_AGAIN`)."""
        if self._lost is not None:  # its first events went to a writer that ended since
            lost, self._lost = self._lost, None
            raise lost
        loop = self._running()
        committed, indexed = loop.create_future(), loop.create_future()
        self._waiting.append((committed, indexed))
        self._put(("batch", batch.started, batch.resumed, batch.events, batch.updates))
        self._staged = False
        return committed, indexed

    def write_now(self, batch: Batch) -> tuple[asyncio.Future[None], asyncio.Future[None]] | None:
        """Write `batch` at once, on a connection of this thread's own, if nothing is in
        flight and no other connection holds the database's write lock; None if one does
        (then `send` it). For a batch the event loop has nothing to do but wait for (a
        session's end): committed here, it is spared the writer process's waking and the
        loop's at the answer, each a scheduler's wake-up on another CPU. The two futures of
        `send`, the first done already; the batch's search documents are written by the
        writer process just after, as a sent batch's are."""
        if self._waiting or self._staged or self._unsent:
            return None  # what was sent before is committed first
        loop = self._running()  # it writes the batch's search documents
        if self._here is None or self._here[1] != threading.get_ident():
            self._here = (Writer(str(self._path), 0.0, list(self.setup)), threading.get_ident())
        committed, indexed = loop.create_future(), loop.create_future()
        try:
            written = self._here[0].write(batch.started, batch.resumed, batch.events, batch.updates)
        except Exception as failure:
            error = self._failure(answer(failure))
            if isinstance(error, DatabaseLocked):
                return None
            committed.set_exception(error)
            indexed.set_result(None)
            return committed, indexed
        committed.set_result(None)
        self._waiting.append((committed, indexed))
        self._put(("index", written))
        return committed, indexed

    def stage(self, rows: list[EventRow]) -> None:
        """Send events of the next batch ahead of it: the writer writes them in its
        transaction while the rest are prepared, and commits them with it (`send`), or
        not at all (`drop`)."""
        self._running()
        self._put(("rows", rows))
        self._staged = True

    def drop(self) -> None:
        """Undo the events sent ahead of a batch that will not be sent."""
        if self._process is not None and self._staged:
            self._put(("drop",))
        self._staged, self._lost = False, None

    async def close(self) -> None:
        """Let the batches sent so far be written, then end the writer."""
        here, self._here = self._here, None
        if here is not None and here[1] == threading.get_ident():
            here[0].close()  # one of another thread is closed when it is collected
        process, ended = self._process, self._ended
        if process is None or ended is None:
            return
        if self._loop is not asyncio.get_running_loop():
            self._abandon()
            return
        self._closing = True
        if not self._unsent:  # else once the pipe took the rest (`_flush`): what it was sent, whole
            _close(process.stdin)
        await ended
        process.wait()

    # -- the process -----------------------------------------------------------------

    def _running(self) -> asyncio.AbstractEventLoop:
        """The running event loop, the writer process started for it if it was not."""
        loop = asyncio.get_running_loop()
        if self._process is None or self._loop is not loop:
            self._start(loop)
        return loop

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._process is not None:  # made on another event loop, gone since
            self._abandon()
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _PROGRAM],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C in the terminal is for huddle, which then ends it
            )
        except OSError as error:
            raise StoreError(
                f"huddle: cannot start the process that writes {self._path} ({error.strerror or error})",
                path=self._path,
            ) from None
        assert process.stdin is not None and process.stdout is not None
        os.set_blocking(process.stdin.fileno(), False)
        os.set_blocking(process.stdout.fileno(), False)
        self._process, self._loop, self._ended = process, loop, loop.create_future()
        self._closing = self._waiting_for_room = False
        self._unsent.clear()
        self._received.clear()
        loop.add_reader(process.stdout.fileno(), self._readable)
        self._put(("open", str(self._path), self._busy_timeout, list(self.setup)))

    def _abandon(self) -> None:
        """Let a writer go that was made on an event loop no longer running: it writes what
        it was sent, and ends."""
        process, self._process = self._process, None
        if process is not None:
            with suppress(Exception):  # that loop may be closed already
                assert self._loop is not None and process.stdout is not None
                self._loop.remove_reader(process.stdout.fileno())
                self._loop.remove_writer(process.stdin.fileno())  # type: ignore[union-attr]
            _close(process.stdin)
        self._fail(StoreError(f"huddle: the writer of {self._path} was let go with batches unwritten", path=self._path))

    def _put(self, message: tuple[Any, ...]) -> None:
        body = marshal.dumps(message)
        self._unsent += _LENGTH.pack(len(body))
        self._unsent += body
        self._flush()

    def _flush(self) -> None:
        """Hand the pipe what it takes now; the rest when it has room."""
        process, loop = self._process, self._loop
        if process is None or loop is None or process.stdin is None:
            return
        fd = process.stdin.fileno()
        try:
            written = os.write(fd, self._unsent)
        except BlockingIOError:
            written = 0
        except OSError:  # the writer is gone: said when its output ends (`_readable`)
            written = len(self._unsent)
        del self._unsent[:written]
        if self._unsent:
            if not self._waiting_for_room:
                loop.add_writer(fd, self._flush)
                self._waiting_for_room = True
            return
        if self._waiting_for_room:
            loop.remove_writer(fd)
            self._waiting_for_room = False
        if self._closing:
            _close(process.stdin)

    def _readable(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        try:
            data = os.read(process.stdout.fileno(), 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone(process)
            return
        received = self._received
        received += data
        start = 0
        while len(received) - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(received, start)
            end = start + _LENGTH.size + length
            if len(received) < end:
                break
            self._answer(marshal.loads(received[start + _LENGTH.size:end]))
            start = end
        del received[:start]

    def _answer(self, message: tuple[Any, ...]) -> None:
        committed, indexed = self._waiting[0]
        kind = message[0]
        if kind == "indexed":
            self._waiting.popleft()
            if message[1] is not None:
                log.warning("search documents not written now (they are when %s is next opened): %s", self._path, message[1])
            _settle(indexed, None)
        elif kind == "committed":
            _settle(committed, None)
        else:
            _settle(committed, self._failure(message))

    def _failure(self, message: tuple[Any, ...]) -> StoreError:
        if message[0] == "busy":
            return SessionBusy(
                f"huddle: session {message[1]} changed in {self._path} while it was being resumed "
                "(another huddle resumed or deleted it); nothing was added to it here",
                path=self._path,
            )
        _, name, text, code, code_name = message
        kind = getattr(sqlite3, name, sqlite3.Error)
        error = (kind if isinstance(kind, type) and issubclass(kind, sqlite3.Error) else sqlite3.Error)(text)
        error.sqlite_errorcode, error.sqlite_errorname = code, code_name  # type: ignore[attr-defined]
        return self._translate(error)

    def _gone(self, process: subprocess.Popen[bytes]) -> None:
        """The writer closed its output: it ended, after a `close` or not."""
        assert self._loop is not None and process.stdout is not None
        self._loop.remove_reader(process.stdout.fileno())
        if process.stdin is not None and not process.stdin.closed:
            self._loop.remove_writer(process.stdin.fileno())
        if self._waiting or self._staged:
            said = _last_line(process)
            error = StoreError(
                f"huddle: the process writing {self._path} ended unexpectedly"
                f"{f' ({said})' if said else ''}; what was committed before is kept",
                path=self._path,
            )
            self._fail(error)
            if self._staged:
                self._staged, self._lost = False, error
        _close(process.stdin)
        self._process = None
        if self._ended is not None:
            _settle(self._ended, None)

    def _fail(self, error: StoreError) -> None:
        while self._waiting:
            committed, indexed = self._waiting.popleft()
            _settle(committed, error)
            _settle(indexed, None)


def _close(stream: Any) -> None:
    with suppress(OSError):
        if stream is not None:
            stream.close()


def _last_line(process: subprocess.Popen[bytes]) -> str:
    """The last line the writer said on its stderr, if it said anything (a traceback's)."""
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    try:
        said = process.stderr.read() or b""
    except OSError:
        said = b""
    lines = said.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit code {process.poll()}"


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    with suppress(RuntimeError):  # its event loop is closed: nobody waits for it any more
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

"""Recording a live session into the session database, for headless runs and the app.

    recording = await LiveRecording.open(path)      # StoreError before anything runs
    async with recording:                           # closes the database
        recording.attach(bus)                       # before the session starts
        session = asyncio.create_task(run_session(..., bus=bus))
        finished = await recording.watch(session)   # StoreError if recording failed
        await recording.finish()                    # the rest of the stream, committed
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from engine.bus import EventBus
from sessions.recorder import Recorder
from sessions.store import SessionStore

T = TypeVar("T")


class LiveRecording:
    """The database a live session is recorded into, and its recorder once attached."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self._recorder: Recorder | None = None

    @classmethod
    async def open(cls, path: Path) -> LiveRecording:
        """Open the database at `path` and make sure it can be written now, so a
        read-only file or a lock held by another program is reported before the
        session starts, not in the middle of it."""
        store = await SessionStore.open(path)
        try:
            await store.check_writable()
        except BaseException:
            await store.close()
            raise
        return cls(store)

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            raise RuntimeError("attach() the recording to the session's bus first")
        return self._recorder

    def attach(self, bus: EventBus) -> Recorder:
        """Record everything `bus` publishes from now on; call it before the session starts."""
        if self._recorder is not None:
            raise RuntimeError("this recording is already attached to a bus")
        self._recorder = Recorder.attach(self.store, bus)
        self._recorder.start()
        return self._recorder

    async def watch(self, session: asyncio.Task[T]) -> T:
        """The session's result. If recording fails first, the session is cancelled
        (what nobody records cannot be replayed) and the error that stopped
        recording is raised; what was committed before stays readable."""
        failure = self.recorder.failure
        either: set[asyncio.Future[Any]] = {session, failure}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if session.done():
            return session.result()
        session.cancel()
        await asyncio.wait({session})
        raise failure.result()

    async def finish(self) -> None:
        """Commit the rest of the stream and stop recording; raises the error that
        stopped recording early, if one did."""
        await self.recorder.finish()

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> LiveRecording:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

"""The bridge between the engine and the screen.

`LiveSession` runs the engine on the app's own event loop. `pump` reads its
event stream at most `rate` times a second and posts each batch to the screen
as one `EventsArrived` message, so a burst of token deltas costs the UI one
update per agent per tick, not one per delta.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from textual.message import Message
from textual.message_pump import MessagePump

from engine.approvals import ApprovalGate
from engine.bus import EventBus
from engine.events import EventBase, SessionFinished
from engine.providers.base import Provider
from engine.session import EngineConfig, SessionSpec, new_session_id, run_session
from sessions.errors import StoreError
from sessions.store import SessionStore
from tui.recording import LiveRecording

UI_RATE = 10.0
"""Screen updates per second while events stream in."""


class EventsArrived(Message):
    """A batch of session events, in order."""

    def __init__(self, events: list[EventBase]) -> None:
        super().__init__()
        self.events = events


class Source(Protocol):
    """Where a screen's events come from: `wait` for more, `take` what is queued."""

    async def wait(self, timeout: float | None = None) -> bool: ...

    def take(self, max_items: int | None = None) -> list[EventBase]: ...

    @property
    def closed(self) -> bool: ...


async def pump(source: Source, target: MessagePump, rate: float = UI_RATE) -> None:
    """Post everything `source` yields to `target`, in batches, until it closes."""
    interval = 1.0 / rate
    while not source.closed:
        await source.wait()
        await asyncio.sleep(interval)  # let a tick's worth of events gather
        batch = source.take()
        if batch:
            target.post_message(EventsArrived(batch))


class LiveSession:
    """A session running on this loop: its bus, its approval gate, its outcome."""

    def __init__(
        self,
        spec: SessionSpec,
        provider: Provider,
        config: EngineConfig | None = None,
        *,
        store: SessionStore | None = None,
    ) -> None:
        self.spec = spec
        self.provider = provider
        self.config = config or EngineConfig()
        self.session_id = new_session_id()
        self.bus = EventBus()
        self.gate = ApprovalGate(spec.policy)
        self.events = self.bus.subscribe()
        self.finished: SessionFinished | None = None
        """The session's last event, once it has one (also when it was cancelled)."""
        self.bus.listen(self._keep_finished)
        self.running = False
        self._task: asyncio.Future[SessionFinished] | None = None
        self._recording = LiveRecording(store) if store is not None else None
        self.error: StoreError | None = None
        """Why recording failed, if it did (the session was then stopped)."""
        self._done = asyncio.Event()

    async def run(self) -> SessionFinished | None:
        """Run (and record) the session to its end; the app runs this as a worker."""
        self.running = True
        if self._recording is not None:
            self._recording.attach(self.bus)
        self._task = asyncio.ensure_future(
            run_session(
                self.spec, self.provider, bus=self.bus, gate=self.gate,
                config=self.config, session_id=self.session_id,
            )
        )
        try:
            if self._recording is not None:
                await self._recording.watch(self._task)  # type: ignore[arg-type]
            else:
                await self._task
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise  # the worker itself was cancelled, not just the session
        except StoreError as error:
            self.error = error
        finally:
            self.running = False
            self.bus.close()
            if self._recording is not None:
                try:
                    await self._recording.finish()
                except StoreError as error:
                    self.error = self.error or error
            self._done.set()
        return self.finished

    async def stopped(self) -> None:
        """Wait until a started session has ended and its recording is committed."""
        if self._task is not None:
            await self._done.wait()

    def _keep_finished(self, event: EventBase) -> None:
        if isinstance(event, SessionFinished):
            self.finished = event

    def cancel(self) -> None:
        """Stop the session; it finishes as cancelled, keeping what was done."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

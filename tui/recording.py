"""A live session, recorded into the session database: what the app's session screen
and headless runs both run. Nothing here needs Textual.

    live = LiveSession(spec, provider, config, store=store)
    live.bus.listen(...)                 # readers, before it runs
    await live.run()                     # to its end, recorded; problems kept in `live.error`
"""

from __future__ import annotations

import asyncio
from functools import cached_property

from engine.approvals import ApprovalGate
from engine.bus import EventBus, Subscription
from engine.events import EventBase, SessionFinished
from engine.providers.base import Provider
from engine.session import EngineConfig, SessionSpec, new_session_id, run_session
from sessions.errors import StoreError
from sessions.recorder import Recorder
from sessions.store import SessionStore
from tui.exits import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK


class LiveSession:
    """A session running on this loop: its bus, its approval gate, its recording, its outcome."""

    def __init__(
        self,
        spec: SessionSpec,
        provider: Provider,
        config: EngineConfig | None = None,
        *,
        store: SessionStore | None = None,
        session_id: str | None = None,
    ) -> None:
        self.spec = spec
        self.provider = provider
        self.config = config or EngineConfig()
        self.store = store
        """The database it is recorded into; None: not recorded."""
        self.session_id = session_id or new_session_id()
        self.bus = EventBus()
        self.gate = ApprovalGate(spec.policy)
        self.finished: SessionFinished | None = None
        """The session's last event, once it has one (also when it was cancelled)."""
        self.bus.listen(self._keep_finished)
        self.running = False
        self.cancelled = False
        """True once `cancel()` stopped the session (or kept it from starting)."""
        self.error: StoreError | None = None
        """Why recording failed, if it did: the session was then stopped, or never started."""
        self._task: asyncio.Future[SessionFinished] | None = None
        self._done = asyncio.Event()

    @cached_property
    def events(self) -> Subscription:
        """Every event, queued for a reader that drains it (the app's screen). Made
        when first asked for: ask before `run()`."""
        return self.bus.subscribe()

    async def run(self) -> SessionFinished | None:
        """Run (and record) the session to its end; the app runs this as a worker.

        A database that cannot be written now (read-only, or locked by another
        program) is found before the session starts; recording that fails midway
        stops the session, since what nobody records cannot be replayed.
        """
        self.running = True
        recorder: Recorder | None = None
        try:
            if self.store is not None:
                await self.store.check_writable()
                recorder = Recorder.attach(self.store, self.bus)
                recorder.start()
            if not self.cancelled:
                self._task = asyncio.ensure_future(
                    run_session(
                        self.spec, self.provider, bus=self.bus, gate=self.gate,
                        config=self.config, session_id=self.session_id,
                    )
                )
                await self._watch(self._task, recorder)
        except asyncio.CancelledError:
            if self._task is None or not self._task.cancelled():
                raise  # the worker itself was cancelled, not just the session
        except StoreError as error:
            self.error = error
        finally:
            self.bus.close()
            try:
                if recorder is not None:
                    await recorder.finish()
            except StoreError as error:
                self.error = self.error or error
            finally:
                # Running until its record is committed: quitting before then would
                # cancel the last commit, and the session would stay "running".
                self.running = False
                self._done.set()
        return self.finished

    @staticmethod
    async def _watch(session: asyncio.Future[SessionFinished], recorder: Recorder | None) -> None:
        """Wait for the session. If recording fails first, cancel the session and
        raise the error that stopped recording; what was committed stays readable."""
        if recorder is None:
            await session
            return
        await asyncio.wait({session, recorder.failure}, return_when=asyncio.FIRST_COMPLETED)
        if session.done():
            session.result()
            return
        session.cancel()
        await asyncio.wait({session})
        raise recorder.failure.result()

    async def stopped(self) -> None:
        """Wait until a started session has ended and its recording is committed."""
        if self._task is not None:
            await self._done.wait()

    def _keep_finished(self, event: EventBase) -> None:
        if isinstance(event, SessionFinished):
            self.finished = event

    def cancel(self) -> None:
        """Stop the session; it finishes as cancelled, keeping what was done. One
        that has not started yet never starts."""
        if self._done.is_set() or (self._task is not None and self._task.done()):
            return
        self.cancelled = True
        if self._task is not None:
            self._task.cancel()

    def exit_status(self) -> int:
        """What the command exits with once it ran: 0 completed with every step done,
        130 cancelled, else 1 (a script must not take failed or skipped steps for success)."""
        finished = self.finished
        if finished is not None and finished.status == "completed":
            return EXIT_FAILED if finished.failed_steps or finished.skipped_steps else EXIT_OK
        return EXIT_CANCELLED if self.cancelled else EXIT_FAILED

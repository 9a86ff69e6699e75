"""A live session, recorded into the session database: what the app's session screen
and headless runs both run. Nothing here needs Textual.

    live = LiveSession(spec, provider, config, store=store)
    live.bus.listen(...)                 # readers, before it runs
    await live.run()                     # to its end, recorded; problems kept in `live.error`
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from engine.approvals import ApprovalGate
from engine.bus import EventBus, Subscription
from engine.events import CallFailed, ErrorEvent, EventBase, SessionFinished, SessionResumed, SessionStarted
from engine.providers.base import Provider
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, new_session_id, run_session
from sessions.errors import StoreError, StoreUnreachable
from sessions.leftovers import write_leftovers
from sessions.recorder import Recorder
from sessions.scratch import scratch_folder
from sessions.store import SessionStore
from tui import logs
from tui.exits import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
from tui.taking import DecisionTaker

if TYPE_CHECKING:
    from engine.otel.otlp import LiveTraces

log = logging.getLogger(__name__)


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
        resume: Sequence[EventBase] | None = None,
        record: Record | None = None,
    ) -> None:
        """`resume`: the stored events of the session this carries on in its own record
        (see `tui.resuming`), all of them; its id is then the session's. `record`: what
        the session it is forked from answers, up to the fork (see `tui.forking`)."""
        self.spec = spec
        self.provider = provider
        self.config = config or EngineConfig()
        self.store = store
        """The database it is recorded into; None: not recorded."""
        self.resume = list(resume) if resume is not None else None
        """The record of the session carried on; None: a session of its own."""
        self.record = record
        """The record a fork's parent answers from, up to the fork; None: not a fork."""
        self.session_id = self.resume[0].session_id if self.resume else session_id or new_session_id()
        if self.config.scratch is None:  # its own (a resume: the one it had; a fork: a new one)
            self.config = replace(self.config, scratch=scratch_folder(self.session_id))
        self.bus = EventBus()
        self.gate = ApprovalGate(spec.policy)
        self.finished: SessionFinished | None = None
        """The session's last event, once it has one (also when it was cancelled)."""
        self.bus.listen(self._keep_finished)
        self.bus.listen(self._trail)
        logs.hide(getattr(provider, "secrets", ()))
        self.problem: str | None = None
        """The line telling the person that the session ended on an internal error
        (a bug, or too many failures in a row), and where its details are."""
        self.running = False
        self.cancelled = False
        """True once `cancel()` stopped the session (or kept it from starting)."""
        self.error: StoreError | None = None
        """Why recording failed, if it did: the session was then stopped, or never started."""
        self.buffering: str | None = None
        """While the database is unreachable and the session goes on, the line that says so."""
        self.on_buffering: Callable[[str], None] | None = None
        """Told the line to show when the database becomes unreachable, and when it is back
        (the app's notice, a line on stderr headless); and, before the session starts, a
        line for each spool file another huddle left for it (`_write_leftovers`)."""
        self.on_traces: Callable[[str], None] | None = None
        """Told the line to show when the session's trace cannot be sent (`EngineConfig.traces`):
        the app's notice, a line on stderr headless. The session goes on."""
        self._task: asyncio.Future[SessionFinished] | None = None
        self._recorder: Recorder | None = None
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
        stops the session, since what nobody records cannot be replayed. A database
        server that goes away does not: the recorder keeps the events until it is back
        (`buffering` says so meanwhile).
        """
        self.running = True
        recorder: Recorder | None = None
        taker: DecisionTaker | None = None
        traces: LiveTraces | None = None
        try:
            traces = await self._start_traces()
            if self.store is not None:
                await self.store.check_writable()
                await self._write_leftovers(self.store)
                recorder = self._recorder = Recorder.attach(self.store, self.bus)
                recorder.on_buffering = self._buffering
                if self.resume:
                    recorder.resuming(self.resume)
                recorder.start()
                # Decisions from the inbox or an attached screen, anywhere on the store.
                taker = DecisionTaker(self.store, self.session_id, self.gate, self.bus)
                taker.start()
            if not self.cancelled:
                resume = Record.from_events(self.resume) if self.resume else None
                self._task = asyncio.ensure_future(
                    run_session(
                        self.spec, self.provider, bus=self.bus, gate=self.gate,
                        config=self.config, session_id=self.session_id, resume=resume, record=self.record,
                    )
                )
                await self._watch(self._task, recorder)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                self.cancelled = True  # the worker itself was cancelled, and so is its session
                raise
        except StoreError as error:
            self.error = error
        finally:
            # In a task of its own: cancelled again (an app that exits cancels its workers,
            # more than once), the session still records its end, and `stopped()` says when.
            winding_up = asyncio.ensure_future(self._wind_up(recorder, taker, traces))
            await asyncio.shield(winding_up)
        return self.finished

    async def _wind_up(self, recorder: Recorder | None, taker: DecisionTaker | None, traces: LiveTraces | None) -> None:
        """After the session (ended, cancelled or failed): its engine task ended, its
        decisions no longer taken, its recording committed, its trace sent."""
        try:
            await self._end_engine()
            if taker is not None:
                await taker.stop()
            self.bus.close()
            if recorder is not None:
                await recorder.finish()
        except StoreError as error:
            self.error = self.error or error
        finally:
            if traces is not None:  # its last spans sent (or given up) once the record is safe
                await asyncio.to_thread(traces.close)
            # Running until its record is committed: quitting before then would
            # cancel the last commit, and the session would stay "running".
            self.running = False
            self._done.set()

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

    async def _start_traces(self) -> LiveTraces | None:
        """The session's trace, sent as it runs when `config.traces` says where; None when
        it goes nowhere, or the otel extra is missing (one line says so). Set up off the
        loop: the SDK's import, and a resumed record folded, take a moment."""
        if self.config.traces is None:
            return None
        traces = await asyncio.to_thread(self._make_traces, asyncio.get_running_loop())
        if traces is not None:
            self.bus.listen(traces.feed)
        return traces

    def _make_traces(self, loop: asyncio.AbstractEventLoop) -> LiveTraces | None:
        def tell(line: str) -> None:  # from the SDK's thread, or this one
            loop.call_soon_threadsafe(self._traces_line, line)

        try:
            from engine.otel.otlp import LiveTraces
        except ImportError:
            from engine.otel.target import NEEDS_SDK

            tell(f"{NEEDS_SDK}; the session goes on without them")
            return None
        try:
            return LiveTraces(
                self.config.traces, secrets=getattr(self.provider, "secrets", ()), before=self.resume or (), tell=tell,
            )
        except Exception as error:  # noqa: BLE001 - the SDK refused its settings: the session runs untraced
            tell(f"huddle: the session's trace could not be set up ({logs.internal_error(error, 'traces')}); "
                 "the session goes on without it")
            return None

    def _traces_line(self, line: str) -> None:
        log.warning("%s", line)
        if self.on_traces is not None:
            self.on_traces(line)

    async def _write_leftovers(self, store: SessionStore) -> None:
        """Write the events recorders that ended left waiting for this database (`sessions.leftovers`),
        before this session records; a line says what became of each file. One that cannot be
        written now stays for the next huddle, and this session starts all the same."""
        try:
            lines = [one.line for one in await write_leftovers(store)]
        except StoreError as error:
            lines = [f"huddle: the events other huddles left waiting for the database were not written: "
                     f"{str(error).removeprefix('huddle: ')}"]
        for line in lines:
            log.info("%s", line)
            if self.on_buffering is not None:
                self.on_buffering(line)

    async def _end_engine(self) -> None:
        """No engine task outlives its runner: one still going when the runner ends (it was
        cancelled, or failed) is cancelled, and awaited, so it records how it ended."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def stopped(self) -> None:
        """Wait until a started session has ended and its recording is committed."""
        if self._task is not None:
            await self._done.wait()

    def _buffering(self, error: StoreUnreachable | None) -> None:
        """Say that the database went away and the session goes on, or that it is back."""
        if error is not None and self._recorder is not None:
            spool = self._recorder.spool.path
            reason = str(error).removeprefix("huddle: ").split("; ", 1)[0]
            self.buffering = line = (
                f"huddle: the session database is unreachable ({reason}); the session goes on and its events "
                f"are kept in {spool} until it is back"
            )
        else:
            self.buffering = None
            line = "huddle: the session database is back; the events kept meanwhile are written to it"
        if self.on_buffering is not None:
            self.on_buffering(line)

    def _keep_finished(self, event: EventBase) -> None:
        if isinstance(event, SessionFinished):
            self.finished = event

    def _trail(self, event: EventBase) -> None:
        """Log what a reader of the log needs to follow a failure: ids, kinds and error
        types, never the text of a task, a prompt, a reply or an error a model caused."""
        if isinstance(event, SessionStarted):
            log.info("session %s started: pattern %s, provider %s, %d agents",
                     event.session_id, event.pattern, event.provider, len(event.team.agents))
        elif isinstance(event, SessionResumed):
            log.info("session %s resumed after seq %d (it was %s); %d calls answered from its record",
                     event.session_id, event.after_seq, event.previous_status, event.calls)
        elif isinstance(event, CallFailed):
            log.warning("session %s: call %s failed (attempt %d): %s%s",
                        event.session_id, event.call_key, event.attempt, event.error_type, ", final" if event.final else "")
        elif isinstance(event, ErrorEvent):
            log.warning("session %s: %s error%s%s", event.session_id, event.error_type,
                        f" at {event.agent}" if event.agent else "", ", fatal" if event.fatal else "")
            if event.error_type == "internal" and event.fatal:
                self.problem = f"{event.message} ({logs.where()})"
        elif isinstance(event, SessionFinished):
            log.info("session %s %s after %d calls in %.1f s",
                     event.session_id, event.status, event.calls, event.duration_s)

    def cancel(self) -> None:
        """Stop the session; it finishes as cancelled, keeping what was done. One
        that has not started yet never starts. Once it has ended, while its events wait
        for a database that is away, stop waiting (they stay in the spool file)."""
        if self._done.is_set():
            return
        if self._task is not None and self._task.done():
            if self._recorder is not None and self._recorder.buffering:
                self._recorder.stop_waiting()
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

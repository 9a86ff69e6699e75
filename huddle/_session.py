"""A session run from Python: `Session`, the handle you follow and answer, and `run()`,
which runs one to its end when nobody needs to answer.

Both run the session the way the command line does (`tui.recording.LiveSession`: the
engine's `run_session` on this event loop, and its recording when asked for), so a
session run from here reads in `huddle sessions` like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from engine.agents import TeamSpec
from engine.approvals import Decision
from engine.budgets import Limits
from engine.events import EscalationRequested, Event, SessionFinished
from engine.session import new_session_id
from huddle._setup import Database, PolicyChoice, SandboxChoice, approval_policy, asks, setup

if TYPE_CHECKING:
    from engine.bus import Subscription
    from tui.recording import LiveSession

for _logger in ("engine", "sessions", "tui"):
    # A library's loggers print nothing unless the program configures logging (the logging
    # HOWTO's advice): a retried call is an event here, not a line on the program's stderr.
    logging.getLogger(_logger).addHandler(logging.NullHandler())


class Session:
    """One session, run on the current event loop while its `async with` block lasts.

        async with huddle.Session("Design a rate limiter", team=team) as session:
            async for event in session:              # every event, session.started first
                if isinstance(event, huddle.events.EscalationRequested) and event.human:
                    await session.approve(event)
        result = await session.wait()                # its session.finished

    Entering the block starts it; leaving the block ends it: a session still running
    then is cancelled (and finishes as "cancelled", keeping what was done). A session
    runs once. By default every escalation waits for you (`policy="ask"`): it comes as an
    `EscalationRequested` with `human=True`, and only the branch that raised it waits
    until you call `approve`, `reject` or `edit`.
    """

    def __init__(
        self,
        task: str,
        *,
        team: TeamSpec | None = None,
        pattern: str = "orchestrator",
        provider: str | None = None,
        policy: PolicyChoice = "ask",
        limits: Limits | None = None,
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
        speed: float = 0.0,
        record: Database = False,
        sandbox: SandboxChoice = "auto",
    ) -> None:
        """Check and prepare a session; `ValueError` (one line) says what is wrong.

        `team`: the agents (default: the pattern's preset team). `pattern`: one of
        `huddle patterns`. `provider`: run every agent on it ("simulated", "anthropic",
        "openai" or one of config.toml's; keys come from the environment or config.toml,
        as for the command line); default: each agent's own, else the simulated one.
        `policy`: who decides escalations. `limits`: budgets. `options`: the pattern's
        options. `seed`: the simulated provider's (the same seed and task, the same
        session). `speed`: its pace, 0 at once, 1 about 50 tokens a second per agent.
        `record`: the database to record it in (True: the one `huddle sessions` shows).
        `sandbox`: where agents given `run_python` or `run_shell` run code.
        """
        self._setup = setup(
            task, team=team, pattern=pattern, provider=provider, policy=policy, limits=limits, options=options,
            seed=seed, speed=speed, record=record, sandbox=sandbox,
        )
        self._id = new_session_id()
        self._live: LiveSession | None = None
        self._events: Subscription | None = None
        self._task: asyncio.Task[SessionFinished | None] | None = None
        self._store = contextlib.AsyncExitStack()

    @property
    def id(self) -> str:
        """The session's id (as `huddle sessions` shows it, when recorded)."""
        return self._id

    async def __aenter__(self) -> Session:
        """Start the session (after opening its database, when it is recorded)."""
        if self._live is not None:
            raise RuntimeError("a Session runs once: make another one to run again")
        from tui.recording import LiveSession  # here: the recording loads the store only when used

        store = None
        if self._setup.db is not None:
            from sessions.opening import open_store

            store = await self._store.enter_async_context(await open_store(self._setup.db))
        self._live = live = LiveSession(
            self._setup.spec, self._setup.provider, self._setup.config, session_id=self._id,
            store=store,  # type: ignore[arg-type]  # typed for SQLite's store; PostgreSQL's records alike
        )
        self._events = live.bus.subscribe()  # before it starts: nothing is missed
        self._task = asyncio.create_task(live.run())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None,
    ) -> None:
        """End the session: cancel it if it still runs, and wait until it is recorded."""
        live, task = self._running()
        try:
            if live.finished is None:
                live.cancel()
            await task
        finally:
            await self._store.aclose()

    def __aiter__(self) -> AsyncIterator[Event]:
        """Every event of the session, in order, from `session.started` to
        `session.finished`; each is yielded once, whoever iterates."""
        self._running()
        return self._follow()

    async def _follow(self) -> AsyncIterator[Event]:
        assert self._events is not None
        async for batch in self._events.batches():
            for event in batch:
                yield cast(Event, event)

    async def wait(self) -> SessionFinished:
        """Wait for the session's end; its `session.finished`: `status`, `result`,
        `usage`, `cost`, `session_id`... Raises `StoreError` when recording it failed."""
        live, task = self._running()
        await asyncio.wait({task})
        task.result()
        if live.error is not None:
            raise live.error
        if live.finished is None:
            raise RuntimeError(f"session {self._id} was cancelled before it started")
        return live.finished

    def cancel(self) -> None:
        """Stop the session: it finishes as "cancelled", keeping what was done."""
        self._running()[0].cancel()

    async def approve(self, escalation: EscalationRequested | str) -> None:
        """Approve an escalation waiting for you (the event, or its `escalation_id`)."""
        self._decide(escalation, Decision("approve"))

    async def reject(self, escalation: EscalationRequested | str, reason: str = "") -> None:
        """Reject an escalation waiting for you; the agent gets `reason` back (a rejected
        plan is planned again with it)."""
        self._decide(escalation, Decision("reject", reason=reason.strip() or "rejected without a reason"))

    async def edit(self, escalation: EscalationRequested | str, payload: Any) -> None:
        """Answer an escalation waiting for you with its payload changed (a plan, a
        handoff, a tool's input, a new limit). Raises `DecisionError` for an edit it
        does not take (one that does not validate); it then still waits."""
        self._decide(escalation, Decision("edit", edited=payload))

    def _decide(self, escalation: EscalationRequested | str, decision: Decision) -> None:
        """Answer one escalation; `DecisionError` for one not waiting, or a decision it does not offer."""
        escalation_id = escalation if isinstance(escalation, str) else escalation.escalation_id
        self._running()[0].gate.resolve(escalation_id, decision)

    def _running(self) -> tuple[LiveSession, asyncio.Task[SessionFinished | None]]:
        if self._live is None or self._task is None:
            raise RuntimeError("start the session first: async with huddle.Session(...) as session")
        return self._live, self._task


async def run(
    task: str,
    *,
    team: TeamSpec | None = None,
    pattern: str = "orchestrator",
    provider: str | None = None,
    policy: PolicyChoice = "approve",
    limits: Limits | None = None,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    speed: float = 0.0,
    record: Database = False,
    sandbox: SandboxChoice = "auto",
) -> SessionFinished:
    """Run a session to its end and return its `session.finished` (`status`, `result`,
    `usage`, `cost`, `session_id`...). The arguments are `Session`'s; nobody is there to
    answer an escalation, so `policy` decides them all (default: approve every one), and
    one that would ask (without a timeout) is a `ValueError`: use a `Session` to answer."""
    if asks(approval_policy(policy)):
        raise ValueError(
            "run() has nobody to answer escalations: give policy='approve' or 'reject' (or one with a "
            "timeout_s), or answer them through a Session"
        )
    async with Session(
        task, team=team, pattern=pattern, provider=provider, policy=policy, limits=limits, options=options,
        seed=seed, speed=speed, record=record, sandbox=sandbox,
    ) as session:
        return await session.wait()

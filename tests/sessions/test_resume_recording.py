"""Recording a resumed session: its events append to its own record with no gap, its row
goes back to running under the process that carries it on, and `session.finished` settles
the row with the totals it tells."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.budgets import Limits
from engine.events import EventBase, SessionFinished
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderEvent, ProviderRequest
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.errors import SessionBusy
from sessions.rows import SessionRow
from sessions.liveness import HOST
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY
from tests.sessions.helpers import raw
from tui.recording import LiveSession

SPEC = {"task": "Design a rate limiter", "pattern": "pipeline", "policy": ApprovalPolicy(default="reject"), "seed": 3}
"""A pipeline (no plan to approve) whose budget, once used up, stops it: nobody raises it."""
CONFIG = EngineConfig(retry=FAST_RETRY, call_timeout=5)


class Watching:
    """The simulated provider, which reads the session's row before its first call: what
    the row said while the resumed run was under way."""

    def __init__(self, store: SessionStore, session_id: str) -> None:
        self.inner = SimulatedProvider(seed=3, speed=0)
        self.name = self.inner.name
        self.store, self.session_id = store, session_id
        self.row: SessionRow | None = None

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        if self.row is None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            row = await self.store.get_session(self.session_id)
            while row.status != "running" and loop.time() < deadline:  # session.resumed commits at once
                await asyncio.sleep(0.01)
                row = await self.store.get_session(self.session_id)
            self.row = row
        async for event in self.inner.stream(request):
            yield event


async def stopped_session(store: SessionStore) -> tuple[str, list[EventBase]]:
    """A session stopped by its token budget, recorded, then left as a process that died
    would have left it (another pid); its id and stored events."""
    live = LiveSession(SessionSpec(**SPEC, limits=Limits(tokens=1500)), SimulatedProvider(seed=3, speed=0), CONFIG, store=store)
    finished = await live.run()
    assert finished is not None and finished.status == "stopped", finished
    await raw(store, "UPDATE sessions SET pid = 999999999 WHERE id = ?", (live.session_id,))
    return live.session_id, [event async for event in store.iter_events(live.session_id)]


async def stored_seqs(store: SessionStore, session_id: str) -> list[int]:
    return [seq for (seq,) in await raw(store, "SELECT seq FROM events WHERE session_id = ? ORDER BY seq", (session_id,))]


async def test_a_resumed_run_appends_to_its_record_and_settles_its_row(store: SessionStore) -> None:
    session_id, before = await stopped_session(store)
    provider = Watching(store, session_id)
    live = LiveSession(SessionSpec(**SPEC, limits=Limits(tokens=100_000)), provider, CONFIG, store=store, resume=before)
    assert live.session_id == session_id

    finished = await live.run()

    assert live.error is None
    assert isinstance(finished, SessionFinished) and finished.status == "completed"
    during = provider.row
    assert during is not None  # while it ran: running again, under this process
    assert (during.status, during.pid, during.host) == ("running", os.getpid(), HOST)
    assert during.result is None and during.reason is None
    assert during.tokens_in >= sum(e.usage.tokens_in for e in before if e.kind == "call.finished")  # counted on, not from zero
    seqs = await stored_seqs(store, session_id)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > len(before)  # appended, no gap
    resumed = await store.load_events(session_id, after_seq=len(before), limit=1)
    assert resumed[0].kind == "session.resumed"
    row = await store.get_session(session_id)
    assert row.status == "completed" and row.result == finished.result and not row.partial
    assert (row.tokens_in, row.tokens_out, row.calls, row.turns) == (
        finished.usage.tokens_in, finished.usage.output_tokens, finished.calls, finished.turns,
    )
    assert row.cost == pytest.approx(finished.cost)
    assert row.duration_s == pytest.approx(finished.duration_s)
    assert row.last_seq == seqs[-1] and row.created_at == before[0].ts
    assert await store.count_sessions() == 1


async def test_a_resumed_run_can_be_resumed_again(store: SessionStore) -> None:
    session_id, before = await stopped_session(store)
    again = LiveSession(SessionSpec(**SPEC, limits=Limits(tokens=1700)), SimulatedProvider(seed=3, speed=0), CONFIG, store=store, resume=before)
    assert (await again.run()).status == "stopped"  # type: ignore[union-attr]
    events = [event async for event in store.iter_events(session_id)]

    last = LiveSession(SessionSpec(**SPEC), SimulatedProvider(seed=3, speed=0), CONFIG, store=store, resume=events)
    finished = await last.run()

    assert finished is not None and finished.status == "completed"
    kinds = [event.kind for event in await store_events(store, session_id)]
    assert kinds.count("session.resumed") == 2 and kinds.count("session.started") == 1
    assert await stored_seqs(store, session_id) == list(range(1, len(kinds) + 1))
    row = await store.get_session(session_id)
    assert (row.status, row.calls, row.tokens_out) == ("completed", finished.calls, finished.usage.output_tokens)


async def store_events(store: SessionStore, session_id: str) -> list[Any]:
    from engine.events import EVENT_ADAPTER

    return [EVENT_ADAPTER.validate_json(data) for (data,) in await raw(
        store, "SELECT data FROM events WHERE session_id = ? ORDER BY seq", (session_id,))]


async def test_a_session_another_process_took_over_is_not_written_to(store: SessionStore) -> None:
    session_id, before = await stopped_session(store)
    # another huddle resumed it in the meantime
    await raw(store, "UPDATE sessions SET status = 'running', pid = 424242, updated_at = ? WHERE id = ?", (time.time(), session_id))
    live = LiveSession(SessionSpec(**SPEC, limits=Limits(tokens=100_000)), SimulatedProvider(seed=3, speed=0), CONFIG, store=store, resume=before)

    await live.run()

    assert isinstance(live.error, SessionBusy) and "while it was being resumed" in str(live.error)
    assert await stored_seqs(store, session_id) == [event.seq for event in before]  # nothing added
    row = await store.get_session(session_id)
    assert (row.status, row.pid) == ("running", 424242)  # the other one's row, left alone

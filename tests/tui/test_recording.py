"""A live session's runner owns its engine task: cancelling the runner (the app's worker,
the headless command's main task) cancels the session, waits for it, and records it as
cancelled; no engine task outlives its runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.events import CallDelta, EventBase
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import SessionSpec
from sessions.store import SessionStore
from tui.recording import LiveSession

TASK = "Design a rate limiter for our public REST API"


def engine_tasks() -> list[asyncio.Task[object]]:
    """The sessions running on this loop."""
    return [
        task for task in asyncio.all_tasks()
        if not task.done() and getattr(task.get_coro(), "__name__", "") == "run_session"
    ]


@pytest.mark.parametrize("recorded", [True, False])
async def test_cancelling_the_runner_mid_stream_cancels_and_awaits_the_engine(tmp_path: Path, recorded: bool) -> None:
    async with await SessionStore.open(tmp_path / "h.db") as store:
        live = LiveSession(
            SessionSpec(task=TASK, policy=ApprovalPolicy(default="approve")),
            SimulatedProvider(seed=1, speed=1),  # a realistic pace: the session takes seconds
            store=store if recorded else None,
        )
        streaming = asyncio.Event()

        def watch(event: EventBase) -> None:
            if isinstance(event, CallDelta):
                streaming.set()

        live.bus.listen(watch)
        runner = asyncio.create_task(live.run())
        await asyncio.wait_for(streaming.wait(), 20)
        assert len(engine_tasks()) == 1

        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner

        assert engine_tasks() == []
        assert live.finished is not None and live.finished.status == "cancelled"
        assert live.cancelled and not live.running and live.exit_status() == 130
        if recorded:
            row = await store.get_session(live.session_id)
            assert row.status == "cancelled" and row.last_seq == live.finished.seq


async def test_cancelling_the_session_itself_ends_the_runner_normally(tmp_path: Path) -> None:
    live = LiveSession(SessionSpec(task=TASK, policy=ApprovalPolicy(default="approve")), SimulatedProvider(seed=1, speed=1))
    live.bus.listen(lambda event: live.cancel() if isinstance(event, CallDelta) else None)

    finished = await asyncio.wait_for(live.run(), 20)

    assert finished is not None and finished.status == "cancelled"
    assert engine_tasks() == [] and live.exit_status() == 130


async def test_a_runner_cancelled_again_as_it_winds_up_still_records_the_end(tmp_path: Path) -> None:
    """An app that exits cancels its workers, and may do so twice: the session's end is
    recorded all the same, and `stopped()` says when (it waited forever before)."""
    async with await SessionStore.open(tmp_path / "h.db") as store:
        live = LiveSession(
            SessionSpec(task=TASK, policy=ApprovalPolicy(default="approve")), SimulatedProvider(seed=1, speed=1), store=store,
        )
        streaming = asyncio.Event()
        live.bus.listen(lambda event: streaming.set() if isinstance(event, CallDelta) else None)
        runner = asyncio.create_task(live.run())
        await asyncio.wait_for(streaming.wait(), 20)

        runner.cancel()
        await asyncio.sleep(0)  # it is winding up: the engine cancelled, and awaited
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        await asyncio.wait_for(live.stopped(), 20)

        assert engine_tasks() == [] and not live.running
        row = await store.get_session(live.session_id)
        assert row.status == "cancelled" and live.finished is not None and row.last_seq == live.finished.seq

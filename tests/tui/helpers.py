"""Helpers for driving the app under Pilot."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker

from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from tests.helpers import FAST_RETRY
from tui.app import make_app
from tui.recording import LiveSession
from tui.screens.session import SessionScreen

TASK = "Design a rate limiter for our public REST API"


def kept_notices(app: Any) -> list[str]:
    """The message of every notification `app` shows from now on, kept after it times out:
    on a busy machine a 4-second one can be gone before the next one comes."""
    kept: list[str] = []
    notify = app.notify

    def keeping(message: str, **options: Any) -> None:
        kept.append(str(message))
        notify(message, **options)

    app.notify = keeping
    return kept


def fake_clock(start: float = 1_800_000_000.0, step: float = 0.25) -> Callable[[], float]:
    """A clock that moves only when read: stable times on screen."""
    ticks = itertools.count()
    return lambda: start + next(ticks) * step


def live(
    *,
    seed: int = 3,
    faults: str = "",
    policy: ApprovalPolicy | None = None,
    provider: Any = None,
    clock: Callable[[], float] | None = None,
    session_id: str | None = None,
    tool_root: Path | None = None,
    store: Any = None,
    **spec: Any,
) -> LiveSession:
    spec.setdefault("task", TASK)
    session = LiveSession(
        SessionSpec(seed=seed, policy=policy or ApprovalPolicy(default="ask"), **spec),
        provider or SimulatedProvider(seed=seed, speed=0, faults=parse_faults(faults)),
        EngineConfig(
            retry=FAST_RETRY, call_timeout=5, **({"clock": clock} if clock else {}),
            **({"tool_root": tool_root} if tool_root else {}),
        ),
        store=store,
    )
    if session_id:
        session.session_id = session_id
    return session


def app_for(session: LiveSession):
    return make_app(session)


def screen_of(app) -> SessionScreen:
    screen = app.screen_stack[1] if len(app.screen_stack) > 1 else app.screen
    assert isinstance(screen, SessionScreen), type(screen)
    return screen


async def until(pilot, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until `predicate()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


class Leaving:
    """A `run_test` message hook that watches a screen go. After `leaving(screen)`, it
    notes for every widget unmounted whether that screen's workers (those running
    when it started to go) had all stopped already. The hook sees only what the app
    started: push the screen from the app (a key, `app.call_later`), not the test."""

    def __init__(self) -> None:
        self.workers: list[Worker[Any]] = []
        self.stopped_first: list[bool] = []

    def leaving(self, screen: Screen[Any]) -> None:
        self.workers = [worker for worker in screen.app.workers if worker.node is screen and not worker.is_finished]
        assert self.workers, "nothing is loading: the test would prove nothing"

    def __call__(self, message: Message) -> None:
        if self.workers and isinstance(message, events.Unmount):
            self.stopped_first.append(all(worker.is_cancelled or worker.is_finished for worker in self.workers))


"""Helpers for driving the app under Pilot."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from tests.helpers import FAST_RETRY
from tui.app import make_app
from tui.recording import LiveSession
from tui.screens.session import SessionScreen

TASK = "Design a rate limiter for our public REST API"


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

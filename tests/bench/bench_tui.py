"""Live screen under load: 8 agents streaming 100 chunks/s each for 10 s.

Both cases run the same engine session (a team of 8, each agent streaming a
chunk every 10 ms) inside `App.run_test`; only the UI differs:
- huddle: the real SessionScreen (deltas buffered per agent, flushed at 20 Hz);
- baseline: a naive app that writes every chunk to a `Log` widget as it arrives.

Figures: the share of one core used over the streaming window, the worst
event-loop stall (a 10 ms ticker's worst lateness), and, for huddle, the time
from a key press to its effect while streaming, against the same keys once the
session has ended (zooming a full panel costs its layout either way: what is
measured is what the stream adds). Targets are ratios measured in the same run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Grid
from textual.widgets import Log

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.bus import EventBus
from engine.events import EventBase, Usage
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderEvent, ProviderRequest, Stop, TextDelta, UsageReport
from engine.session import EngineConfig, SessionSpec, run_session
from tests.bench.report import Report
from tests.helpers import pattern_info
from tui.app import make_app
from tui.recording import LiveSession
from tui.widgets.agent_grid import AgentGrid

AGENTS = 8
RATE = 100  # chunks per second per agent
SECONDS = 10.0
STALL_SHARE = 0.8
"""huddle's worst stall while streaming, at most this share of the naive app's."""
KEY_TIMES = 2.0
"""A key while the agents stream takes at most this many times what it takes once they have stopped."""
KEYS = ("z", "tab", "z", "tab")
WORDS = "the rate limiter keeps a token bucket per client and refills it on a timer".split()


class PacedProvider:
    """Streams `RATE` chunks a second for `SECONDS`, a few words at a time, with newlines."""

    name = "bench"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        interval = 1.0 / RATE
        start = time.perf_counter()
        for n in range(int(RATE * SECONDS)):
            target = start + n * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            word = WORDS[n % len(WORDS)]
            yield TextDelta(f"{word}\n" if n % 12 == 11 else f"{word} ")
        yield UsageReport(Usage(input_tokens=10, output_tokens=int(RATE * SECONDS)))
        yield Stop("end_turn")


async def everyone_streams(ctx, task: str) -> str:
    async with asyncio.TaskGroup() as group:
        for agent in ctx.team.names:
            group.create_task(ctx.span(f"stream:{agent}").call(agent, task))
    return "done"


def spec() -> SessionSpec:
    team = TeamSpec(agents=tuple(AgentSpec(name=f"agent-{i}", role="streamer") for i in range(AGENTS)))
    return SessionSpec(task="stream", pattern="bench-stream", team=team, policy=ApprovalPolicy(default="approve"))


class Stalls:
    """Lateness of a 10 ms ticker: how long the loop could not run anything, when."""

    def __init__(self) -> None:
        self.late: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.late.append((before, time.perf_counter() - before - 0.01))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()

    def worst(self, start: float = 0.0, end: float = float("inf")) -> float:
        return max((late for at, late in self.late if start <= at < end), default=0.0)


class NaiveApp(App[None]):
    """The baseline: one Log per agent, one write per chunk, as chunks arrive."""

    CSS = "Grid { grid-size: 3 3; } Log { border: round $panel; }"

    def compose(self) -> ComposeResult:
        with Grid():
            for i in range(AGENTS):
                yield Log(id=f"agent-{i}", max_lines=400)

    def write(self, event: EventBase) -> None:
        if event.kind == "call.delta":
            self.query_one(f"#{event.agent}", Log).write(event.text)  # type: ignore[attr-defined]


async def measure_baseline() -> tuple[float, float]:
    """Share of a core over the run, and the worst stall once streaming began."""
    app = NaiveApp()
    async with app.run_test(size=(200, 50)) as pilot:
        bus = EventBus()
        bus.listen(app.write)
        streaming: list[float] = []
        bus.listen(lambda event: not streaming and event.kind == "call.delta" and streaming.append(time.perf_counter()))
        stalls = Stalls()
        stalls.start()
        cpu, wall = time.process_time(), time.perf_counter()
        await run_session(spec(), PacedProvider(), bus=bus, config=EngineConfig(call_timeout=None))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        stalls.stop()
        await pilot.pause()
    return cpu / wall, stalls.worst(streaming[0])


async def key_to_screen(app: App[None], key: str) -> float:
    """Seconds from a key press to the first frame drawn after its effect (a panel zoomed
    or left, the focus moved)."""
    screen = app.screen
    before = (screen.query_one(AgentGrid).zoomed, screen.focused)
    shown: list[float] = []

    def on_display() -> None:
        if (screen.query_one(AgentGrid).zoomed, screen.focused) != before:
            shown.append(time.perf_counter())

    app.post_display_hook = on_display  # type: ignore[method-assign]
    pressed = time.perf_counter()
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    while not shown:
        await asyncio.sleep(0.001)
    await asyncio.sleep(1.0)
    return shown[0] - pressed


async def measure_huddle() -> tuple[float, float, float, float, float]:
    """Share of a core over the run; the worst stall while the agents stream (first
    half, no keys); the worst while keys are handled (second half); the slowest key then,
    and the slowest of the same keys once the session has ended (the screen as full, idle)."""
    live = LiveSession(spec(), PacedProvider(), EngineConfig(call_timeout=None))
    app = make_app(live)
    async with app.run_test(size=(200, 50)):
        stalls = Stalls()
        stalls.start()
        cpu, wall = time.process_time(), time.perf_counter()
        while not any(agent.line_total for agent in getattr(app.screen, "view").agents.values()):
            await asyncio.sleep(0.01)
        streaming = time.perf_counter()
        await asyncio.sleep(SECONDS / 2)
        keys = time.perf_counter()
        latencies = [await key_to_screen(app, key) for key in KEYS]
        while live.running:
            await asyncio.sleep(0.05)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        stalls.stop()
        idle = [await key_to_screen(app, key) for key in KEYS]
    return cpu / wall, stalls.worst(streaming, keys), stalls.worst(keys), max(latencies), max(idle)


def main() -> bool:
    patterns.PATTERNS["bench-stream"] = pattern_info("bench-stream", everyone_streams)
    report = Report()
    base_cpu, base_stall = asyncio.run(measure_baseline())
    cpu, stall, stall_keys, key, idle_key = asyncio.run(measure_huddle())
    report.figure("baseline (Log.write per chunk): share of one core", base_cpu)
    report.figure("baseline: worst event-loop stall while streaming", base_stall * 1000, "ms")
    report.figure(f"huddle ({AGENTS} agents x {RATE} chunks/s, {SECONDS:g} s): share of one core", cpu)
    report.target("huddle CPU as a share of the baseline's", cpu / base_cpu, 0.7)
    report.figure("huddle worst event-loop stall while streaming", stall * 1000, "ms")
    report.target("  as a share of the baseline's", stall / base_stall, STALL_SHARE)
    report.figure("huddle worst stall while zooming and moving between panels", stall_keys * 1000, "ms")
    report.figure("huddle key press (z, tab) to its frame, slowest of 4", key * 1000, "ms")
    report.figure("  the same keys once the session has ended", idle_key * 1000, "ms")
    report.target("  while streaming, as a multiple of that", key / idle_key, KEY_TIMES)
    return report.ok


if __name__ == "__main__":
    main()

"""What a call uses, as it streams and when it fails; and how long it may go quiet."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from engine.events import PROGRESS_EVERY, Usage
from engine.run import coalescing
from engine.providers.base import (
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    Stop,
    TextDelta,
    ToolInputDelta,
    UsageReport,
)
from engine.session import EngineConfig
from tests.helpers import FAST_RETRY, orchestrated, plan_of, run

ONE_STEP = plan_of(("s1", "coder", []))


@dataclass
class Streamer:
    """The lead plans one step; the coder's reply comes as the test says: `pieces` of
    text after usage is reported, `gaps` seconds apart, and maybe a failure after them."""

    pieces: int = 40
    gap: float = 0.0
    fail: ProviderError | None = None
    failing_attempts: int = 1
    stall_after: int | None = None
    name: str = "streamer"
    attempts: list[int] = field(default_factory=list)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        script = orchestrated(ONE_STEP)
        if request.agent != "coder":
            reply = script(request)
            yield UsageReport(Usage(input_tokens=100, output_tokens=10))
            yield TextDelta(reply) if isinstance(reply, str) else ToolInputDelta(json.dumps(reply))
            yield Stop("end_turn")
            return
        self.attempts.append(request.attempt)
        yield UsageReport(Usage(input_tokens=1_000))  # as the reply starts: what was read
        for index in range(self.pieces):
            if self.stall_after is not None and index == self.stall_after:
                await asyncio.sleep(3600)
            if self.gap:
                await asyncio.sleep(self.gap)
            yield TextDelta("word " * 4)  # 20 characters: about 5 tokens
        if self.fail is not None and len(self.attempts) <= self.failing_attempts:
            raise self.fail
        yield UsageReport(Usage(input_tokens=1_000, output_tokens=self.pieces * 5))
        yield Stop("end_turn")


def clock(step: float):
    ticks = itertools.count()
    return lambda: 1_800_000_000.0 + next(ticks) * step


async def test_a_failed_attempt_counts_what_the_provider_reported_it_used():
    broke = ProviderError("stream_error", "broke off", retryable=True, usage=Usage(input_tokens=1_000, output_tokens=50))
    ran = await run(Streamer(fail=broke))
    [failed] = [e for e in ran.of("call.failed") if e.agent == "coder"]
    assert failed.usage == Usage(input_tokens=1_000, output_tokens=50) and failed.cost > 0
    [done] = [e for e in ran.of("call.finished") if e.agent == "coder"]
    lead = [e for e in ran.of("call.finished") if e.agent == "lead"]
    expected = sum((e.usage for e in [*lead, done]), failed.usage)
    assert ran.finished.usage == expected  # the session's total counts the failed attempt
    assert round(ran.finished.cost, 8) == round(failed.cost + done.cost + sum(e.cost for e in lead), 8)
    assert ran.finished.calls == len(lead) + 1  # a failed attempt is not a call
    # The budget saw it at once, not at the next finished call.
    after = [e for e in ran.events if e.kind == "budget.updated" and e.seq > failed.seq][0]
    before = sum(e.usage.total for e in lead if e.seq < failed.seq)
    assert after.tokens == before + failed.usage.total


async def test_an_attempt_that_went_quiet_counts_the_input_the_provider_reported():
    ran = await run(Streamer(pieces=3, stall_after=1), config=EngineConfig(retry=FAST_RETRY, call_timeout=0.2))
    failed = [e for e in ran.of("call.failed") if e.agent == "coder"]
    assert failed and all(e.error_type == "timeout" for e in failed)
    assert all(e.usage.input_tokens == 1_000 for e in failed)
    assert "the reply stalled" in failed[0].error and "0.2s" in failed[0].error


async def test_the_call_timeout_bounds_silence_not_the_length_of_a_reply():
    """A reply that keeps coming may take far longer than the timeout; each part must come
    within it."""
    slow = Streamer(pieces=16, gap=0.1)  # over a second and a half in all, a part every tenth
    ran = await run(slow, config=EngineConfig(retry=FAST_RETRY, call_timeout=1.0))
    assert not ran.of("call.failed") and slow.attempts == [1]
    assert ran.finished.status == "completed"


async def test_progress_is_sent_as_a_call_starts_and_then_every_so_often_not_per_piece(monkeypatch):
    """By the session's clock (here one that moves 0.05 s a read): the input at once, then
    tokens, cost and pace about every PROGRESS_EVERY seconds of streaming. (Each piece is
    its own delta here: the pieces come with no pause, which would send them as one.)"""
    monkeypatch.setattr(coalescing, "DELTA_EVERY", 0.0)
    ran = await run(Streamer(pieces=40), config=EngineConfig(retry=FAST_RETRY, clock=clock(0.05)))
    coder = [e for e in ran.events if e.agent == "coder" and e.kind in ("call.progress", "call.delta", "call.finished")]
    progress = [e for e in coder if e.kind == "call.progress"]
    deltas = [e for e in coder if e.kind == "call.delta"]
    assert coder[0].kind == "call.progress" and coder[0].usage == Usage(input_tokens=1_000)
    assert coder[0].tokens_per_s is None and coder[0].cost > 0
    assert 3 <= len(progress) <= len(deltas) // 3  # a few, not one a piece
    outs = [e.usage.output_tokens for e in progress]
    assert outs == sorted(outs) and outs[-1] > 0
    assert all(e.tokens_per_s and e.tokens_per_s > 0 for e in progress[1:])
    gaps = [b.ts - a.ts for a, b in zip(progress[1:], progress[2:])]
    assert all(gap >= PROGRESS_EVERY for gap in gaps)
    assert coder[-1].kind == "call.finished" and coder[-1].usage.output_tokens == 200

"""The simulated provider: offline, deterministic for a seed, paced like a real model."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator

from engine.events import Usage
from engine.providers import simjson, simtext, simtools
from engine.providers.base import (
    ProviderError,
    ProviderEvent,
    ProviderRequest,
    Stop,
    TextDelta,
    ToolInputDelta,
    UsageReport,
)
from engine.providers.faults import Fault, fault_hits, unit_hash

_PIECE = re.compile(r"\s*\S+")


class SimulatedProvider:
    """Writes plausible replies for each agent's role, at `tokens_per_second * speed`.

    `speed=0` streams instantly. `faults` (see `engine.providers.faults`) are
    injected deterministically for `seed`.
    """

    name = "simulated"

    def __init__(
        self,
        *,
        seed: int = 0,
        speed: float = 1.0,
        faults: tuple[Fault, ...] = (),
        tokens_per_second: float = 50.0,
        retry_after: float | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be zero or more")
        self.seed = seed
        self.speed = speed
        self.faults = faults
        self.tokens_per_second = tokens_per_second
        self.retry_after = retry_after

    async def _pause(self, seconds: float) -> None:
        if self.speed > 0:
            await asyncio.sleep(seconds / self.speed)

    def _hits(self, kind: str, request: ProviderRequest) -> bool:
        return fault_hits(
            self.faults,
            kind,
            seed=self.seed,
            agent=request.agent,
            call_key=request.call_key,
            attempt=request.attempt,
        )

    def _rng(self, request: ProviderRequest) -> random.Random:
        messages = "\x1e".join(f"{m.role}:{m.text}" for m in request.messages)
        schema = json.dumps(request.tool.input_schema, sort_keys=True) if request.tool else ""
        return random.Random(
            unit_hash(self.seed, request.model, request.agent, request.system, messages, schema)
        )

    def reply(self, request: ProviderRequest, rng: random.Random) -> str:
        """The full reply for a request: Markdown text, or the tool input as JSON."""
        asked = [m for m in request.messages if m.role == "user" and not m.tool_results]
        prompt = asked[-1].text if asked else ""
        if request.tool is None:
            return simtools.read_note(request.messages) + simtext.reply_text(
                rng, agent=request.agent, role=request.role, task=request.task, prompt=prompt
            )
        phrases = simtext.merged_phrases(request.task, prompt)
        ctx = simjson.Context(
            rng=rng,
            agent=request.agent,
            role=request.role,
            task=request.task,
            team=request.team,
            phrases=phrases,
            low_confidence=self._hits("low_confidence", request),
            reject=self._hits("reject", request),
            prompt=prompt,
        )
        value = simjson.generate(request.tool.input_schema, ctx)
        if self._hits("malformed", request):
            return simjson.malformed(value, request.tool.input_schema, rng)
        return json.dumps(value, indent=2)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        rng = self._rng(request)
        input_tokens = simtext.count_tokens(request.system) + sum(
            simtext.count_tokens(m.text) + 4 for m in request.messages
        )
        await self._pause(rng.uniform(0.25, 0.8))
        if self._hits("rate_limit", request):
            retry_after = self.retry_after
            if retry_after is None:
                retry_after = round(rng.uniform(0.5, 2.0) / self.speed, 2) if self.speed else 0.0
            raise ProviderError(
                "rate_limit", "rate limited (429, simulated)", retryable=True,
                retry_after=retry_after, status=429,
            )
        if self._hits("overload", request):
            raise ProviderError("overloaded", "overloaded (529, simulated)", retryable=True, status=529)
        if self._hits("timeout", request):
            # Stall: the engine's per-call timeout is what ends this.
            await asyncio.sleep(3600)
        yield UsageReport(Usage(input_tokens=input_tokens))  # as a real stream opens: what was read

        use = simtools.next_use(request)
        text = use[0] if use else self.reply(request, rng)
        pieces = _PIECE.findall(text)
        # Keep leading newlines attached to the piece that follows them.
        chunks: list[str] = []
        i = 0
        while i < len(pieces):
            n = rng.randint(1, 3)
            chunks.append("".join(pieces[i : i + n]))
            i += n
        if text and text[-1] == "\n":
            chunks.append("\n")
        break_at = len(chunks) * 2 // 5 if self._hits("mid_stream", request) else None

        output_tokens = 0
        for index, chunk in enumerate(chunks):
            if index == break_at:
                raise ProviderError(
                    "stream_error", "stream broke off mid-reply (simulated)", retryable=True,
                    usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
                )
            tokens = simtext.count_tokens(chunk) or 1
            output_tokens += tokens
            await self._pause(tokens / self.tokens_per_second * rng.uniform(0.5, 1.5))
            yield ToolInputDelta(chunk) if request.tool and not use else TextDelta(chunk)
        if use:
            yield use[1]
        yield UsageReport(Usage(input_tokens=input_tokens, output_tokens=output_tokens))
        yield Stop("tool_use" if request.tool or use else "end_turn")

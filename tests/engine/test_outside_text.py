"""Text from outside the engine (a provider's replies and errors, tool output, the task)
enters well-formed and without secrets, whatever it holds."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.events import CallDelta, Usage, event_from_json, event_to_json
from engine.providers.base import ProviderError, ProviderEvent, ProviderRequest, Stop, TextDelta, ToolUse, UsageReport
from engine.redaction import MIN_FRAGMENT
from engine.session import EngineConfig, SessionSpec
from tests.helpers import FAST_RETRY, pattern_info, run

KEY = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1HgFeDcBa0987654321"
TEAM = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", tools=("list_files",)),))


@dataclass
class Keyed:
    """A provider holding KEY whose calls fail with `message`, then answer `reply`."""

    message: str
    reply: str = "done"
    secrets: tuple[str, ...] = (KEY,)
    name: str = "keyed"
    failed: bool = False

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        if not self.failed:
            self.failed = True
            raise ProviderError("bad_request", self.message, retryable=True, status=400)
        yield TextDelta(self.reply)
        yield UsageReport(Usage(input_tokens=10, output_tokens=5))
        yield Stop("end_turn")


@pytest.fixture
def one_call(monkeypatch):
    async def one(ctx, task):
        return await ctx.call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: TEAM))


def stored(ran) -> str:
    """Every event as the recorder writes it."""
    return "\n".join(event_to_json(event) for event in ran.events)


@pytest.mark.parametrize(
    "message",
    [
        f"invalid x-api-key: {KEY[:20]}...{KEY[-12:]}",  # a prefix and a suffix of the key
        f"the key {KEY[13:30]} is not allowed here",  # a piece from its middle
        f"Authorization header was Bearer {KEY}",
    ],
)
async def test_no_piece_of_the_key_an_error_echoes_is_stored(one_call, message):
    ran = await run(Keyed(message), pattern="one-call", config=EngineConfig(retry=FAST_RETRY, call_timeout=5))
    assert ran.finished.status == "completed"
    text = stored(ran)
    assert "[redacted]" in ran.of("call.failed")[0].error
    pieces = {KEY[i : i + MIN_FRAGMENT] for i in range(len(KEY) - MIN_FRAGMENT + 1)}
    assert not [piece for piece in pieces if piece in text]


async def test_an_internal_error_that_quotes_the_key_is_redacted_too(monkeypatch):
    async def broken(ctx, task):
        raise RuntimeError(f"client failed with key {KEY}")

    monkeypatch.setitem(patterns.PATTERNS, "broken", pattern_info("broken", broken, lambda: TEAM))
    ran = await run(Keyed("unused"), pattern="broken")
    assert ran.finished.status == "failed" and KEY[:MIN_FRAGMENT] not in stored(ran)


@dataclass
class Surrogates:
    """Replies holding lone surrogates, as the JSON escape "\\udcff" decodes to."""

    name: str = "surrogates"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        if not any(m.tool_results for m in request.messages):
            yield TextDelta("looking \udcff")
            yield ToolUse("tool\udcff", "list_files", {"path": ".", "why\ud800": "x\udfff"})
            yield UsageReport(Usage(input_tokens=10, output_tokens=5))
            yield Stop("tool_use")
            return
        yield TextDelta(json.loads('"caf\\udcff au lait"'))
        yield UsageReport(Usage(input_tokens=10, output_tokens=5))
        yield Stop("end_turn")


async def test_lone_surrogates_from_a_provider_become_replacement_characters(one_call, tmp_path):
    ran = await run(Surrogates(), pattern="one-call", config=EngineConfig(retry=FAST_RETRY, tool_root=tmp_path))
    assert ran.finished.status == "completed" and ran.finished.result == "caf\ufffd au lait"
    stored(ran).encode("utf-8")  # every event can be recorded
    assert ran.of("tool.call")[0].tool_use_id == "tool\ufffd"


def test_the_task_is_made_well_formed_and_an_event_that_is_not_still_records():
    assert SessionSpec(task="caf\udce9 task").task == "caf\ufffd task"
    event = CallDelta(session_id="s", seq=1, ts=0.0, span_id="root", call_key="k", attempt=1, text="a\udcffb")
    assert event_from_json(event_to_json(event)).text == "a\ufffdb"

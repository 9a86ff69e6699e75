"""Ids as fields: a call says what it is for, a tool event names its call, and
records made before these fields existed still load."""

from __future__ import annotations

import json

import pytest

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.context import purpose_of
from engine.events import CallStarted, ToolCall, ToolResult, event_from_json
from engine.policy import ApprovalPolicy
from engine.providers.base import ToolUse
from engine.providers.simulated import SimulatedProvider
from engine.run.record import Record
from engine.session import EngineConfig, SessionSpec, run_session
from tests.helpers import FAST_RETRY, ScriptedProvider, pattern_info, run


@pytest.mark.parametrize(
    ("span_id", "purpose"),
    [
        ("root", "session"),
        ("root/plan", "plan"),
        ("root/step:s1", "step s1"),
        ("root/lot:1/bid:writer", "lot 1 · bid writer"),
        ("root/step:s2/team:eng/plan", "team eng · plan"),
    ],
)
def test_a_purpose_is_the_last_two_parts_of_the_span(span_id, purpose):
    assert purpose_of(span_id) == purpose


async def test_every_call_started_carries_the_purpose_of_its_span():
    ran = await run(SimulatedProvider(seed=1, speed=0), pattern="auction", options={"lots": ["LOT-ONE: the limiter"]})
    started = ran.of("call.started")
    assert started and all(e.purpose == purpose_of(e.span_id) for e in started)
    assert "lot 1 · bid writer" in {e.purpose for e in started}


async def test_a_replayed_call_carries_its_purpose_too():
    first = await run(SimulatedProvider(seed=1, speed=0))
    finals = {e.call_key: e for e in first.of("call.finished")}
    events = []
    from engine.bus import EventBus

    bus = EventBus()
    bus.listen(events.append)
    spec = SessionSpec(task="Design a rate limiter for our public REST API", policy=ApprovalPolicy(default="approve"))
    await run_session(spec, SimulatedProvider(seed=1, speed=0), bus=bus, record=Record.of_calls(finals))
    replayed = [e for e in events if isinstance(e, CallStarted)]
    assert replayed and [e.purpose for e in replayed] == [e.purpose for e in first.of("call.started")]
    assert replayed[0].purpose == "plan"


TEAM = TeamSpec(agents=(AgentSpec(name="reader", role="researcher", tools=("read_file",)),))


async def test_tool_events_name_the_call_whose_round_they_are(monkeypatch, tmp_path):
    (tmp_path / "README.md").write_text("# notes\n")

    async def two_calls(ctx, task):
        await ctx.span("first").call("reader", task)
        return await ctx.span("second").call("reader", task)

    monkeypatch.setitem(patterns.PATTERNS, "two-calls", pattern_info("two-calls", two_calls, lambda: TEAM))

    def script(request):
        if any(m.tool_results for m in request.messages):
            return "read"
        return ToolUse("toolu_1", "read_file", {"path": "README.md"})

    config = EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=tmp_path)
    ran = await run(ScriptedProvider(script), pattern="two-calls", config=config)
    assert ran.finished.status == "completed"
    keys = [e.call_key for e in ran.of("call.finished") if e.stop_reason == "tool_use"]
    assert keys == ["root/first#reader#1", "root/second#reader#1"]
    assert [e.call_key for e in ran.of("tool.call")] == keys
    assert [e.call_key for e in ran.of("tool.result")] == keys


@pytest.mark.parametrize(
    ("record", "cls", "field", "default"),
    [
        ({"kind": "call.started", "call_key": "root/plan#lead#1", "attempt": 1, "model": "m", "prompt": "p"},
         CallStarted, "purpose", ""),
        ({"kind": "tool.call", "tool_use_id": "t1", "tool": "read_file", "input": {"path": "a"}},
         ToolCall, "call_key", None),
        ({"kind": "tool.result", "tool_use_id": "t1", "tool": "read_file", "output": "x"},
         ToolResult, "call_key", None),
    ],
)
def test_records_made_before_the_id_fields_still_load(record, cls, field, default):
    line = json.dumps({"v": 1, "session_id": "s", "seq": 3, "ts": 1.0, "span_id": "root/plan", **record})
    event = event_from_json(line)
    assert isinstance(event, cls) and getattr(event, field) == default

"""Sessions sent as traces through the OpenTelemetry SDK and OTLP/HTTP exporter
(`engine.otel.otlp`) to a receiver on loopback that decodes what it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.otel.otlp import LiveTraces, TraceError, send_session
from engine.otel.spans import trace_id
from engine.otel.target import TIMEOUT_S, TraceTarget, export_timeout, trace_target
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig
from tests.engine.test_otel_mapping import KEY, TASK, with_tools
from tests.fakes.otlp_receiver import OtlpReceiver, Received, dead_endpoint
from tests.helpers import FAST_RETRY, Ran, run


def target(receiver: OtlpReceiver, content: bool = False) -> TraceTarget:
    found = trace_target(receiver.endpoint, content, {})
    assert found is not None
    return found


async def traced(target: TraceTarget, told: list[str], faults: str = "") -> Ran:
    """A routing session with tool use, its trace sent live as it runs."""
    live = LiveTraces(target, tell=told.append, secrets=(KEY,))
    ran = await run(
        SimulatedProvider(seed=3, speed=0, faults=parse_faults(faults)), TASK, pattern="routing",
        team=with_tools("routing"), on_event=live.feed,
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=Path(__file__).parent),
    )
    live.close()
    return ran


def operation(spans: list[Received], name: str) -> list[Received]:
    return [span for span in spans if span.attributes.get("gen_ai.operation.name") == name]


async def test_a_live_session_arrives_as_one_tree_with_genai_attributes():
    told: list[str] = []
    with OtlpReceiver() as receiver:
        ran = await traced(target(receiver), told, "overload:0.5")
    spans = receiver.spans
    assert told == [] and set(receiver.paths) == {"/v1/traces"}
    assert {span.trace_id for span in spans} == {f"{trace_id(ran.finished.session_id):032x}"}
    ids = {span.span_id: span for span in spans}
    assert len(ids) == len(spans)
    (root,) = [span for span in spans if not span.parent_span_id]
    assert all(span.parent_span_id in ids for span in spans if span is not root)
    assert root.name == "invoke_workflow routing" and root.kind == "internal"
    assert root.resource["service.name"] == "huddle" and root.scope == "huddle"
    assert root.start_ns == int(round(ran.events[0].ts * 1e9)) and root.end_ns == int(round(ran.finished.ts * 1e9))

    chats = operation(spans, "chat")
    assert chats and all(span.kind == "client" and span.name.startswith("chat claude-") for span in chats)
    for chat in chats:
        parent = ids[chat.parent_span_id]
        assert parent.attributes["gen_ai.operation.name"] == "invoke_agent" and parent.kind == "internal"
        assert ids[parent.parent_span_id].name.startswith("step ")
        assert chat.attributes["gen_ai.provider.name"] == "simulated"
        assert chat.attributes["gen_ai.agent.name"] == parent.attributes["gen_ai.agent.name"]
        assert isinstance(chat.attributes["gen_ai.request.model"], str)
    assert [span for span in chats if span.error] and all(
        span.attributes["error.type"] == "overloaded" for span in chats if span.error
    )
    usage = ran.finished.usage
    assert sum(span.attributes["gen_ai.usage.input_tokens"] for span in chats) == usage.tokens_in
    assert sum(span.attributes["gen_ai.usage.output_tokens"] for span in chats) == usage.output_tokens
    assert sum(span.attributes["gen_ai.usage.cache_read.input_tokens"] for span in chats) == usage.cache_read_tokens
    assert root.attributes["gen_ai.usage.input_tokens"] == usage.tokens_in

    tools = operation(spans, "execute_tool")
    assert {span.name for span in tools} == {"execute_tool list_files", "execute_tool read_file"}
    events = [event for span in spans for event in span.events]
    asked = [attributes for name, _, attributes in events if name == "huddle.escalation.requested"]
    decided = [attributes for name, _, attributes in events if name == "huddle.escalation.resolved"]
    assert len(asked) == len(ran.of("escalation.requested")) and len(decided) == len(ran.of("escalation.resolved"))
    assert {attributes["huddle.decision.action"] for attributes in decided} == {"approve"}


async def test_without_the_opt_in_no_content_goes_and_never_a_key():
    with OtlpReceiver() as receiver:
        ran = await traced(target(receiver), [])
    sent = b"".join(receiver.bodies)
    assert sent and b"rate limiter" not in sent and b"Q" * 20 not in sent
    assert ran.of("call.finished")[-1].text[:30].encode() not in sent
    assert b"gen_ai.input.messages" not in sent and b"gen_ai.tool.call.result" not in sent


async def test_with_the_opt_in_content_goes_without_the_key():
    with OtlpReceiver() as receiver:
        await traced(target(receiver, content=True), [])
    sent = b"".join(receiver.bodies)
    assert b"rate limiter" in sent and b"gen_ai.output.messages" in sent and b"gen_ai.tool.call.arguments" in sent
    assert b"Q" * 20 not in sent and b"[redacted]" in sent


async def test_a_recorded_session_sent_later_is_the_same_trace():
    with OtlpReceiver() as receiver:
        ran = await traced(target(receiver), [])
        live = {(s.span_id, s.parent_span_id, s.name, s.start_ns, s.end_ns) for s in receiver.spans}
        count = send_session(ran.events, target(receiver))
    later = {(s.span_id, s.parent_span_id, s.name, s.start_ns, s.end_ns) for s in receiver.spans[len(live):]}
    assert count == len(live) == len(later) and later == live


async def test_a_receiver_that_is_down_is_one_line_and_the_session_completes():
    down = trace_target(dead_endpoint(), False, {"OTEL_EXPORTER_OTLP_TIMEOUT": "1"})
    assert down is not None
    told: list[str] = []
    ran = await traced(down, told)
    assert ran.finished.status == "completed"
    assert len(told) == 1 and "\n" not in told[0]
    assert down.url in told[0] and "connection refused" in told[0] and "goes on" in told[0]
    with pytest.raises(TraceError) as raised:
        send_session(ran.events, down)
    assert str(raised.value) == f"huddle: the trace could not be sent to {down.url} (connection refused)"


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, TIMEOUT_S),
    ({"OTEL_EXPORTER_OTLP_TIMEOUT": "20"}, 20.0),
    ({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "1.5", "OTEL_EXPORTER_OTLP_TIMEOUT": "20"}, 1.5),
    ({"OTEL_EXPORTER_OTLP_TIMEOUT": " "}, TIMEOUT_S),
    ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, TIMEOUT_S),
    ({"OTEL_EXPORTER_OTLP_TIMEOUT": "0"}, TIMEOUT_S),
    ({"OTEL_EXPORTER_OTLP_TIMEOUT": "inf"}, TIMEOUT_S),
])
def test_a_batch_takes_a_few_seconds_at_most_unless_the_environment_says(environ, expected):
    assert export_timeout(environ) == expected
    assert trace_target("http://h", False, environ).timeout == expected  # type: ignore[union-attr]


async def test_a_receiver_that_refuses_says_how():
    with OtlpReceiver(status=404) as receiver:
        told: list[str] = []
        ran = await traced(target(receiver), told)
        with pytest.raises(TraceError, match=r"\(HTTP 404 Not Found\)$"):
            send_session(ran.events, target(receiver))
    assert len(told) == 1 and "HTTP 404" in told[0]

"""A session's events folded into spans (`engine.otel.mapping`): the tree, the GenAI
attributes, the tokens, the events within spans, and content only when asked for."""

from __future__ import annotations

import json
from pathlib import Path

from engine.events import ForkOrigin, SessionResumed
from engine.otel.mapping import TraceBuilder
from engine.otel.spans import SpanRecord, span_id, trace_id
from engine.otel.target import trace_target, traces_url
from engine.patterns import get_pattern
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from engine.redaction import redact
from engine.session import EngineConfig
from tests.helpers import FAST_RETRY, Ran, run

KEY = "sk-ant-api03-" + "Q" * 40
TASK = f"Design a rate limiter; the staging key is {KEY}"


def spans_of(events: list, **options: object) -> list[SpanRecord]:
    builder = TraceBuilder(**options)  # type: ignore[arg-type]
    spans = [span for event in events for span in builder.feed(event)]
    return spans + builder.close()


def of(spans: list[SpanRecord], operation: str) -> list[SpanRecord]:
    return [span for span in spans if span.attributes.get("gen_ai.operation.name") == operation]


def with_tools(pattern: str) -> object:
    team = get_pattern(pattern).team()
    agents = tuple(agent.model_copy(update={"tools": ("list_files", "read_file")}) for agent in team.agents)
    return team.model_copy(update={"agents": agents})


async def routed(faults: str = "") -> Ran:
    """A routing session whose agents look at files (tool use, approved by policy)."""
    return await run(
        SimulatedProvider(seed=3, speed=0, faults=parse_faults(faults)), TASK, pattern="routing", team=with_tools("routing"),
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=Path(__file__).parent),
    )


async def test_the_tree_session_step_agent_call_and_tool():
    ran = await routed()
    spans = spans_of(ran.events)
    keys = {span.key: span for span in spans}
    assert all(span.parent is None or span.parent in keys for span in spans)
    (root,) = [span for span in spans if span.parent is None]
    assert root.name == "invoke_workflow routing" and root.kind == "internal"
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["gen_ai.workflow.name"] == "routing"
    assert root.attributes["gen_ai.conversation.id"] == ran.finished.session_id
    steps = [span for span in spans if span.name.startswith("step ")]
    assert {span.parent for span in steps} == {root.key}
    for agent in of(spans, "invoke_agent"):
        assert keys[agent.parent].name.startswith("step ")
        assert agent.name == f"invoke_agent {agent.attributes['gen_ai.agent.name']}"
    for chat in of(spans, "chat"):
        assert keys[chat.parent].attributes["gen_ai.operation.name"] == "invoke_agent"
        assert chat.kind == "client" and chat.name == f"chat {chat.attributes['gen_ai.request.model']}"
        assert chat.attributes["gen_ai.provider.name"] == "simulated"
        assert chat.attributes["gen_ai.response.model"] == chat.attributes["gen_ai.request.model"]
        assert chat.attributes["gen_ai.response.finish_reasons"][0] in ("end_turn", "tool_use")
    tools = of(spans, "execute_tool")
    assert {tool.attributes["gen_ai.tool.name"] for tool in tools} == {"list_files", "read_file"}
    assert all(keys[tool.parent].attributes["gen_ai.operation.name"] == "invoke_agent" for tool in tools)
    assert len(tools) == len(ran.of("tool.call"))
    assert len(of(spans, "chat")) == len(ran.of("call.started"))


async def test_times_are_the_events_own():
    ran = await routed()
    spans = spans_of(ran.events)
    (root,) = [span for span in spans if span.parent is None]
    assert root.start == ran.events[0].ts and root.end == ran.finished.ts
    started = {(e.call_key, e.attempt, e.tool_round): e.ts for e in ran.of("call.started")}
    for chat in of(spans, "chat"):
        assert chat.start in started.values() and chat.start <= chat.end


async def test_tokens_add_up_to_the_sessions_totals():
    ran = await routed("overload:0.5")
    spans = spans_of(ran.events)
    chats = of(spans, "chat")
    usage = ran.finished.usage
    assert sum(span.attributes["gen_ai.usage.input_tokens"] for span in chats) == usage.tokens_in
    assert sum(span.attributes["gen_ai.usage.output_tokens"] for span in chats) == usage.output_tokens
    assert sum(span.attributes["gen_ai.usage.cache_read.input_tokens"] for span in chats) == usage.cache_read_tokens
    (root,) = [span for span in spans if span.parent is None]
    assert root.attributes["gen_ai.usage.input_tokens"] == usage.tokens_in
    assert root.attributes["gen_ai.usage.output_tokens"] == usage.output_tokens
    assert root.attributes["huddle.session.status"] == "completed"


async def test_failed_attempts_are_errors_and_retries_are_events():
    ran = await routed("overload:0.5")
    spans = spans_of(ran.events)
    failed = [span for span in of(spans, "chat") if span.error is not None]
    assert failed and len(failed) == len(ran.of("call.failed"))
    assert all(span.attributes["error.type"] == "overloaded" and "overloaded" in (span.error or "") for span in failed)
    retries = [event for span in of(spans, "invoke_agent") for event in span.events if event.name == "huddle.retry"]
    assert len(retries) == len(ran.of("retry"))


async def test_escalations_and_decisions_are_span_events():
    ran = await routed()
    spans = spans_of(ran.events)
    events = [event for span in spans for event in span.events]
    asked = [event for event in events if event.name == "huddle.escalation.requested"]
    decided = [event for event in events if event.name == "huddle.escalation.resolved"]
    assert len(asked) == len(ran.of("escalation.requested")) > 0
    assert len(decided) == len(ran.of("escalation.resolved"))
    assert {event.attributes["huddle.decision.by"] for event in decided} == {"policy"}
    tool_use = [event for event in asked if event.attributes["huddle.escalation.trigger"] == "tool_use"]
    assert tool_use and all(event.attributes["gen_ai.tool.name"] in ("list_files", "read_file") for event in tool_use)
    assert all("huddle.escalation.reason" not in event.attributes for event in asked)


async def test_no_content_without_the_opt_in():
    ran = await routed()
    text = json.dumps([span.__dict__ for span in spans_of(ran.events)], default=lambda o: o.__dict__)
    assert "rate limiter" not in text and "Q" * 20 not in text
    reply = ran.of("call.finished")[-1].text
    assert reply[:40] not in text
    for name in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"):
        assert name not in text


async def test_content_when_asked_for_without_secrets():
    ran = await routed()
    spans = spans_of(ran.events, content=True, secrets=(KEY,))  # as live, the provider's keys
    text = json.dumps([span.attributes for span in spans])
    assert "Q" * 20 not in text and "[redacted]" in text
    (root,) = [span for span in spans if span.parent is None]
    messages = json.loads(root.attributes["gen_ai.input.messages"])
    assert messages[0]["role"] == "user" and "rate limiter" in messages[0]["parts"][0]["content"]
    chat = of(spans, "chat")[-1]
    output = json.loads(chat.attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"] == redact(ran.of("call.finished")[-1].text, (KEY,))
    tool = of(spans, "execute_tool")[0]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == ran.of("tool.call")[0].input


async def test_the_same_events_make_the_same_ids():
    ran = await routed()
    first, second = spans_of(ran.events), spans_of(ran.events)
    assert [(s.span_id, s.parent_id, s.trace_id) for s in first] == [(s.span_id, s.parent_id, s.trace_id) for s in second]
    assert len({span.span_id for span in first}) == len(first)
    assert {span.trace_id for span in first} == {trace_id(ran.finished.session_id)}


async def test_a_record_that_stops_ends_its_spans_where_it_stopped():
    ran = await routed()
    cut = [event for event in ran.events if event.seq <= 20]
    spans = spans_of(cut)
    (root,) = [span for span in spans if span.parent is None]
    assert root.end == cut[-1].ts and root.attributes["huddle.unfinished"] is True
    assert "huddle.session.status" not in root.attributes


async def test_a_resumed_run_is_a_child_of_the_first_and_priming_sends_nothing_again():
    ran = await routed()
    events = ran.events[:-1]  # its process died before it finished
    resumed = SessionResumed(
        session_id=ran.finished.session_id, seq=events[-1].seq + 1, ts=events[-1].ts + 5, after_seq=events[-1].seq,
        previous_status="interrupted", calls=3, decisions=1, worked_s=1.0,
    )
    builder = TraceBuilder()
    for event in events:
        builder.feed(event)  # the record, folded as a live resume primes it
    ended = builder.feed(resumed)
    first_root = next(span for span in ended if span.parent is None)
    assert first_root.attributes["huddle.unfinished"] is True
    finished = ran.finished.model_copy(update={"seq": resumed.seq + 1, "ts": resumed.ts + 1})
    (run1,) = builder.feed(finished)
    assert run1.parent == first_root.key and run1.attributes["huddle.resumed"] is True
    assert run1.name == "invoke_workflow routing" and run1.parent_id == span_id(ran.finished.session_id, first_root.key)


async def test_a_fork_links_to_its_parents_trace():
    ran = await routed()
    started = ran.events[0]
    origin = ForkOrigin(session_id=started.session_id, at_seq=9)
    forked = started.model_copy(update={"session_id": "f0f0f0f0f0f0", "forked_from": origin})
    builder = TraceBuilder()
    assert builder.feed(forked) == []  # nothing ends as a session starts
    (span,) = builder.close()
    assert span.link is not None and span.link[0] == started.session_id
    assert span.attributes["huddle.forked_from.session_id"] == started.session_id


def test_endpoints_and_the_content_opt_in():
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("https://otel.example/v1/traces") == "https://otel.example/v1/traces"
    assert trace_target(None, False, {}) is None
    assert trace_target(None, False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318/"}).url == "http://h:4318/v1/traces"  # type: ignore[union-attr]
    assert trace_target(None, False, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://h/x"}).url == "http://h/x"  # type: ignore[union-attr]
    assert trace_target(None, False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h", "OTEL_SDK_DISABLED": "true"}) is None
    environ = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    assert trace_target("http://h", False, environ).content is True  # type: ignore[union-attr]
    assert trace_target("http://h", False, {}).content is False  # type: ignore[union-attr]
    try:
        trace_target("ftp://user:hunter2secret@h", False, {})
    except ValueError as error:
        assert "--otlp" in str(error) and "hunter2secret" not in str(error) and "\n" not in str(error)
    else:
        raise AssertionError("an ftp address was taken")

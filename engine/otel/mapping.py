"""A session's events folded into spans, after the OpenTelemetry GenAI semantic conventions.

The same fold serves a session as it runs (each event fed as it comes, each span handed
out as it ends) and a recorded one sent later (its events fed in order), and uses the
events' own time stamps: both make the same trace. Pure: no I/O, no clock, no SDK.

The tree:

    invoke_workflow {pattern}          the session (a resumed run: a child of the first)
      step {id}                        a unit of work handed to an agent or member team
        invoke_agent {agent}           one call of the pattern's: its attempts and tool use
          chat {model}                 one request to the model (an attempt, a round of tool use)
          execute_tool {tool}          one tool use
        step {id} ...                  a member team's steps, inside the step it works on

Escalations, decisions, plans, handoffs, messages, retries and errors are span events
of the innermost span open where they happened. Prompts, replies, tool input and output,
plans, payloads and reasons go along only with `content` (the user's opt-in), and then
without secrets (`engine.redaction`); without it a trace says who did what, on which
model, for how many tokens and how long, and how it ended.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.events import (
    AgentMessage,
    BudgetUpdated,
    CallFailed,
    CallFinished,
    CallStarted,
    EscalationRequested,
    EscalationResolved,
    ErrorEvent,
    EventBase,
    Handoff,
    PlanMade,
    Retry,
    SessionFinished,
    SessionResumed,
    SessionStarted,
    StepFinished,
    StepStarted,
    ToolCall,
    ToolResult,
    ToolServer,
    Usage,
)
from engine.formats import preview
from engine.otel.spans import Attributes, SpanEvent, SpanKind, SpanRecord
from engine.redaction import redact

# The GenAI attribute names (semantic-conventions-genai); huddle's own under "huddle.".
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
AGENT = "gen_ai.agent.name"
WORKFLOW = "gen_ai.workflow.name"
CONVERSATION = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
OUTPUT_TYPE = "gen_ai.output.type"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
ERROR_TYPE = "error.type"

MAX_ERROR = 300
"""Characters of an error kept in a span's status."""


def usage_attributes(usage: Usage) -> Attributes:
    """Tokens as the conventions count them: input includes cached input, read or written."""
    return {
        INPUT_TOKENS: usage.tokens_in,
        OUTPUT_TOKENS: usage.output_tokens,
        CACHE_READ: usage.cache_read_tokens,
        CACHE_CREATION: usage.cache_write_tokens,
    }


@dataclass
class _Open:
    """A span under way."""

    record: SpanRecord
    role: str
    """"run", "step", "call", "chat" or "tool"."""
    where: str = "root"
    """The engine span it was opened at (`EventBase.span_id`)."""
    agent: str | None = None
    step_id: str | None = None
    call_key: str | None = None
    last: float = 0.0
    """When anything last happened in it: a span closed with its parent ends then."""
    children: list[str] = field(default_factory=list)


class TraceBuilder:
    """Feed a session's events in order; each call hands back the spans that event ended.

    `content`: the user opted in to prompts, replies and tool input and output going
    along (redacted); `secrets`: keys huddle was given, taken out of every text sent.
    """

    def __init__(self, *, content: bool = False, secrets: Iterable[str] = ()) -> None:
        self.content = content
        self.secrets = tuple(secrets)
        self.session_id: str | None = None
        self.pattern = ""
        self.provider = ""
        self.agents: dict[str, tuple[str, str]] = {}
        """Each agent's provider and system prompt, from `session.started`."""
        self.runs = 0
        """Runs of the session so far: its start and each resume."""
        self.last = 0.0
        self._open: dict[str, _Open] = {}
        self._run: str | None = None
        self._calls: dict[str, str] = {}
        """The open `invoke_agent` span of each call key."""
        self._attempts: dict[str, str] = {}
        """The open `chat` span of each call key."""
        self._tools: dict[str, str] = {}
        """The open `execute_tool` span of each tool use."""
        self._used: dict[str, int] = {}
        """How many spans each key base named, so a step or call made again gets a key of its own."""
        self._handlers = {
            SessionStarted: self._session_started,
            SessionResumed: self._session_resumed,
            SessionFinished: self._session_finished,
            StepStarted: self._step_started,
            StepFinished: self._step_finished,
            CallStarted: self._call_started,
            CallFinished: self._call_finished,
            CallFailed: self._call_failed,
            Retry: self._retry,
            ToolCall: self._tool_call,
            ToolResult: self._tool_result,
            EscalationRequested: self._escalation_requested,
            EscalationResolved: self._escalation_resolved,
            PlanMade: self._plan_made,
            Handoff: self._handoff,
            AgentMessage: self._message,
            ErrorEvent: self._error,
            ToolServer: self._tool_server,
            BudgetUpdated: self._budget,
        }

    # -- feeding ----------------------------------------------------------------------

    def feed(self, event: EventBase) -> list[SpanRecord]:
        """Fold one event in; the spans it ended (children before their parents)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return []  # text deltas, progress, pattern notes: nothing a trace shows
        self.last = max(self.last, event.ts)
        if self.session_id is None:
            self.session_id = event.session_id
        ended: list[SpanRecord] = []
        handler(event, ended)
        return ended

    def close(self) -> list[SpanRecord]:
        """End every span still open (a record that stops without `session.finished`:
        its process died), at the time of the last event."""
        ended: list[SpanRecord] = []
        if self._run is not None:
            self._close(self._run, self.last, ended, unfinished=True)
            self._run = None
        return ended

    # -- the spans ----------------------------------------------------------------------

    def _key(self, base: str) -> str:
        count = self._used.get(base, 0) + 1
        self._used[base] = count
        return f"{base}#{count}"

    def _start(
        self, role: str, base: str, parent: str | None, name: str, kind: SpanKind, event: EventBase,
        attributes: Attributes, **details: Any,
    ) -> str:
        key = self._key(base)
        record = SpanRecord(self.session_id or event.session_id, key, parent, name, kind, event.ts, event.ts, attributes)
        self._open[key] = _Open(record, role, event.span_id, last=event.ts, **details)
        if parent is not None and parent in self._open:
            self._open[parent].children.append(key)
        return key

    def _close(
        self, key: str, ts: float, ended: list[SpanRecord], *, error: str | None = None, unfinished: bool = False,
    ) -> None:
        """End span `key` (and whatever is still open inside it) at `ts`."""
        span = self._open.pop(key, None)
        if span is None:
            return
        for child in list(span.children):
            child_span = self._open.get(child)
            if child_span is None:
                continue
            # a call whose end no event marked (a structured reply after tool use) ends at its last work;
            # a request or tool use still going ends with its parent, unfinished
            settled = child_span.role in ("call", "step")
            self._close(child, child_span.last if settled else ts, ended, unfinished=not settled)
        record = span.record
        record.end = max(record.start, ts)
        if error is not None:
            record.error = _one_line(error)
        if unfinished:
            record.attributes["huddle.unfinished"] = True
        self._forget(key, span)
        ended.append(record)
        parent = record.parent
        if parent is not None and parent in self._open:
            self._open[parent].last = max(self._open[parent].last, record.end)

    def _forget(self, key: str, span: _Open) -> None:
        if span.call_key is not None:
            for index in (self._calls, self._attempts):
                if index.get(span.call_key) == key:
                    del index[span.call_key]
        for tool_use_id, tool_key in list(self._tools.items()):
            if tool_key == key:
                del self._tools[tool_use_id]

    def _container(self, where: str) -> str | None:
        """The innermost open step whose engine span holds `where`, else the run's span."""
        best: tuple[int, str] | None = None
        for key, span in self._open.items():  # in the order they opened: a later one wins a tie
            if span.role != "step":
                continue
            if where == span.where or where.startswith(span.where + "/"):
                if best is None or len(span.where) >= best[0]:
                    best = (len(span.where), key)
        return best[1] if best is not None else self._run

    def _target(self, event: EventBase) -> str | None:
        """The innermost open span an event of `event.agent` at `event.span_id` happened in."""
        for key in reversed(list(self._open)):
            span = self._open[key]
            if span.role == "call" and span.where == event.span_id and span.agent == event.agent:
                return key
        return self._container(event.span_id)

    def _note(self, key: str | None, name: str, event: EventBase, attributes: Attributes) -> None:
        if key is None or key not in self._open:
            return
        span = self._open[key]
        span.record.events.append(SpanEvent(name, event.ts, attributes))
        span.last = max(span.last, event.ts)

    # -- text ---------------------------------------------------------------------------

    def _text(self, text: str) -> str:
        return redact(text, self.secrets)

    def _json(self, value: Any) -> str:
        return self._text(json.dumps(value, ensure_ascii=False, default=str))

    def _messages(self, role: str, text: str, finish: str | None = None) -> str:
        message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": text}]}
        if finish is not None:
            message["finish_reason"] = finish
        return self._json([message])

    def _provider_of(self, agent: str | None) -> str:
        known = self.agents.get(agent or "")
        return (known[0] if known else "") or self.provider or "unknown"

    # -- the session ---------------------------------------------------------------------

    def _session_started(self, e: SessionStarted, ended: list[SpanRecord]) -> None:
        self.pattern, self.provider = e.pattern, e.provider
        self.agents = {spec.name: (spec.provider or e.provider, spec.system()) for spec in e.team.callers()}
        attributes: Attributes = {
            OPERATION: "invoke_workflow", WORKFLOW: e.pattern, CONVERSATION: e.session_id,
            "huddle.session.id": e.session_id, "huddle.provider": e.provider, "huddle.team": e.team.name,
            "huddle.agents": tuple(self.agents),
        }
        if self.content:
            attributes[INPUT_MESSAGES] = self._messages("user", e.task)
        self._open_run(e, attributes, ended)
        if e.forked_from is not None:
            run = self._open[self._run or ""].record
            run.link = (e.forked_from.session_id, "run0#1")
            run.attributes["huddle.forked_from.session_id"] = e.forked_from.session_id
            run.attributes["huddle.forked_from.seq"] = e.forked_from.at_seq

    def _session_resumed(self, e: SessionResumed, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {
            OPERATION: "invoke_workflow", CONVERSATION: e.session_id, "huddle.session.id": e.session_id,
            "huddle.resumed": True, "huddle.resumed.previous_status": e.previous_status,
            "huddle.resumed.calls": e.calls, "huddle.resumed.decisions": e.decisions,
        }
        if self.pattern:
            attributes[WORKFLOW] = self.pattern
        self._open_run(e, attributes, ended)

    def _open_run(self, e: EventBase, attributes: Attributes, ended: list[SpanRecord]) -> None:
        if self._run is not None:  # the record's run before stopped without a word: it ends where it stopped
            self._close(self._run, self.last, ended, unfinished=True)
        parent = "run0#1" if self.runs else None
        name = f"invoke_workflow {self.pattern}" if self.pattern else "invoke_workflow"
        self._run = self._start("run", f"run{self.runs}", parent, name, "internal", e, attributes)
        self.runs += 1

    def _session_finished(self, e: SessionFinished, ended: list[SpanRecord]) -> None:
        if self._run is None:
            return
        run = self._open[self._run].record
        run.attributes.update(usage_attributes(e.usage))
        run.attributes.update({
            "huddle.session.status": e.status, "huddle.cost_usd": e.cost, "huddle.calls": e.calls,
            "huddle.turns": e.turns, "huddle.duration_s": e.duration_s, "huddle.partial": e.partial,
            "huddle.failed_steps": e.failed_steps, "huddle.skipped_steps": e.skipped_steps,
        })
        if self.content:
            run.attributes[OUTPUT_MESSAGES] = self._messages("assistant", e.result, e.status)
        error = None
        if e.status == "failed":
            run.attributes[ERROR_TYPE] = "failed"
            error = e.reason or "the session failed"
        self._close(self._run, e.ts, ended, error=error)
        self._run = None

    # -- steps ----------------------------------------------------------------------------

    def _step_started(self, e: StepStarted, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {"huddle.step.id": e.step_id, "huddle.step.assigned_to": e.assigned_to}
        if e.depends_on:
            attributes["huddle.step.depends_on"] = tuple(e.depends_on)
        if self.content:
            attributes["huddle.step.title"] = self._text(e.title)
        parent = self._container(e.span_id)
        self._start("step", f"{self._run}/step/{e.step_id}", parent, f"step {e.step_id}", "internal", e,
                    attributes, agent=e.agent, step_id=e.step_id)

    def _step_finished(self, e: StepFinished, ended: list[SpanRecord]) -> None:
        key = self._step_of(e.step_id)
        if key is None:
            return
        record = self._open[key].record
        record.attributes["huddle.step.status"] = e.status
        if e.status == "error":
            record.attributes[ERROR_TYPE] = "step_error"
        if self.content and e.output:
            record.attributes["huddle.step.output"] = self._text(e.output)
        self._close(key, e.ts, ended, error=(e.error or "the step failed") if e.status == "error" else None)

    # -- calls -------------------------------------------------------------------------------

    def _call_started(self, e: CallStarted, ended: list[SpanRecord]) -> None:
        provider = self._provider_of(e.agent)
        agent = e.agent or ""
        call = self._calls.get(e.call_key)
        if call is None:
            parent = self._step_of(e.step_id) or self._container(e.span_id)
            attributes: Attributes = {
                OPERATION: "invoke_agent", AGENT: agent, PROVIDER: provider, REQUEST_MODEL: e.model,
                "huddle.call_key": e.call_key,
            }
            if e.purpose:
                attributes["huddle.purpose"] = e.purpose
            if e.step_id is not None:
                attributes["huddle.step.id"] = e.step_id
            if self.content and agent in self.agents:
                attributes[SYSTEM_INSTRUCTIONS] = self._json([{"type": "text", "content": self.agents[agent][1]}])
            call = self._start("call", f"{self._run}/call/{e.call_key}", parent, f"invoke_agent {agent}".rstrip(),
                               "internal", e, attributes, agent=e.agent, call_key=e.call_key)
            self._calls[e.call_key] = call
        elif (previous := self._attempts.get(e.call_key)) is not None:  # an attempt no event ended
            self._close(previous, e.ts, ended, unfinished=True)
        attributes = {
            OPERATION: "chat", PROVIDER: provider, REQUEST_MODEL: e.model, AGENT: agent,
            OUTPUT_TYPE: "json" if e.structured else "text",
            "huddle.attempt": e.attempt, "huddle.tool_round": e.tool_round,
        }
        if self.content:
            attributes[INPUT_MESSAGES] = self._messages("user", e.prompt)
        self._attempts[e.call_key] = self._start(
            "chat", f"{call}/chat/{e.attempt}.{e.tool_round}", call, f"chat {e.model}", "client", e, attributes,
            agent=e.agent, call_key=e.call_key,
        )

    def _step_of(self, step_id: str | None) -> str | None:
        if step_id is None:
            return None
        return next((k for k in reversed(list(self._open)) if self._open[k].role == "step"
                     and self._open[k].step_id == step_id), None)

    def _attempt(self, e: CallFinished | CallFailed, latency: float) -> str:
        """The open `chat` span the event ends: one made now when none is (a record that lost its start)."""
        key = self._attempts.get(e.call_key)
        if key is None:
            self._call_started(CallStarted(
                session_id=e.session_id, seq=e.seq, ts=e.ts - latency, span_id=e.span_id,
                parent_span_id=e.parent_span_id, agent=e.agent, call_key=e.call_key, attempt=e.attempt,
                model=getattr(e, "model", None) or self._model_of(e.call_key), prompt="",
            ), [])
            key = self._attempts[e.call_key]
        return key

    def _model_of(self, call_key: str) -> str:
        call = self._open.get(self._calls.get(call_key, ""))
        model = call.record.attributes.get(REQUEST_MODEL) if call is not None else None
        return model if isinstance(model, str) else "unknown"

    def _call_finished(self, e: CallFinished, ended: list[SpanRecord]) -> None:
        key = self._attempt(e, e.latency_s)
        chat = self._open[key]
        attributes = chat.record.attributes
        attributes.update(usage_attributes(e.usage))
        attributes[RESPONSE_MODEL] = e.model
        attributes[FINISH_REASONS] = (e.stop_reason or "stop",)
        attributes["huddle.latency_s"] = e.latency_s
        if e.cost is not None:
            attributes["huddle.cost_usd"] = e.cost
        if e.recorded:
            attributes["huddle.recorded"] = True
            chat.record.kind = "internal"  # answered from the record: no request went out
        if self.content:
            attributes[OUTPUT_MESSAGES] = self._messages("assistant", e.text, e.stop_reason or "stop")
        self._close(key, e.ts, ended)
        if e.stop_reason != "tool_use" or e.structured is not None:
            call = self._calls.get(e.call_key)
            if call is not None:
                self._close(call, e.ts, ended)

    def _call_failed(self, e: CallFailed, ended: list[SpanRecord]) -> None:
        call = self._calls.get(e.call_key)
        if e.call_key not in self._attempts and call is not None and not e.usage.total:
            # the reply came (its span has ended) and failed its check: the call says so
            self._note(call, "exception", e, {"exception.type": e.error_type,
                                              "exception.message": _one_line(self._text(e.error)),
                                              "huddle.attempt": e.attempt})
        else:
            self._failed_attempt(e, ended)
        if e.final and call is not None and call in self._open:
            self._open[call].record.attributes[ERROR_TYPE] = e.error_type
            self._close(call, e.ts, ended, error=e.error)

    def _failed_attempt(self, e: CallFailed, ended: list[SpanRecord]) -> None:
        key = self._attempt(e, 0.0)
        attributes = self._open[key].record.attributes
        attributes.update(usage_attributes(e.usage))
        attributes[ERROR_TYPE] = e.error_type
        if e.cost is not None:
            attributes["huddle.cost_usd"] = e.cost
        self._close(key, e.ts, ended, error=e.error)

    def _retry(self, e: Retry, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {"huddle.attempt": e.attempt, "huddle.delay_s": e.delay_s,
                                  "huddle.reason": _one_line(self._text(e.reason))}
        if e.retry_after_s is not None:
            attributes["huddle.retry_after_s"] = e.retry_after_s
        self._note(self._calls.get(e.call_key) or self._target(e), "huddle.retry", e, attributes)

    # -- tools ---------------------------------------------------------------------------------

    def _tool_call(self, e: ToolCall, ended: list[SpanRecord]) -> None:
        parent = (self._calls.get(e.call_key) if e.call_key else None) or self._target(e)
        attributes: Attributes = {
            OPERATION: "execute_tool", TOOL_NAME: e.tool, TOOL_CALL_ID: e.tool_use_id,
            TOOL_TYPE: "extension" if "." in e.tool else "function", AGENT: e.agent or "",
        }
        if self.content:
            attributes[TOOL_ARGUMENTS] = self._json(e.input)
        self._tools[e.tool_use_id] = self._start(
            "tool", f"{parent}/tool/{e.tool_use_id}", parent, f"execute_tool {e.tool}", "internal", e, attributes,
            agent=e.agent, call_key=e.call_key,
        )

    def _tool_result(self, e: ToolResult, ended: list[SpanRecord]) -> None:
        key = self._tools.get(e.tool_use_id)
        if key is None:
            self._tool_call(ToolCall(session_id=e.session_id, seq=e.seq, ts=e.ts, span_id=e.span_id,
                                     parent_span_id=e.parent_span_id, agent=e.agent, call_key=e.call_key,
                                     tool_use_id=e.tool_use_id, tool=e.tool, input={}), ended)
            key = self._tools[e.tool_use_id]
        attributes = self._open[key].record.attributes
        if e.recorded:
            attributes["huddle.recorded"] = True
        if self.content:
            attributes[TOOL_RESULT] = self._text(e.output)
        if e.is_error:
            attributes[ERROR_TYPE] = "tool_error"
        self._close(key, e.ts, ended, error="the tool failed" if e.is_error else None)

    # -- what happened within spans ---------------------------------------------------------------

    def _escalation_requested(self, e: EscalationRequested, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {
            "huddle.escalation.id": e.escalation_id, "huddle.escalation.trigger": e.trigger,
            "huddle.escalation.rule": e.rule, "huddle.escalation.human": e.human,
            "huddle.escalation.options": tuple(e.options),
        }
        if e.agent:
            attributes[AGENT] = e.agent
        if e.tool is not None:
            attributes[TOOL_NAME] = e.tool.name
        if e.timeout_s is not None:
            attributes["huddle.escalation.timeout_s"] = e.timeout_s
        if e.default is not None:
            attributes["huddle.escalation.default"] = e.default
        if self.content:
            attributes["huddle.escalation.reason"] = self._text(e.reason)
            if e.payload is not None:
                attributes["huddle.escalation.payload"] = self._json(e.payload)
        self._note(self._target(e), "huddle.escalation.requested", e, attributes)

    def _escalation_resolved(self, e: EscalationResolved, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {
            "huddle.escalation.id": e.escalation_id, "huddle.escalation.trigger": e.trigger,
            "huddle.decision.action": e.action, "huddle.decision.by": e.by, "huddle.decision.rule": e.rule,
        }
        if e.option is not None:
            attributes["huddle.decision.option"] = e.option
        if self.content:
            if e.reason:
                attributes["huddle.decision.reason"] = self._text(e.reason)
            if e.edited is not None:
                attributes["huddle.decision.edited"] = self._json(e.edited)
        self._note(self._target(e), "huddle.escalation.resolved", e, attributes)

    def _plan_made(self, e: PlanMade, ended: list[SpanRecord]) -> None:
        steps = e.plan.get("steps") if isinstance(e.plan, dict) else None
        attributes: Attributes = {"huddle.plan.revision": e.revision,
                                  "huddle.plan.steps": len(steps) if isinstance(steps, list) else 0}
        if e.scope:
            attributes["huddle.plan.scope"] = e.scope
        if self.content:
            attributes["huddle.plan"] = self._json(e.plan)
        self._note(self._target(e), "huddle.plan", e, attributes)

    def _handoff(self, e: Handoff, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {"huddle.handoff.from": e.from_agent, "huddle.handoff.to": e.to_agent,
                                  "huddle.handoff.contract": e.contract, "huddle.handoff.verdict": e.verdict}
        if e.confidence is not None:
            attributes["huddle.handoff.confidence"] = e.confidence
        if self.content:
            attributes["huddle.handoff.payload"] = self._json(e.payload)
            if e.error:
                attributes["huddle.handoff.error"] = self._text(e.error)
        self._note(self._target(e), "huddle.handoff", e, attributes)

    def _message(self, e: AgentMessage, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {"huddle.message.from": e.from_agent, "huddle.message.to": e.to_agent or "*"}
        if self.content:
            attributes["huddle.message.text"] = self._text(e.text)
        self._note(self._target(e), "huddle.message", e, attributes)

    def _error(self, e: ErrorEvent, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {"exception.type": e.error_type, "exception.message": _one_line(self._text(e.message)),
                                  "huddle.error.fatal": e.fatal}
        if e.step_id is not None:
            attributes["huddle.step.id"] = e.step_id
        self._note(self._target(e), "exception", e, attributes)

    def _tool_server(self, e: ToolServer, ended: list[SpanRecord]) -> None:
        attributes: Attributes = {"huddle.tool_server.name": e.server, "huddle.tool_server.status": e.status,
                                  "huddle.tool_server.tools": len(e.tools)}
        if e.message:
            attributes["huddle.tool_server.message"] = _one_line(self._text(e.message))
        self._note(self._run, "huddle.tool_server", e, attributes)

    def _budget(self, e: BudgetUpdated, ended: list[SpanRecord]) -> None:
        if e.reason != "extended":
            return  # usage as it goes: the spans' own tokens say it
        limits = {name: value for name, value in e.limits.model_dump().items() if value is not None}
        attributes: Attributes = {f"huddle.budget.{name}": value for name, value in limits.items()
                                  if isinstance(value, (int, float))}
        self._note(self._run, "huddle.budget.extended", e, attributes)


def _one_line(text: str) -> str:
    return preview(text, MAX_ERROR)

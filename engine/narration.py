"""The narrator: an event as one line of the session's story.

The timeline on screen, the printed transcript and the Markdown export tell a
session in the same words because they all take their lines from `narrate`.
A line is plain text with a tone; each reader styles it its own way (colours on
screen and in a terminal, escaped text in Markdown). Text in a line may come
from a model or a tool: readers pass events through their gate first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from engine.events import (
    AgentMessage,
    BudgetUpdated,
    CallDelta,
    CallFailed,
    CallFinished,
    CallProgress,
    CallStarted,
    EscalationRequested,
    EscalationResolved,
    ErrorEvent,
    EventBase,
    Handoff,
    PatternNote,
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
)
from engine.formats import limits_text, period, plural
from engine.state import SessionState, event_classes
from engine.tools import CODE_TOOLS

Tone = Literal["", "accent", "success", "warning", "error"]
DECISION_TONES: dict[str, Tone] = {"approve": "success", "reject": "error", "edit": "accent"}


@dataclass(frozen=True)
class Line:
    """One line of the story: an icon, the words, how it should feel, and whose it is."""

    icon: str
    text: str
    tone: Tone = ""
    agent: str | None = None


def narrate(state: SessionState, event: EventBase) -> Line | None:
    """The line `event` adds to the story, or None for kinds the story leaves out (text
    as it streams) and for what a resumed run tells again (`SessionState.retold`).
    `state` is the session with `event` already folded in."""
    if state.retold:
        return None
    return NARRATORS[type(event)](state, event)


def _session_started(state: SessionState, e: SessionStarted) -> Line:
    return Line("◆", f"session started: {e.pattern}, {plural(len(state.agents), 'agent')}", "accent", e.agent)


def _session_finished(state: SessionState, e: SessionFinished) -> Line:
    tone: Tone = "error" if e.status != "completed" else "warning" if e.failed_steps or e.skipped_steps else "success"
    return Line("◆", f"session {state.outcome}" + (f": {e.reason}" if e.reason else ""), tone, e.agent)


ENDED_AS: dict[str, str] = {
    "interrupted": "it was interrupted",
    "stopped": "it was stopped",
    "cancelled": "it was cancelled",
    "failed": "it failed",
}
"""How a resume says the way the session ended before."""


def _session_resumed(state: SessionState, e: SessionResumed) -> Line:
    """ "resumed after 2h 3m away; it was stopped (tokens budget used up); 3 calls and 1
    decision answered from the record"."""
    away = state.resumes[-1].away_s
    why = f" ({e.previous_reason})" if e.previous_reason else ""
    answered = [plural(n, noun) for n, noun in ((e.calls, "call"), (e.decisions, "decision")) if n]
    reused = f"{' and '.join(answered)} answered from the record" if answered else "nothing in the record to answer from"
    return Line("◆", f"resumed after {period(away)} away; {ENDED_AS[e.previous_status]}{why}; {reused}", "accent", e.agent)


def _plan_made(state: SessionState, e: PlanMade) -> Line:
    label = "plan" if e.revision == 0 else f"plan revision {e.revision}"
    version = state.plan_by.get(e.agent)
    if version is not None and version.scope:
        label = f"{version.scope} {label}"
    return Line("▤", f"{label}: {plural(len(e.plan.get('steps', [])), 'step')}", "accent", e.agent)


def _step_started(state: SessionState, e: StepStarted) -> Line:
    return Line("▶", f"{e.step_id}: {e.title}", "", e.assigned_to)  # whose it is reads beside it


def _step_finished(state: SessionState, e: StepFinished) -> Line:
    if e.status == "done":
        return Line("■", f"{e.step_id} done", "success", e.agent)
    error = f": {e.error}" if e.error else ""
    icon, tone = ("✗", "error") if e.status == "error" else ("–", "warning")
    return Line(icon, f"{e.step_id} {e.status}{error}", tone, e.agent)


def _call_failed(state: SessionState, e: CallFailed) -> Line:
    what = "call failed" if e.final else f"attempt {e.attempt} failed"
    return Line("✗", f"{what}: {e.error}", "error" if e.final else "warning", e.agent)


def _retry(state: SessionState, e: Retry) -> Line:
    after = f" (retry-after {e.retry_after_s:g}s)" if e.retry_after_s else ""
    return Line("↻", f"retry #{e.attempt} in {e.delay_s:.1f}s{after}: {e.reason}", "warning", e.agent)


def _escalation_requested(state: SessionState, e: EscalationRequested) -> Line:
    return Line("?", f"[{e.trigger}] {e.reason}", "warning", e.agent)


def _escalation_resolved(state: SessionState, e: EscalationResolved) -> Line:
    decided = state.decisions[e.escalation_id]
    reason = f": {e.reason}" if e.reason else ""
    return Line(
        "✗" if e.action == "reject" else "✓", f"{decided.word} by {e.by} ({e.rule}){reason}",
        DECISION_TONES[e.action], e.agent,
    )


def _budget_updated(state: SessionState, e: BudgetUpdated) -> Line | None:
    if e.reason == "unpriced":
        models = ", ".join(e.unpriced_models)
        return Line(
            "$", f"the cost budget counts only models with a price; no price for {models} "
            "(add one under [prices] in config.toml)", "warning", e.agent,
        )
    if e.reason != "extended":
        return None
    return Line("$", f"budget raised: {limits_text(state.budget.limits)}", "accent", e.agent)


def _handoff(state: SessionState, e: Handoff) -> Line:
    confidence = f" ({e.confidence:.0%})" if e.confidence is not None else ""
    tone: Tone = {"accepted": "", "invalid": "error", "low_confidence": "warning"}[e.verdict]  # type: ignore[assignment]
    error = f": {e.error}" if e.error else ""
    return Line("⇢", f"handoff {e.from_agent} → {e.to_agent} [{e.contract}] {e.verdict}{confidence}{error}", tone, e.to_agent)


def _message(state: SessionState, e: AgentMessage) -> Line:
    return Line("✉", f"{e.from_agent} → {e.to_agent or 'everyone'}: {e.text}", "", e.from_agent)


def _pattern_note(state: SessionState, e: PatternNote) -> Line:
    return Line("·", f"{e.topic}: {e.text}", "accent", e.agent)


def _tool_call(state: SessionState, e: ToolCall) -> Line:
    return Line("⚙", f"{e.tool} {json.dumps(e.input, ensure_ascii=False)[:80]}", "", e.agent)


def _tool_result(state: SessionState, e: ToolResult) -> Line:
    then = " (as recorded, not run again)" if e.recorded else ""
    if e.tool in CODE_TOOLS:  # how the code ended: its result's first line
        return Line("⚙", f"{e.tool} → {e.output.partition(chr(10))[0][:160]}{then}", "error" if e.is_error else "", e.agent)
    if e.is_error:
        return Line("⚙", f"{e.tool} → {e.output[:120]}{then}", "error", e.agent)
    return Line("⚙", f"{e.tool} → {plural(len(e.output.splitlines()), 'line')}{then}", "", e.agent)


def _tool_server(state: SessionState, e: ToolServer) -> Line:
    if e.status == "started":
        shown = ", ".join(e.tools[:6]) + (f", and {len(e.tools) - 6} more" if len(e.tools) > 6 else "")
        offers = f": {shown}" if e.tools else ""
        return Line("⚙", f"tool server {e.server} started, {plural(len(e.tools), 'tool')}{offers}", "accent")
    if e.status == "failed":
        return Line("!", f"tool server {e.server} did not start: {e.message}", "error")
    return Line("!", f"tool server {e.server} was lost: {e.message}", "error")


def _error(state: SessionState, e: ErrorEvent) -> Line:
    return Line("!", e.message, "error", e.agent)


def _untold(state: SessionState, e: EventBase) -> None:
    """Kinds the story leaves out: a call's start, its text and progress, its end
    (readers show a call in an agent's own panel or section instead)."""
    return None


NARRATORS: dict[type[EventBase], Callable[[SessionState, Any], Line | None]] = {
    SessionStarted: _session_started,
    SessionFinished: _session_finished,
    SessionResumed: _session_resumed,
    PlanMade: _plan_made,
    StepStarted: _step_started,
    StepFinished: _step_finished,
    CallStarted: _untold,
    CallDelta: _untold,
    CallProgress: _untold,
    CallFinished: _untold,
    CallFailed: _call_failed,
    Retry: _retry,
    ToolCall: _tool_call,
    ToolResult: _tool_result,
    ToolServer: _tool_server,
    Handoff: _handoff,
    AgentMessage: _message,
    EscalationRequested: _escalation_requested,
    EscalationResolved: _escalation_resolved,
    BudgetUpdated: _budget_updated,
    ErrorEvent: _error,
    **{kind: _pattern_note for kind in event_classes() if issubclass(kind, PatternNote)},
}
"""The line of each kind of event (a test checks every kind has its entry)."""

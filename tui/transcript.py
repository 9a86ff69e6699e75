"""The readable transcript of a session, as lines: what headless runs print live
and `huddle sessions show` prints afterwards.

Every event passes the gate (`tui.safe.safe`) as it is fed in, so nothing a model,
a tool or a team file wrote can reach the terminal as an escape sequence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from engine.events import DECIDED, EventBase
from engine.formats import clock, count, limits_text, money, outcome, plural, preview
from tui.safe import safe

_RESET = "\x1b[0m"
_STYLES = {
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "blue": "\x1b[34m",
    "magenta": "\x1b[35m",
    "cyan": "\x1b[36m",
}
_AGENT_COLOURS = ("cyan", "magenta", "green", "yellow", "blue")
_DECISION_MARKS = {"approve": ("green", "✓"), "reject": ("red", "✗"), "edit": ("cyan", "✎")}


def use_colour(stream: object) -> bool:
    """Colour for a terminal, unless the user set NO_COLOR."""
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


class Transcript:
    """Turns events into printed lines; one instance per session."""

    def __init__(self, write: Callable[[str], object], *, colour: bool = False) -> None:
        self._write = write
        self._colour = colour
        self._start: float | None = None
        self._buffers: dict[str, str] = {}
        self._agents: dict[str, str] = {}
        self._width = 10
        self._structured: set[str] = set()
        self._named: dict[str, dict[str, str]] = {}
        """Each escalation's named choices, for how its decision reads."""

    # -- formatting ---------------------------------------------------------

    def _c(self, style: str, text: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self._colour else text

    def _agent(self, name: str | None) -> str:
        if not name:
            return ""
        style = self._agents.get(name, "bold")
        return self._c(style, name)

    def _line(self, text: str) -> None:
        self._write(text + "\n")

    def _at(self, event: EventBase) -> str:
        offset = event.ts - (self._start or event.ts)
        return self._c("dim", f"+{clock(offset)}")

    # -- events ---------------------------------------------------------------

    def feed(self, event: EventBase) -> None:
        event = safe(event)
        handler = getattr(self, "_on_" + event.kind.replace(".", "_"), None)
        if handler is not None:
            handler(event)

    def _on_session_started(self, e: Any) -> None:
        self._start = e.ts
        callers = [agent.name for agent in e.team.callers()]
        for index, name in enumerate(callers):
            self._agents[name] = _AGENT_COLOURS[index % len(_AGENT_COLOURS)]
        self._width = max(len(n) for n in callers)
        provider = e.provider + (" (offline, no API calls)" if e.provider == "simulated" else "")
        self._line(self._c("bold", f"huddle · session {e.session_id} · {e.pattern}"))
        self._line(f"task: {e.task}")
        team = ", ".join(
            f"{' › '.join([*e.team.path_of(a.name), a.name])} ({a.role}, {a.model})"
            for a in e.team.callers()
        )
        self._line(self._c("dim", f"team: {team}"))
        self._line(self._c("dim", f"provider: {provider} · seed {e.seed}"))
        limits = limits_text(e.limits.model_dump())
        if limits:
            self._line(self._c("dim", f"budgets: {limits}"))
        self._line("")

    def _on_plan_made(self, e: Any) -> None:
        steps = e.plan.get("steps", [])
        label = "plan" if e.revision == 0 else f"plan (revision {e.revision})"
        confidence = e.plan.get("confidence")
        extra = f" · confidence {confidence:.0%}" if isinstance(confidence, float) else ""
        self._line(f"{self._at(e)} {self._c('bold', label)} by {self._agent(e.agent)}{extra}")
        for step in steps:
            after = step.get("depends_on") or []
            after_text = self._c("dim", f"  (after {', '.join(map(str, after))})") if after else ""
            self._line(
                f"    {str(step.get('id', '?')):<4} {str(step.get('assigned_to', '?')):<{self._width}}  "
                f"{str(step.get('title', ''))}{after_text}"
            )

    def _on_step_started(self, e: Any) -> None:
        self._line(f"{self._at(e)} ▶ {e.step_id} {self._agent(e.assigned_to)}: {e.title}")

    def _on_step_finished(self, e: Any) -> None:
        if e.status == "done":
            self._line(f"{self._at(e)} {self._c('green', '■')} {e.step_id} done ({self._agent(e.agent)})")
        else:
            mark = self._c("red", "✗") if e.status == "error" else self._c("yellow", "–")
            self._line(f"{self._at(e)} {mark} {e.step_id} {e.status}: {e.error or ''}")

    def _on_call_started(self, e: Any) -> None:
        if e.structured:
            self._structured.add(e.call_key)
            self._line(f"{self._at(e)} {self._agent(e.agent)} is writing a structured reply…")
        self._buffers[e.call_key] = ""

    def _on_call_delta(self, e: Any) -> None:
        if e.call_key in self._structured:
            return
        buffer = self._buffers.get(e.call_key, "") + e.text
        *lines, rest = buffer.split("\n")
        for line in lines:
            self._stream_line(e.agent, line)
        self._buffers[e.call_key] = rest

    def _stream_line(self, agent: str | None, line: str) -> None:
        name = agent or ""
        prefix = self._c(self._agents.get(name, "bold"), f"{name:>{self._width}} │")
        self._line(f"{prefix} {line}")

    def _flush(self, e: Any) -> None:
        rest = self._buffers.pop(e.call_key, "")
        if rest.strip():
            self._stream_line(e.agent, rest)

    def _on_call_finished(self, e: Any) -> None:
        self._flush(e)
        self._structured.discard(e.call_key)
        u = e.usage
        source = " (recorded)" if e.recorded else ""
        self._line(self._c(
            "dim",
            f"{'':>{self._width}} └ {count(u.tokens_in)} in / {count(u.output_tokens)} out · "
            f"{money(e.cost)} · {e.latency_s:.1f}s · {e.model}{source}",
        ))

    def _on_call_failed(self, e: Any) -> None:
        self._flush(e)
        what = "call failed" if e.final else f"attempt {e.attempt} failed"
        self._line(f"{self._at(e)} {self._c('red', '✗')} {self._agent(e.agent)} {what}: {e.error}")
        if e.usage.total:  # a provider bills what an attempt used before it failed
            u = e.usage
            self._line(self._c(
                "dim", f"{'':>{self._width}} └ {count(u.tokens_in)} in / {count(u.output_tokens)} out · {money(e.cost)} (failed attempt)",
            ))

    def _on_retry(self, e: Any) -> None:
        after = f", retry-after {e.retry_after_s:g}s" if e.retry_after_s else ""
        self._line(
            f"{self._at(e)} {self._c('yellow', '↻')} {self._agent(e.agent)} retrying "
            f"(attempt {e.attempt}) in {e.delay_s:.1f}s{after}"
        )

    def _on_escalation_requested(self, e: Any) -> None:
        if named := e.named():
            self._named[e.escalation_id] = named
        who = "asks you" if e.human else "escalates"
        self._line(
            f"{self._at(e)} {self._c('yellow', '?')} {self._agent(e.agent) or 'engine'} {who} "
            f"[{e.trigger}]: {e.reason} {self._c('dim', f'({e.rule})')}"
        )
        if e.timeout_s:
            self._line(self._c("dim", f"    decides {e.default} by itself after {e.timeout_s:g}s"))

    def _on_escalation_resolved(self, e: Any) -> None:
        style, mark = _DECISION_MARKS[e.action]
        reason = f": {e.reason}" if e.reason else ""
        label = self._named.pop(e.escalation_id, {}).get(e.option or "")
        word = f"“{label}”" if label else DECIDED[e.action]
        self._line(f"{self._at(e)} {self._c(style, f'{mark} {word}')} by {e.by} {self._c('dim', f'({e.rule})')}{reason}")

    def _on_budget_updated(self, e: Any) -> None:
        if e.reason == "extended":
            self._line(f"{self._at(e)} budget raised: {limits_text(e.limits.model_dump())}")

    def _on_handoff(self, e: Any) -> None:
        confidence = f" ({e.confidence:.0%})" if e.confidence is not None else ""
        self._line(
            f"{self._at(e)} ⇢ handoff {self._agent(e.from_agent)} → {self._agent(e.to_agent)} "
            f"[{e.contract}] {e.verdict}{confidence}" + (f": {e.error}" if e.error else "")
        )

    def _on_message(self, e: Any) -> None:
        to = self._agent(e.to_agent) if e.to_agent else "everyone"
        self._line(f"{self._at(e)} ✉ {self._agent(e.from_agent)} → {to}: {e.text}")

    def _on_pattern_note(self, e: Any) -> None:
        self._line(f"{self._at(e)} · {e.topic}: {e.text}")

    def _on_tool_call(self, e: Any) -> None:
        self._line(f"{self._at(e)} ⚙ {self._agent(e.agent)} {e.tool} {json.dumps(e.input)}")

    def _on_tool_result(self, e: Any) -> None:
        if e.is_error:
            self._line(f"{self._at(e)} {self._c('red', '✗')} {e.tool}: {preview(e.output, 200)}")
        else:
            self._line(f"{self._at(e)} ⚙ {e.tool} → {plural(len(e.output.splitlines()), 'line')}")

    def _on_error(self, e: Any) -> None:
        self._line(f"{self._at(e)} {self._c('red', '!')} {e.message}")

    def _on_session_finished(self, e: Any) -> None:
        said = outcome(e.status, e.failed_steps, e.skipped_steps)
        style = "red" if e.status != "completed" else "yellow" if said != e.status else "green"
        heading = f"result ({said}{', partial' if e.partial else ''})"
        self._line("")
        self._line(self._c(style, f"══ {heading} " + "═" * max(0, 60 - len(heading))))
        self._line(e.result)
        self._line("")
        u = e.usage
        self._line(self._c(
            "dim",
            f"{count(u.tokens_in)} tokens in / {count(u.output_tokens)} out · {money(e.cost)} · "
            f"{plural(e.calls, 'call')} · {plural(e.turns, 'turn')} · {clock(e.duration_s)}",
        ))
        self._line(self._c(style, said + (f": {e.reason}" if e.reason else "")))

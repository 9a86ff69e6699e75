"""The readable transcript of a session, as lines: what headless runs print live
and `huddle sessions show` prints afterwards.

Every event passes the gate (`tui.safe.safe`) as it is fed in, so nothing a model,
a tool or a team file wrote can reach the terminal as an escape sequence.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from engine.events import (
    CallDelta,
    CallFailed,
    CallFinished,
    CallStarted,
    EscalationRequested,
    EventBase,
    PlanMade,
    SessionFinished,
    SessionStarted,
    Usage,
)
from engine.formats import clock, cost_text, count, forked_text, limits_text, plural
from engine.narration import Line, narrate
from engine.state import SessionState
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


def use_colour(stream: object) -> bool:
    """Colour for a terminal, unless the user set NO_COLOR."""
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


_TONES = {"accent": "cyan", "success": "green", "warning": "yellow", "error": "red"}


class Transcript:
    """Turns events into printed lines; one instance per session. The story's lines are
    the narrator's (`engine.narration`), the same as the app's timeline; the transcript
    adds what it alone prints: the team, the plan's steps, the replies as they stream,
    each call's usage and the result."""

    def __init__(self, write: Callable[[str], object], *, colour: bool = False, seqs: bool = False) -> None:
        """`seqs`: each line of the story, and each reply, says the seq of its event (the
        moments `huddle fork --at SEQ` takes)."""
        self._write = write
        self._colour = colour
        self._seqs = seqs
        self.state = SessionState()
        self._buffers: dict[str, str] = {}
        self._colours: dict[str, str] = {}
        self._width = 10
        self._structured: set[str] = set()

    # -- formatting ---------------------------------------------------------

    def _c(self, style: str, text: str) -> str:
        return f"{_STYLES[style]}{text}{_RESET}" if self._colour else text

    def _agent(self, name: str | None) -> str:
        return self._c(self._colours.get(name, "bold"), name) if name else ""

    def _line(self, text: str) -> None:
        self._write(text + "\n")

    def _at(self, event: EventBase) -> str:
        return self._c("dim", f"+{clock(self.state.offset(event.ts))}{self._seq(event)}")

    def _seq(self, event: EventBase) -> str:
        return f" #{event.seq}" if self._seqs else ""

    def _say(self, event: EventBase, line: Line | None) -> None:
        """A line of the story: when, whose, the narrator's words."""
        if line is None:
            return
        icon = self._c(_TONES[line.tone], line.icon) if line.tone else line.icon
        who = f"{self._agent(line.agent)} " if line.agent else ""
        self._line(f"{self._at(event)} {icon} {who}{line.text}")

    # -- events ---------------------------------------------------------------

    def feed(self, event: EventBase) -> None:
        event = safe(event)
        self.state.apply(event)
        line = narrate(self.state, event)
        own = _OWN.get(type(event))
        if own is not None:
            own(self, event, line)
        else:
            self._say(event, line)

    def follow(self, events: list[EventBase]) -> None:
        """Fold in a session's recorded events, printing only its heading (the session, its
        task, team and provider): what a resumed run prints next goes on from them."""
        write = self._write
        try:
            for event in events:
                self._write = write if isinstance(event, SessionStarted) else _quiet
                self.feed(event)
        finally:
            self._write = write

    def _session_started(self, e: SessionStarted, line: Line | None) -> None:
        callers = [agent.name for agent in e.team.callers()]
        for index, name in enumerate(callers):
            self._colours[name] = _AGENT_COLOURS[index % len(_AGENT_COLOURS)]
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
        if e.forked_from is not None:
            self._line(self._c("dim", forked_text(e.forked_from)))
        self._line("")

    def _plan_made(self, e: PlanMade, line: Line | None) -> None:
        if line is None:  # a plan a resumed run tells again: told once already
            return
        self._say(e, line)
        for step in e.plan.get("steps", []):
            after = step.get("depends_on") or []
            after_text = self._c("dim", f"  (after {', '.join(map(str, after))})") if after else ""
            self._line(
                f"    {str(step.get('id', '?')):<4} {str(step.get('assigned_to', '?')):<{self._width}}  "
                f"{str(step.get('title', ''))}{after_text}"
            )

    def _call_started(self, e: CallStarted, line: Line | None) -> None:
        if e.structured:
            self._structured.add(e.call_key)
            self._line(f"{self._at(e)} {self._agent(e.agent)} is writing a structured reply…")
        self._buffers[e.call_key] = ""

    def _call_delta(self, e: CallDelta, line: Line | None) -> None:
        if e.call_key in self._structured:
            return
        buffer = self._buffers.get(e.call_key, "") + e.text
        *lines, rest = buffer.split("\n")
        for text in lines:
            self._stream_line(e.agent, text)
        self._buffers[e.call_key] = rest

    def _stream_line(self, agent: str | None, text: str) -> None:
        name = agent or ""
        prefix = self._c(self._colours.get(name, "bold"), f"{name:>{self._width}} │")
        self._line(f"{prefix} {text}")

    def _flush(self, e: CallFinished | CallFailed) -> None:
        rest = self._buffers.pop(e.call_key, "")
        if rest.strip():
            self._stream_line(e.agent, rest)

    def _used(self, event: EventBase, usage: Usage, cost: float | None, rest: str) -> None:
        """A call's usage, under its text."""
        self._line(self._c(
            "dim", f"{'':>{self._width}} └{self._seq(event)} {count(usage.tokens_in)} in / {count(usage.output_tokens)} out · {cost_text(cost)}{rest}",
        ))

    def _call_finished(self, e: CallFinished, line: Line | None) -> None:
        self._flush(e)
        self._structured.discard(e.call_key)
        self._used(e, e.usage, e.cost, f" · {e.latency_s:.1f}s · {e.model}" + (" (recorded)" if e.recorded else ""))

    def _call_failed(self, e: CallFailed, line: Line | None) -> None:
        self._flush(e)
        self._say(e, line)
        if e.usage.total:  # a provider bills what an attempt used before it failed
            self._used(e, e.usage, e.cost, " (cut off)" if e.error_type == "cancelled" else " (failed attempt)")

    def _escalation_requested(self, e: EscalationRequested, line: Line | None) -> None:
        self._say(e, line)
        if e.human:
            self._line(self._c("dim", f"    waits for a person ({e.rule})"))
        if e.timeout_s:
            self._line(self._c("dim", f"    decides {e.default} by itself after {e.timeout_s:g}s"))

    def _session_finished(self, e: SessionFinished, line: Line | None) -> None:
        state = self.state
        style = _TONES[line.tone] if line is not None and line.tone else "green"
        heading = f"result ({state.outcome}{', partial' if e.partial else ''})"
        self._line("")
        self._line(self._c(style, f"══ {heading} " + "═" * max(0, 60 - len(heading))))
        self._line(e.result)
        self._line("")
        totals = state.totals
        self._line(self._c(
            "dim",
            f"{count(totals.tokens_in)} tokens in / {count(totals.tokens_out)} out · {cost_text(totals.cost, totals.unpriced)} · "
            f"{plural(totals.calls, 'call')} · {plural(totals.turns, 'turn')} · {clock(state.duration_s)}",
        ))
        if line is not None:
            self._line(self._c(style, line.text))


def _quiet(text: str) -> None:
    """Where the lines of events already printed once go (`Transcript.follow`)."""


_OWN: dict[type[EventBase], Callable[[Transcript, Any, Line | None], None]] = {
    SessionStarted: Transcript._session_started,
    PlanMade: Transcript._plan_made,
    CallStarted: Transcript._call_started,
    CallDelta: Transcript._call_delta,
    CallFinished: Transcript._call_finished,
    CallFailed: Transcript._call_failed,
    EscalationRequested: Transcript._escalation_requested,
    SessionFinished: Transcript._session_finished,
}
"""Kinds the transcript prints more of than their line of the story (or instead of it)."""

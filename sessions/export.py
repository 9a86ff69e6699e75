"""Exports of a recorded session: Markdown for people, JSON (the events, lossless) for tools.

Both stream: they take the session's events as an async iterable (see
`SessionStore.iter_events` and `SessionStore.iter_event_json`) and hand text to
`write` as they go, so a session of any length exports in bounded memory
(Markdown keeps only finished replies).

In Markdown nothing a model or a user wrote is rendered as Markdown: replies,
the task and the result go in fenced blocks, shorter texts are escaped, so an
agent cannot put a link or a remote image into the document. The row and every
event pass through `gate` first (the caller's one gate for untrusted text,
`tui.safe.safe`), so the document is safe to print to a terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

from engine.events import (
    CallFailed,
    CallFinished,
    EscalationRequested,
    EscalationResolved,
    EventBase,
    ForkOrigin,
    PlanMade,
    SessionStarted,
    ToolResult,
)
from engine.formats import clock, cost_text, count, forked_text, plural, time_of_day, when
from engine.narration import Line, narrate
from engine.state import SessionState
from sessions.rows import SessionRow

Write = Callable[[str], object]
Gate = Callable[[Any], Any]
"""Returns a value (a row, an event) with every string in it made safe to show."""

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~])")
"""Enough to keep escaped text from forming emphasis, code, links, images, HTML or table cells."""
_NOT_ASCII = re.compile(r"[^\x00-\x7e]")


async def write_json(row: SessionRow, events: AsyncIterable[str], write: Write) -> None:
    """`{"session": row, "events": [...]}`: each event as the JSON text it is stored as,
    one per line. Characters outside printable ASCII are escaped, so the output is also
    safe to print to a terminal."""
    session = json.dumps(row.to_json(), indent=2).replace("\n", "\n  ")
    write('{\n  "session": ' + session + ',\n  "events": [')
    separator = "\n    "
    async for text in events:
        write(separator + ascii_json(text))
        separator = ",\n    "
    write("\n  ]\n}\n")


def ascii_json(text: str) -> str:
    """JSON text with every character outside printable ASCII (DEL and beyond) written as
    its escape: the same value, and nothing in it a terminal acts on (JSON itself escapes
    the controls below space). What `write_json` and `huddle run --json` print."""
    return _NOT_ASCII.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    """A character as a JSON escape (two, a surrogate pair, beyond the first plane).
    In JSON text, anything but ASCII can only be inside a string, where this is safe."""
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


async def write_markdown(
    row: SessionRow, events: AsyncIterable[EventBase], write: Write, *, gate: Gate
) -> None:
    """A readable account of the session: what was asked, planned, done, decided and delivered."""
    document = MarkdownExport(gate(row))
    async for event in events:
        document.feed(gate(event))
    write(document.render())


@dataclass(frozen=True)
class _Entry:
    """One entry under Work. A structured reply that became a plan is shown as a
    pointer to the Plan section instead of its JSON a second time."""

    text: str
    plan_span: str | None = None
    as_plan: str = ""


_SECTIONS: dict[str, str] = {
    "escalation.requested": "escalations", "escalation.resolved": "escalations",
    "call.failed": "problems", "retry": "problems", "error": "problems",
    "session.started": "", "session.finished": "", "plan.made": "", "step.started": "",
}
"""Where a kind's line of the story goes: its own section, nowhere ("": the document
tells it otherwise), or (every other kind) under Work."""


@dataclass
class MarkdownExport:
    """Folds a session's events into the sections of its Markdown document: the
    session state (`engine.state`) gives its numbers, the narrator its lines."""

    row: SessionRow
    state: SessionState = field(default_factory=SessionState)
    plans: list[str] = field(default_factory=list)
    plan_spans: set[str] = field(default_factory=set)
    work: list[_Entry] = field(default_factory=list)
    escalations: dict[str, list[str]] = field(default_factory=dict)
    """Each escalation's lines, its request then its decision, by escalation id."""
    problems: list[str] = field(default_factory=list)
    forked_from: ForkOrigin | None = None
    """Where the session was forked from, as its `session.started` says."""

    # -- text helpers -------------------------------------------------------------

    def inline(self, text: object) -> str:
        """Short untrusted text on one line, with Markdown's special characters escaped."""
        flat = " ".join(str(text).split())
        return _MARKDOWN_SPECIALS.sub(r"\\\1", flat)

    def block(self, text: str, language: str = "") -> str:
        """Untrusted text, verbatim, in a fence longer than any run of backticks in it."""
        body = text.rstrip("\n")
        longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}{language}\n{body}\n{fence}"

    def story(self, event: EventBase, line: Line) -> str:
        """A line of the story as a list item: when, whose, the narrator's words."""
        who = f"**{self.inline(line.agent)}** " if line.agent else ""
        return f"- {time_of_day(event.ts)} · {line.icon} {who}{self.inline(line.text)}"

    # -- events -------------------------------------------------------------------

    def feed(self, event: EventBase) -> None:
        self.state.apply(event)
        line = narrate(self.state, event)
        if isinstance(event, SessionStarted):
            self.forked_from = event.forked_from
        elif isinstance(event, PlanMade) and line is not None:  # not a plan a resumed run tells again
            self._plan(event)
        elif isinstance(event, CallFinished):
            self._reply(event)
        if line is None:
            return
        section = _SECTIONS.get(event.kind, "work")
        if section == "work":
            text = self.story(event, line)
            if isinstance(event, ToolResult) and event.output:  # what it gave, whole
                text += "\n\n" + "\n".join(f"  {part}" for part in self.block(event.output).splitlines())
            self.work.append(_Entry(text))
        elif section == "problems":
            used = ""
            if isinstance(event, CallFailed) and event.usage.total:  # a provider bills a failed attempt
                u = event.usage
                used = f" (used {count(u.tokens_in)} tokens in / {count(u.output_tokens)} out · {cost_text(event.cost)})"
            self.problems.append(self.story(event, line) + used)
        elif section == "escalations":
            self._escalation(event, line)

    def _plan(self, e: PlanMade) -> None:
        label = "Plan" if e.revision == 0 else f"Plan, revision {e.revision}"
        confidence = e.plan.get("confidence")
        extra = f" · confidence {confidence:.0%}" if isinstance(confidence, float) else ""
        lines = [f"### {label} (by {self.inline(e.agent or 'the lead')}, {time_of_day(e.ts)}){extra}", ""]
        for number, step in enumerate(e.plan.get("steps", []), start=1):
            after = step.get("depends_on") or []
            after_text = f" _(after {', '.join(self.inline(a) for a in after)})_" if after else ""
            lines.append(
                f"{number}. **{self.inline(step.get('id', '?'))}** · {self.inline(step.get('assigned_to', '?'))}: "
                f"{self.inline(step.get('title', ''))}{after_text}"
            )
            if step.get("instructions"):
                lines.append(f"   {self.inline(step['instructions'])}")
        self.plans.append("\n".join(lines))
        self.plan_spans.add(e.span_id)

    def _reply(self, e: CallFinished) -> None:
        seen = self.state.calls.get(e.call_key)
        step = self.state.steps.get(seen.step_id or "") if seen is not None else None
        if step is not None:
            what = f"step {self.inline(step.step_id)}: {self.inline(step.title)}"
        else:
            what = self.inline(seen.purpose if seen is not None else e.span_id)
        structured = e.structured is not None
        body = (
            self.block(json.dumps(e.structured, indent=2, ensure_ascii=False), "json")
            if structured
            else self.block(e.text, "markdown")
        )
        source = ", recorded reply" if e.recorded else ""
        footer = (
            f"_{time_of_day(e.ts)} · {self.inline(e.model)} · {count(e.usage.tokens_in)} tokens in / "
            f"{count(e.usage.output_tokens)} out · {cost_text(e.cost)} · {e.latency_s:.1f}s{source}_"
        )
        heading = f"### {self.inline(e.agent or '?')} · {what}"
        self.work.append(
            _Entry(
                f"{heading}\n\n{body}\n\n{footer}",
                plan_span=e.span_id if structured else None,
                as_plan=f"{heading}\n\nThe plan shown under Plan.\n\n{footer}",
            )
        )

    def _escalation(self, e: EventBase, line: Line) -> None:
        text = self.story(e, line)
        if isinstance(e, EscalationRequested):
            text += f" _({'asked a person' if e.human else 'settled by rule'})_"
        elif isinstance(e, EscalationResolved) and e.edited is not None:
            edited = self.block(json.dumps(e.edited, indent=2, ensure_ascii=False), "json")
            text = "  " + text + "\n\n" + "\n".join(f"    {part}" for part in edited.splitlines())
        else:
            text = "  " + text
        self.escalations.setdefault(getattr(e, "escalation_id"), []).append(text)

    # -- the document ---------------------------------------------------------------

    def _metadata(self) -> str:
        row = self.row
        rows = [
            ("Session", f"`{row.id}`"),
            ("Status", row.outcome + (" (partial result)" if row.partial else "")),
            ("Started", when(row.created_at, seconds=True)),
            ("Duration", clock(row.duration_s)),
            ("Pattern", self.inline(row.pattern)),
            ("Team", f"{self.inline(row.team)}: {', '.join(self.inline(a) for a in row.agents)}"),
            ("Provider", f"{self.inline(row.provider)}" + (f" (seed {row.seed})" if row.seed is not None else "")),
            ("Models", ", ".join(self.inline(m) for m in row.models)),
            ("Tokens", f"{count(row.tokens_in)} in / {count(row.tokens_out)} out"),
            ("Cost", cost_text(row.cost, row.unpriced)),
            ("Calls / turns", f"{count(row.calls)} / {count(row.turns)}"),
        ]
        if row.reason:
            rows.append(("Reason", self.inline(row.reason)))
        if self.forked_from is not None:
            rows.append(("Lineage", self.inline(forked_text(self.forked_from))))
        if row.resumes:
            rows.append(("Resumed", plural(row.resumes, "time")))
        return "| | |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)

    def _result(self) -> str:
        state = self.state
        if not state.finished:
            why = f": {self.inline(self.row.reason)}" if self.row.reason else ""
            return f"## Result\n\nNo result: the session is {self.row.status}{why}."
        heading = f"## Result ({state.outcome}{', partial' if state.partial else ''})"
        reason = f"\n\n{state.status.capitalize()}: {self.inline(state.reason)}" if state.reason else ""
        return f"{heading}\n\n{self.block(state.result or '', 'markdown')}{reason}"

    def _usage(self) -> str:
        lines = ["## Usage", "", "| Agent | Calls | Tokens in | Tokens out | Cost |", "|---|--:|--:|--:|--:|"]
        for agent in self.state.agents.values():
            if agent.calls or agent.tokens_in or agent.tokens_out:
                lines.append(
                    f"| {self.inline(agent.name)} | {count(agent.calls)} | {count(agent.tokens_in)} "
                    f"| {count(agent.tokens_out)} | {cost_text(agent.cost, agent.unpriced)} |"
                )
        totals = self.state.totals
        lines.append(
            f"| **total** | {count(totals.calls)} | {count(totals.tokens_in)} | {count(totals.tokens_out)} "
            f"| {cost_text(totals.cost, totals.unpriced)} |"
        )
        return "\n".join(lines)

    def render(self) -> str:
        sections = [
            f"# {self.inline(self.row.title)}",
            self._metadata(),
            "## Task\n\n" + self.block(self.row.task),
        ]
        if self.plans:
            sections.append("## Plan\n\n" + "\n\n".join(self.plans))
        if self.work:
            entries = [
                entry.as_plan if entry.plan_span in self.plan_spans else entry.text for entry in self.work
            ]
            sections.append("## Work\n\n" + "\n\n".join(entries))
        if self.escalations:
            lines = [line for escalation in self.escalations.values() for line in escalation]
            sections.append("## Escalations\n\n" + "\n".join(lines))
        if self.problems:
            sections.append("## Errors and retries\n\n" + "\n".join(self.problems))
        sections.append(self._result())
        sections.append(self._usage())
        return "\n\n".join(sections) + "\n"

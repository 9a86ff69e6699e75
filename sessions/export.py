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

from engine.events import DECIDED, EventBase
from engine.formats import clock, count, money, outcome, time_of_day, when
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
        write(separator + _NOT_ASCII.sub(_escape, text))
        separator = ",\n    "
    write("\n  ]\n}\n")


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


@dataclass
class _Spent:
    """One agent's calls, tokens and cost; tokens in as the live panel counts them."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class _Entry:
    """One entry under Work. A structured reply that became a plan is shown as a
    pointer to the Plan section instead of its JSON a second time."""

    text: str
    plan_span: str | None = None
    as_plan: str = ""


@dataclass
class MarkdownExport:
    """Folds a session's events into the sections of its Markdown document."""

    row: SessionRow
    plans: list[str] = field(default_factory=list)
    plan_spans: set[str] = field(default_factory=set)
    work: list[_Entry] = field(default_factory=list)
    escalations: dict[str, list[str]] = field(default_factory=dict)
    """Each escalation's lines, its request then its decision, by escalation id."""
    problems: list[str] = field(default_factory=list)
    usage: dict[str, _Spent] = field(default_factory=dict)
    finished: Any = None
    _named: dict[str, dict[str, str]] = field(default_factory=dict)
    """Each escalation's named choices, for how its decision reads."""
    _steps: dict[str, str] = field(default_factory=dict)
    _call_steps: dict[str, str] = field(default_factory=dict)

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

    # -- events -------------------------------------------------------------------

    def feed(self, event: EventBase) -> None:
        handler = getattr(self, "_on_" + event.kind.replace(".", "_"), None)
        if handler is not None:
            handler(event)

    def _on_plan_made(self, e: Any) -> None:
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

    def _on_step_started(self, e: Any) -> None:
        self._steps[e.step_id] = e.title

    def _on_step_finished(self, e: Any) -> None:
        if e.status != "done":
            self._note(f"- Step **{self.inline(e.step_id)}** {e.status}: {self.inline(e.error or '')}")

    def _on_call_started(self, e: Any) -> None:
        if e.step_id is not None:
            self._call_steps[e.call_key] = e.step_id

    def _on_call_finished(self, e: Any) -> None:
        tally = self.usage.setdefault(e.agent or "?", _Spent())
        tally.calls += 1
        tally.tokens_in += e.usage.tokens_in
        tally.tokens_out += e.usage.output_tokens
        tally.cost += e.cost
        step = self._call_steps.get(e.call_key)
        if step is not None:
            what = f"step {self.inline(step)}: {self.inline(self._steps.get(step, ''))}"
        else:
            what = self.inline(e.span_id.rsplit("/", 1)[-1])
        structured = e.structured is not None
        body = (
            self.block(json.dumps(e.structured, indent=2, ensure_ascii=False), "json")
            if structured
            else self.block(e.text, "markdown")
        )
        source = ", recorded reply" if e.recorded else ""
        footer = (
            f"_{time_of_day(e.ts)} · {self.inline(e.model)} · {count(e.usage.tokens_in)} tokens in / "
            f"{count(e.usage.output_tokens)} out · {money(e.cost)} · {e.latency_s:.1f}s{source}_"
        )
        heading = f"### {self.inline(e.agent or '?')} · {what}"
        self.work.append(
            _Entry(
                f"{heading}\n\n{body}\n\n{footer}",
                plan_span=e.span_id if structured else None,
                as_plan=f"{heading}\n\nThe plan shown under Plan.\n\n{footer}",
            )
        )

    def _note(self, line: str) -> None:
        self.work.append(_Entry(line))

    def _on_call_failed(self, e: Any) -> None:
        what = "call failed for good" if e.final else f"attempt {e.attempt} failed"
        used = ""
        if e.usage.total:
            tally = self.usage.setdefault(e.agent or "?", _Spent())
            tally.tokens_in += e.usage.tokens_in
            tally.tokens_out += e.usage.output_tokens
            tally.cost += e.cost
            used = f" (used {count(e.usage.tokens_in)} tokens in / {count(e.usage.output_tokens)} out · {money(e.cost)})"
        self.problems.append(
            f"- {time_of_day(e.ts)} · {self.inline(e.agent or '?')} {what} ({e.error_type}): {self.inline(e.error)}{used}"
        )

    def _on_retry(self, e: Any) -> None:
        after = f", retry-after {e.retry_after_s:g}s" if e.retry_after_s else ""
        self.problems.append(
            f"- {time_of_day(e.ts)} · {self.inline(e.agent or '?')} retried (attempt {e.attempt}) "
            f"after {e.delay_s:.1f}s{after}: {self.inline(e.reason)}"
        )

    def _on_error(self, e: Any) -> None:
        fatal = " (ended the session)" if e.fatal else ""
        self.problems.append(f"- {time_of_day(e.ts)} · {e.error_type}{fatal}: {self.inline(e.message)}")

    def _on_escalation_requested(self, e: Any) -> None:
        if named := e.named():
            self._named[e.escalation_id] = named
        asked = "asked a person" if e.human else "settled by rule"
        self.escalations.setdefault(e.escalation_id, []).append(
            f"- **{self.inline(e.trigger)}** from {self.inline(e.agent or 'the engine')} at {time_of_day(e.ts)}: "
            f"{self.inline(e.reason)} (rule: {self.inline(e.rule)}; {asked})"
        )

    def _on_escalation_resolved(self, e: Any) -> None:
        label = self._named.pop(e.escalation_id, {}).get(e.option or "")
        word = f"{self.inline(label)}** ({e.action})" if label else f"{DECIDED[e.action]}**"
        line = f"  - **{word} by {self.inline(e.by)} at {time_of_day(e.ts)} (rule: {self.inline(e.rule)})"
        if e.reason:
            line += f": {self.inline(e.reason)}"
        if e.edited is not None:
            edited = self.block(json.dumps(e.edited, indent=2, ensure_ascii=False), "json")
            line += "\n\n" + "\n".join(f"    {text}" for text in edited.splitlines())
        self.escalations.setdefault(e.escalation_id, []).append(line)

    def _on_handoff(self, e: Any) -> None:
        confidence = f", confidence {e.confidence:.0%}" if e.confidence is not None else ""
        error = f": {self.inline(e.error)}" if e.error else ""
        self._note(
            f"- Handoff {self.inline(e.from_agent)} → {self.inline(e.to_agent)} "
            f"[{self.inline(e.contract)}] {e.verdict}{confidence}{error}"
        )

    def _on_message(self, e: Any) -> None:
        to = self.inline(e.to_agent) if e.to_agent else "everyone"
        self._note(f"- Message {self.inline(e.from_agent)} → {to}: {self.inline(e.text)}")

    def _on_pattern_note(self, e: Any) -> None:
        self._note(f"- {self.inline(e.topic)}: {self.inline(e.text)}")

    def _on_tool_call(self, e: Any) -> None:
        self._note(
            f"- {self.inline(e.agent or '?')} calls {self.inline(e.tool)}: "
            f"{self.inline(json.dumps(e.input, ensure_ascii=False))}"
        )

    def _on_tool_result(self, e: Any) -> None:
        failed = " (error)" if e.is_error else ""
        self._note(f"- {self.inline(e.tool)} returned{failed}: {self.inline(e.output[:500])}")

    def _on_session_finished(self, e: Any) -> None:
        self.finished = e

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
            ("Cost", money(row.cost)),
            ("Calls / turns", f"{count(row.calls)} / {count(row.turns)}"),
        ]
        if row.reason:
            rows.append(("Reason", self.inline(row.reason)))
        return "| | |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)

    def _result(self) -> str:
        if self.finished is None:
            why = f": {self.inline(self.row.reason)}" if self.row.reason else ""
            return f"## Result\n\nNo result: the session is {self.row.status}{why}."
        e = self.finished
        said = outcome(e.status, e.failed_steps, e.skipped_steps)
        heading = f"## Result ({said}{', partial' if e.partial else ''})"
        reason = f"\n\n{e.status.capitalize()}: {self.inline(e.reason)}" if e.reason else ""
        return f"{heading}\n\n{self.block(e.result, 'markdown')}{reason}"

    def _usage(self) -> str:
        lines = ["## Usage", "", "| Agent | Calls | Tokens in | Tokens out | Cost |", "|---|--:|--:|--:|--:|"]
        for agent, tally in self.usage.items():
            lines.append(
                f"| {self.inline(agent)} | {count(tally.calls)} | {count(tally.tokens_in)} | {count(tally.tokens_out)} "
                f"| {money(tally.cost)} |"
            )
        row = self.row
        lines.append(
            f"| **total** | {count(row.calls)} | {count(row.tokens_in)} | {count(row.tokens_out)} | {money(row.cost)} |"
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

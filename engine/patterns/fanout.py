"""Parallel fan-out with synthesis: the work is split, done concurrently, then merged.

Two ways to split (`Options.mode`):
- chunks: the input is cut into independent parts, dealt round-robin to the
  workers. "auto" finds parts in the task itself: sections between `---` lines,
  else the items of a bulleted or numbered list, else paragraphs separated by
  blank lines. A first part ending in ":" (or the text around a list) is the
  instruction every part gets. More parts than `max_chunks` are grouped.
- perspectives: every worker gets the whole task, to look at from its own role.
  "auto" picks this when the task does not split into two or more parts.

At most `concurrency` parts run at once. A part whose call fails for good is an
error result, not a crash; the synthesiser (the lead, unless set) then gets
every finished output as data, is told which parts are missing, and writes one
integrated answer, not a concatenation. With no part finished the pattern stops.
In a member team, every worker and the synthesiser also get what the team's step
was handed (`ctx.inputs`), as data.

Pattern notes (`engine.notes`): a `FanoutNote` once at the start, a `ChunkNote` when a
part ends, a `SynthesisNote` before the merge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.agents import AgentSpec
from engine.context import RunContext, failure_message
from engine.dag import Outcome, run_dag
from engine.formats import preview
from engine.guards import PatternStopped
from engine.notes import ChunkNote, FanoutMode, FanoutNote, SynthesisNote
from engine.patterns.orchestrator import unfinished
from engine.trust import AgentOutput

NAME = "fanout"
TITLE = "Parallel fan-out"
SUMMARY = "The input is split into parts (or perspectives) done in parallel; a synthesiser merges the results."
USE_WHEN = "The input has independent parts, or you want several expert views of one question, fast."

Mode = FanoutMode


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    mode: Literal["auto", "chunks", "perspectives"] = "auto"
    """How to split: "chunks" of the input, "perspectives" on the whole task, or "auto"."""
    chunks: list[str] | None = Field(default=None, min_length=1, max_length=100)
    """The parts, given explicitly (chunks mode); None: found in the task."""
    concurrency: int = Field(default=3, ge=1, le=32)
    """At most this many parts at once."""
    max_chunks: int = Field(default=8, ge=1, le=64)
    """More parts than this are grouped, in order, into this many."""
    synthesizer: str | None = Field(default=None, min_length=1, max_length=32)
    """The agent who merges the results (None: the team's lead)."""

    @model_validator(mode="after")
    def _chunks_fit_mode(self) -> Options:
        if self.chunks is not None and self.mode == "perspectives":
            raise ValueError("chunks are given, but mode is perspectives")
        if self.chunks is not None and any(not chunk.strip() for chunk in self.chunks):
            raise ValueError("chunks must not be empty")
        return self


# -- splitting ------------------------------------------------------------------

_SEPARATOR = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$", re.MULTILINE)
_ITEM = re.compile(r"^ {0,3}(?:[-*+•]|\d{1,3}[.)])\s+(\S.*?)\s*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


def split_task(task: str) -> tuple[str, list[str]]:
    """The instruction every part shares ("" if none) and the task's independent parts.

    Parts are sections between `---` lines, else list items, else paragraphs; fewer
    than two parts means the task does not split.
    """
    text = task.strip()
    sections = [part.strip() for part in _SEPARATOR.split(text) if part.strip()]
    if len(sections) >= 2:
        return _with_header(sections)
    header, items = _list_items(text)
    if len(items) >= 2:
        return header, items
    return _with_header([part.strip() for part in _BLANK_LINES.split(text) if part.strip()])


def _with_header(parts: list[str]) -> tuple[str, list[str]]:
    """A first part ending in ":" introduces the rest: it is their shared instruction."""
    if len(parts) >= 2 and parts[0].endswith(":"):
        return parts[0], parts[1:]
    return "", parts


def _list_items(text: str) -> tuple[str, list[str]]:
    """The list's items (an indented line continues an item) and the text around the list."""
    around: list[str] = []
    items: list[str] = []
    for line in text.splitlines():
        match = _ITEM.match(line)
        if match:
            items.append(match.group(1))
        elif items and line[:1] in (" ", "\t") and line.strip():
            items[-1] += " " + line.strip()
        elif line.strip():
            around.append(line.strip())
    return "\n".join(around), items


def group(parts: list[str], most: int) -> list[str]:
    """At most `most` parts: consecutive parts joined, sizes differing by one at most."""
    if len(parts) <= most:
        return list(parts)
    size, extra = divmod(len(parts), most)
    grouped, start = [], 0
    for n in range(most):
        end = start + size + (1 if n < extra else 0)
        grouped.append("\n\n".join(parts[start:end]))
        start = end
    return grouped


# -- planning the parts ------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    index: int
    """1-based."""
    agent: str
    title: str
    prompt: str

    @property
    def id(self) -> str:
        """Its step id, local to the pattern's scope."""
        return f"c{self.index}"

    @property
    def depends_on(self) -> list[str]:
        return []  # parts are independent


def plan_chunks(task: str, options: Options, workers: list[AgentSpec]) -> tuple[Mode, list[Chunk]]:
    """The mode and the parts, each with its worker and prompt."""
    header, parts = ("", options.chunks) if options.chunks is not None else split_task(task)
    mode: Mode
    if options.chunks is not None or options.mode == "chunks":
        mode = "chunks"
    elif options.mode == "perspectives":
        mode = "perspectives"
    else:
        mode = "chunks" if len(parts) >= 2 else "perspectives"

    if mode == "perspectives":
        return mode, [
            Chunk(
                i, worker.name, f"{worker.role} perspective",
                f"Task: {task}\n\nLook at this task only from your perspective as the team's "
                f"{worker.skills()}. Other agents cover other perspectives at the same "
                "time and a synthesiser will merge them, so go deep on yours rather than covering everything.",
            )
            for i, worker in enumerate(workers, 1)
        ]

    parts = group(parts or [task.strip()], options.max_chunks)
    instruction = (
        f"Instructions for every part: {header}" if header
        else f"The task was split into {len(parts)} independent parts; do what your part asks."
    )
    chunks = []
    for i, part in enumerate(parts, 1):
        worker = workers[(i - 1) % len(workers)]
        prompt = (
            f"{instruction}\n\nYour part ({i} of {len(parts)}):\n{part}\n\n"
            "Work only on this part: other agents handle the other parts at the same time, "
            "and a synthesiser merges the results."
        )
        chunks.append(Chunk(i, worker.name, preview(part, 48), prompt))
    return mode, chunks


# -- running --------------------------------------------------------------------------


async def _note_chunk(ctx: RunContext, chunk: Chunk, of: int, error: str | None = None) -> None:
    status = "done" if error is None else "error"
    await ctx.emit(
        ChunkNote, agent=chunk.agent,
        text=f"{chunk.index}/{of} {chunk.agent}: {chunk.title}: " + (status if error is None else f"error: {error}"),
        index=chunk.index, of=of, title=chunk.title, status=status, error=error,
    )


async def run_chunks(ctx: RunContext, chunks: list[Chunk], concurrency: int) -> list[Outcome[Chunk]]:
    """Every part, at most `concurrency` at once: each one's output, or its error.

    Once a part ends the session (a budget stop, the breaker), no other part starts.
    """

    async def run_chunk(chunk: Chunk) -> str:
        chunk_ctx = ctx.span(f"chunk:{chunk.index}")
        async with chunk_ctx.step(chunk.agent, chunk.id, chunk.title) as step:
            step.output = await chunk_ctx.call(chunk.agent, chunk.prompt, context=ctx.inputs, step_id=step.id)
            ctx.record_partial(f"part {chunk.index} · {chunk.agent}: {chunk.title}", step.output)
        await _note_chunk(chunk_ctx, chunk, len(chunks))
        return step.output

    async def on_failure(chunk: Chunk, error: BaseException) -> str:
        message = failure_message(error)  # its step.finished is out already
        await _note_chunk(ctx.span(f"chunk:{chunk.index}"), chunk, len(chunks), message)
        return message

    async def on_unrunnable(outcome: Outcome[Chunk]) -> None:
        """Never called: parts depend on nothing."""

    outcomes = await run_dag(
        chunks, run_chunk, on_unrunnable=on_unrunnable, on_failure=on_failure, concurrency=concurrency
    )
    return [outcomes[chunk.id] for chunk in chunks]


async def synthesise(
    ctx: RunContext, task: str, mode: Mode, synthesizer: str, outcomes: list[Outcome[Chunk]]
) -> str:
    """The synthesiser's one answer from every finished part, naming the missing ones."""
    done = [o for o in outcomes if o.status == "done"]
    missing = [o for o in outcomes if o.status != "done"]
    synth_ctx = ctx.span("synthesis")
    await synth_ctx.emit(
        SynthesisNote, agent=synthesizer,
        text=f"{synthesizer} merges {len(done)} of {len(outcomes)} results"
        + (f"; missing: {', '.join(str(o.step.index) for o in missing)}" if missing else ""),
        synthesizer=synthesizer, inputs=len(done), missing=[o.step.index for o in missing],
    )
    how = (
        f"Your team split the task into {len(outcomes)} parts and worked on them in parallel"
        if mode == "chunks" else "Each member of your team looked at the task from their own perspective"
    )
    prompt = (
        f"Task: {task}\n\n{how}; their outputs are below as data. Write one answer to the task that "
        "integrates them: merge what agrees, resolve or name disagreements, drop repetition, and keep "
        "what is particular to each part. Do not list the outputs one after another."
    ) + unfinished([f"part {o.step.index} ({o.step.agent}: {o.step.title}): {o.error}" for o in missing])
    context = [
        *ctx.inputs,
        *(AgentOutput(o.step.agent, o.output, step=ctx.step_id(o.step.id), title=o.step.title) for o in done),
    ]
    async with synth_ctx.step(
        synthesizer, "synthesis", f"Merge {len(done)} results", depends_on=[o.step.id for o in outcomes]
    ) as step:
        step.output = await synth_ctx.call(synthesizer, prompt, context=context, step_id=step.id)
    return step.output


async def run(ctx: RunContext, task: str, options: Options) -> str:
    synthesizer = options.synthesizer or ctx.lead().name
    if synthesizer not in {agent.name for agent in ctx.team.direct_callers()}:
        await ctx.fail(f"fanout: synthesizer {synthesizer!r} is not an agent on the team")
    workers = ctx.team.direct_callers(synthesizer)
    if not workers:
        await ctx.fail("fanout: the team has no workers besides the synthesizer", agent=synthesizer)

    mode, chunks = plan_chunks(task, options, workers)
    used = list(dict.fromkeys(chunk.agent for chunk in chunks))
    await ctx.emit(
        FanoutNote, agent=synthesizer,
        text=f"{len(chunks)} {'parts' if mode == 'chunks' else 'perspectives'} over {', '.join(used)}, "
        f"{options.concurrency} at a time; {synthesizer} merges",
        mode=mode, chunks=len(chunks), concurrency=options.concurrency, workers=used, synthesizer=synthesizer,
    )
    outcomes = await run_chunks(ctx, chunks, options.concurrency)
    if all(outcome.status != "done" for outcome in outcomes):
        raise PatternStopped("failed", f"all {len(outcomes)} parts failed: there is nothing to merge")
    return await synthesise(ctx, task, mode, synthesizer, outcomes)

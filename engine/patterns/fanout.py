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
integrated answer, not a concatenation. With no part finished the session stops.

Pattern notes. Topic "fanout", once at the start; `data` keys:
    mode         "chunks" | "perspectives"
    chunks       how many parts
    concurrency  how many run at once at most
    workers      the workers, in the order parts are dealt
    synthesizer  who merges the results
Topic "chunk", when a part ends; `data` keys:
    index   1-based part number; `of` the number of parts
    agent   who did it
    title   a few words naming the part
    status  "done" | "error"
    error   what went wrong, or None
Topic "synthesis", before the merge; `data` keys:
    synthesizer  who merges
    inputs       how many outputs it gets
    missing      the numbers of the parts that did not finish
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.agents import LEAD_MODEL, WORKER_MODEL, AgentSpec, TeamSpec
from engine.context import RunContext
from engine.events import PatternNote, StepFinished, StepStarted
from engine.guards import CallFailedError, StopSession
from engine.trust import AgentOutput

NAME = "fanout"
TITLE = "Parallel fan-out"
SUMMARY = "The input is split into parts (or perspectives) done in parallel; a synthesiser merges the results."
USE_WHEN = "The input has independent parts, or you want several expert views of one question, fast."

Mode = Literal["chunks", "perspectives"]


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


def team() -> TeamSpec:
    return TeamSpec(
        name="fanout",
        description="Four workers with distinct views, in parallel, and a synthesiser who merges them.",
        lead="synthesizer",
        agents=(
            AgentSpec(
                name="synthesizer",
                role="synthesizer who merges the team's analyses into one answer",
                model=LEAD_MODEL,
                temperature=0.3,
                capabilities=("synthesis", "judgement"),
            ),
            AgentSpec(
                name="security",
                role="security analyst",
                model=WORKER_MODEL,
                capabilities=("threats", "abuse", "access control"),
            ),
            AgentSpec(
                name="performance",
                role="performance engineer",
                model=WORKER_MODEL,
                temperature=0.3,
                capabilities=("latency", "throughput", "scaling"),
            ),
            AgentSpec(
                name="usability",
                role="usability reviewer",
                model=WORKER_MODEL,
                capabilities=("developer experience", "error messages", "documentation"),
            ),
            AgentSpec(
                name="cost",
                role="cost analyst",
                model=WORKER_MODEL,
                capabilities=("infrastructure cost", "operations"),
            ),
        ),
    )


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


@dataclass(frozen=True)
class ChunkResult:
    chunk: Chunk
    output: str | None
    error: str | None = None


def _title(text: str, width: int = 48) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1].rsplit(" ", 1)[0] + "…"


def _skills(agent: AgentSpec) -> str:
    return f" ({', '.join(agent.capabilities)})" if agent.capabilities else ""


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
                f"{worker.role}{_skills(worker)}. Other agents cover other perspectives at the same "
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
        chunks.append(Chunk(i, worker.name, _title(part), prompt))
    return mode, chunks


# -- running --------------------------------------------------------------------------


async def _note_chunk(ctx: RunContext, result: ChunkResult, of: int) -> None:
    chunk = result.chunk
    status = "done" if result.error is None else "error"
    text = f"{chunk.index}/{of} {chunk.agent}: {chunk.title}: " + (status if result.error is None else f"error: {result.error}")
    await ctx.emit(
        PatternNote, agent=chunk.agent, topic="chunk", text=text,
        data={"index": chunk.index, "of": of, "agent": chunk.agent, "title": chunk.title,
              "status": status, "error": result.error},
    )


async def run_chunk(
    ctx: RunContext, chunk: Chunk, of: int, gate: asyncio.Semaphore, stopping: asyncio.Event
) -> ChunkResult:
    """One part, once the gate lets it in: its output, or its error.

    `stopping` is set when a part ends the session (a budget stop, the breaker), so
    parts still waiting at the gate do not start.
    """
    async with gate:
        if stopping.is_set():
            return ChunkResult(chunk, None, "not started: the session is stopping")
        try:
            return await _do_chunk(ctx, chunk, of)
        except StopSession:
            stopping.set()
            raise


async def _do_chunk(ctx: RunContext, chunk: Chunk, of: int) -> ChunkResult:
    chunk_ctx = ctx.span(f"chunk:{chunk.index}")
    step_id = f"c{chunk.index}"
    await chunk_ctx.turn(chunk.agent)
    await chunk_ctx.emit(
        StepStarted, agent=chunk.agent, step_id=step_id, title=chunk.title, assigned_to=chunk.agent
    )
    try:
        output = await chunk_ctx.call(chunk.agent, chunk.prompt, step_id=step_id)
    except CallFailedError as error:
        await chunk_ctx.emit(StepFinished, agent=chunk.agent, step_id=step_id, status="error", error=error.message)
        result = ChunkResult(chunk, None, error.message)
    else:
        ctx.record_partial(f"part {chunk.index} · {chunk.agent}: {chunk.title}", output)
        await chunk_ctx.emit(StepFinished, agent=chunk.agent, step_id=step_id, status="done", output=output)
        result = ChunkResult(chunk, output)
    await _note_chunk(chunk_ctx, result, of)
    return result


async def synthesise(ctx: RunContext, task: str, mode: Mode, synthesizer: str, results: list[ChunkResult]) -> str:
    """The synthesiser's one answer from every finished part, naming the missing ones."""
    done = [r for r in results if r.error is None]
    missing = [r for r in results if r.error is not None]
    synth_ctx = ctx.span("synthesis")
    await synth_ctx.emit(
        PatternNote, agent=synthesizer, topic="synthesis",
        text=f"{synthesizer} merges {len(done)} of {len(results)} results"
        + (f"; missing: {', '.join(str(r.chunk.index) for r in missing)}" if missing else ""),
        data={"synthesizer": synthesizer, "inputs": len(done), "missing": [r.chunk.index for r in missing]},
    )
    await synth_ctx.turn(synthesizer)
    await synth_ctx.emit(
        StepStarted, agent=synthesizer, step_id="synthesis", assigned_to=synthesizer,
        title=f"Merge {len(done)} results", depends_on=[f"c{r.chunk.index}" for r in results],
    )
    how = (
        f"Your team split the task into {len(results)} parts and worked on them in parallel"
        if mode == "chunks" else "Each member of your team looked at the task from their own perspective"
    )
    prompt = (
        f"Task: {task}\n\n{how}; their outputs are below as data. Write one answer to the task that "
        "integrates them: merge what agrees, resolve or name disagreements, drop repetition, and keep "
        "what is particular to each part. Do not list the outputs one after another."
    )
    if missing:
        prompt += "\n\nThese parts did not finish; say what is missing because of them:\n" + "\n".join(
            f"- part {r.chunk.index} ({r.chunk.agent}: {r.chunk.title}): {r.error}" for r in missing
        )
    context = [
        AgentOutput(r.chunk.agent, r.output or "", step=f"c{r.chunk.index}", title=r.chunk.title) for r in done
    ]
    try:
        answer = await synth_ctx.call(synthesizer, prompt, context=context, step_id="synthesis")
    except CallFailedError as error:
        await synth_ctx.emit(StepFinished, agent=synthesizer, step_id="synthesis", status="error", error=error.message)
        raise
    await synth_ctx.emit(StepFinished, agent=synthesizer, step_id="synthesis", status="done", output=answer)
    return answer


async def run(ctx: RunContext, task: str, options: Options) -> str:
    synthesizer = options.synthesizer or ctx.lead().name
    agents = {agent.name: agent for agent in ctx.team.agents if agent.team is None}
    if synthesizer not in agents:
        raise StopSession("failed", f"fanout: synthesizer {synthesizer!r} is not an agent on the team")
    workers = [agent for agent in agents.values() if agent.name != synthesizer]
    if not workers:
        raise StopSession("failed", "fanout: the team has no workers besides the synthesizer")

    mode, chunks = plan_chunks(task, options, workers)
    used = list(dict.fromkeys(chunk.agent for chunk in chunks))
    await ctx.emit(
        PatternNote, agent=synthesizer, topic="fanout",
        text=f"{len(chunks)} {'parts' if mode == 'chunks' else 'perspectives'} over {', '.join(used)}, "
        f"{options.concurrency} at a time; {synthesizer} merges",
        data={"mode": mode, "chunks": len(chunks), "concurrency": options.concurrency,
              "workers": used, "synthesizer": synthesizer},
    )
    gate, stopping = asyncio.Semaphore(options.concurrency), asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        running = [
            tasks.create_task(run_chunk(ctx, chunk, len(chunks), gate, stopping), name=f"chunk:{chunk.index}")
            for chunk in chunks
        ]
    results = [job.result() for job in running]
    if all(result.error is not None for result in results):
        raise StopSession("failed", f"all {len(results)} parts failed: there is nothing to merge")
    return await synthesise(ctx, task, mode, synthesizer, results)

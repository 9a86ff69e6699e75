"""Blackboard: agents contribute to a shared workspace of keys when what they need is there.

The board starts with one key, "problem", written from the task. Each contributor is
declared with the keys it `requires`, the key it `writes` and a `priority`. The run
goes in cycles. In each cycle every contributor that is ready runs, concurrently, each
in its own span, reading its required keys as data; when all have replied, their
values are written. A contributor is ready when every key it requires is on the board
and it has not yet run on these versions of them: it runs once, and again only if a
key it reads is rewritten (a contributor whose call failed waits the same way).

Two or more writes to one key in the same cycle are a conflict, resolved by
`on_conflict`: "priority" (the highest priority wins, ties by name; the losers are
noted), "merge" (the merger, by default the team's lead, merges the values with a
call; if that fails, priority decides) or "escalate" (trigger "conflict": approve takes
the highest priority's value, edit writes the person's {"value": "..."}, reject keeps
the previous value, or leaves the key unwritten). A write to a key written in an
earlier cycle is a new version, not a conflict.

The run ends when the goal key is written (its value is the result). It stops with a
partial result (the board's keys) when a cycle finds nobody ready (a stall) or after
`max_cycles` (in a member team, that fails only its step); budgets and the breaker
stop it the same way.

Pattern notes (`engine.notes`): a `WriteNote` for each value written, a `ConflictNote`
for several writes to one key in one cycle (and how they were settled), a `BoardNote`
with the board after each cycle, a `StallNote` when nobody can run, and a
`BoardStopNote` at the cycle limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.agents import TeamSpec
from engine.context import RunContext
from engine.approvals import Decision
from engine.events import Choice, DecisionAction
from engine.formats import preview
from engine.guards import CallFailedError, PatternStopped
from engine.notes import BoardNote, BoardStopNote, ConflictNote, Resolution, StallNote, WriteNote
from engine.patterns.attempts import Way, decide
from engine.trust import AgentOutput

NAME = "blackboard"
TITLE = "Blackboard"
SUMMARY = (
    "Agents read and write a shared board of keys, each when its inputs are there; "
    "clashing writes are resolved by priority, merge or a person."
)
USE_WHEN = "The work is a set of contributions that build on each other in an order nobody needs to script."

PROBLEM = "problem"
"""The key the pattern writes from the task before anyone runs."""
USER = "user"
"""The writer of the problem key, and of a value a person wrote in an escalation."""


class Contributor(BaseModel):
    """What one agent reads from the board and writes to it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    requires: list[str] = Field(default_factory=lambda: [PROBLEM])
    """Keys that must be on the board before it can contribute."""
    writes: str = Field(min_length=1, max_length=64)
    """The key its reply is written to."""
    priority: int = Field(default=0, ge=0, le=100)
    """Who wins a conflict under the priority rule (higher wins; ties by name)."""


def preset_contributors() -> dict[str, Contributor]:
    """The preset team's plan: facts, then two sets of options at once, risks, a recommendation."""
    return {
        "researcher": Contributor(requires=[PROBLEM], writes="facts", priority=1),
        "analyst": Contributor(requires=["facts"], writes="options", priority=2),
        "engineer": Contributor(requires=["facts"], writes="options", priority=3),
        "critic": Contributor(requires=["options"], writes="risks", priority=2),
        "lead": Contributor(requires=["options", "risks"], writes="recommendation", priority=5),
    }


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    contributors: dict[str, Contributor] | None = None
    """Agent -> {requires, writes, priority}. None: the preset's plan when the team has its
    agents; on another team, every agent but the lead reads the problem and writes a key
    named after itself, and the lead (or the last agent) writes the goal from all of them."""
    goal: str = Field(default="recommendation", min_length=1, max_length=64)
    """The key whose value is the result; the run ends when it is written."""
    on_conflict: Literal["priority", "merge", "escalate"] = "merge"
    """How concurrent writes to one key are resolved."""
    merger: str | None = None
    """Who merges conflicting values (None: the team's lead, or its first agent)."""
    max_cycles: int = Field(default=8, ge=1, le=50)
    """The run stops with a partial result after this many cycles."""

    @field_validator("goal")
    @classmethod
    def _goal_not_problem(cls, value: str) -> str:
        if value == PROBLEM:
            raise ValueError(f"the goal cannot be {PROBLEM!r}: the task writes it")
        return value


@dataclass(frozen=True)
class Entry:
    """One value on the board."""

    value: str
    writer: str
    ts: float
    version: int


@dataclass
class Blackboard:
    """The shared workspace: each key's latest entry (every write is a "write" note)."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def write(self, key: str, value: str, writer: str, ts: float) -> Entry:
        previous = self.entries.get(key)
        entry = Entry(value, writer, ts, previous.version + 1 if previous else 1)
        self.entries[key] = entry
        return entry

    def version(self, key: str) -> int:
        entry = self.entries.get(key)
        return entry.version if entry else 0

    def keys(self) -> dict[str, dict[str, Any]]:
        return {k: {"writer": e.writer, "version": e.version, "ts": e.ts} for k, e in self.entries.items()}


@dataclass(frozen=True)
class Proposal:
    """A value a contributor wants to write, from this cycle."""

    writer: str
    value: str
    priority: int
    ts: float


def default_contributors(team: TeamSpec, names: list[str], goal: str) -> dict[str, Contributor]:
    """The contributors when none are given (see `Options.contributors`); `names` are
    the team's agents that call a model."""
    preset = preset_contributors()
    if set(preset) <= set(names) and goal == "recommendation":
        return preset
    closer = team.lead if team.lead in names else names[-1]
    others = [name for name in names if name != closer]
    plan = {name: Contributor(requires=[PROBLEM], writes=name, priority=1) for name in others}
    plan[closer] = Contributor(requires=others or [PROBLEM], writes=goal, priority=5)
    return plan


def plan_problem(callers: list[str], contributors: dict[str, Contributor], goal: str, merger: str | None) -> str | None:
    """Why the contributors cannot run on a team whose agents that call a model are `callers`, or None."""
    unknown = sorted(set(contributors) - set(callers))
    if unknown:
        return f"contributors not on the team: {', '.join(unknown)} (team: {', '.join(sorted(callers))})"
    if PROBLEM in {c.writes for c in contributors.values()}:
        return f"no contributor may write {PROBLEM!r}: the task writes it"
    if goal not in {c.writes for c in contributors.values()}:
        return f"no contributor writes the goal key {goal!r}"
    if merger is not None and merger not in callers:
        return f"merger {merger!r} is not on the team"
    return None


@dataclass
class BoardRun:
    """One blackboard session: the board, who has run on what, and the rules."""

    ctx: RunContext
    task: str
    options: Options
    contributors: dict[str, Contributor]
    merger: str
    board: Blackboard = field(default_factory=Blackboard)
    seen: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """The versions of its required keys each contributor last ran on."""
    failed: dict[str, str] = field(default_factory=dict)
    """Contributors whose last call failed, with why."""

    def ready(self) -> list[str]:
        ready = []
        for agent, plan in self.contributors.items():
            if not all(key in self.board.entries for key in plan.requires):
                continue
            if self.seen.get(agent) != tuple(self.board.version(key) for key in plan.requires):
                ready.append(agent)
        return ready

    async def write(self, ctx: RunContext, key: str, value: str, writer: str, ts: float, cycle: int, conflict: bool) -> None:
        entry = self.board.write(key, value, writer, ts)
        await ctx.emit(
            WriteNote, agent=writer if writer != USER else None,
            text=f"{writer} wrote {key} (v{entry.version})" + (", settling a conflict" if conflict else ""),
            key=key, writer=writer, version=entry.version, value_ts=ts, preview=preview(value), conflict=conflict,
            cycle=cycle,
        )

    async def contribute(self, cycle: int, agent: str) -> Proposal | None:
        """One contributor's value for its key, or None when its call failed."""
        plan = self.contributors[agent]
        ctx = self.ctx.span(f"cycle:{cycle}/{agent}")
        rewrite = agent in self.seen
        self.seen[agent] = tuple(self.board.version(key) for key in plan.requires)
        inputs = [key for key in plan.requires if key != PROBLEM]
        prompt = (
            f"Task: {self.task}\n\nWrite `{plan.writes}` for the team's shared blackboard"
            + (f", from what it holds under {', '.join(inputs)} (below)" if inputs else "")
            + ". Reply with the value only: it goes on the board under that key for the others to build on."
        )
        if rewrite:
            prompt += " You wrote it before; what you read has changed since, so write it again."
        context = [
            AgentOutput(self.board.entries[key].writer, self.board.entries[key].value, title=key) for key in inputs
        ]
        if PROBLEM in plan.requires:
            context = [*ctx.inputs, *context]
        try:
            async with ctx.step(agent, f"c{cycle}:{agent}", f"write {plan.writes}") as step:
                step.output = await ctx.call(agent, prompt, context=context, step_id=step.id)
        except CallFailedError as error:
            self.failed[agent] = error.message
            return None
        self.failed.pop(agent, None)
        return Proposal(agent, step.output, plan.priority, self.ctx.run.clock())

    async def settle(self, cycle: int, key: str, proposals: list[Proposal]) -> None:
        """Write one key's proposals from this cycle: one is a write, several a conflict
        (noted with its resolution, then the winning value written, if any)."""
        ctx = self.ctx.span(f"cycle:{cycle}/key:{key}")
        if len(proposals) == 1:
            only = proposals[0]
            await self.write(ctx, key, only.value, only.writer, only.ts, cycle, conflict=False)
            return
        ranked = sorted(proposals, key=lambda p: (-p.priority, p.writer))
        writers = [p.writer for p in proposals]
        rule = self.options.on_conflict
        chosen: Proposal | None
        decision: DecisionAction | None = None
        merge_failed = False
        resolution: Resolution
        if rule == "escalate":
            chosen, outcome, decision = await self.escalate(ctx, key, ranked, writers)
            resolution = "escalation"
        else:
            merged = await self.merge(ctx, cycle, key, proposals) if rule == "merge" else None
            if merged is not None:
                chosen = Proposal(self.merger, merged, 0, self.ctx.run.clock())
                outcome, resolution = f"{self.merger} merged them", "merge"
            else:  # the priority rule, or what a failed merge falls back to (it needs no call)
                chosen = ranked[0]
                outcome, resolution = f"{chosen.writer} wins on priority {chosen.priority}", "priority"
                if rule == "merge":
                    merge_failed = True
                    outcome += " (the merge failed)"
        winner = chosen.writer if chosen is not None else None
        await ctx.emit(
            ConflictNote, text=f"conflict on {key} ({', '.join(writers)}): {outcome}", key=key, writers=writers,
            decision=decision, merge_failed=merge_failed, resolution=resolution, winner=winner,
            losers=[] if resolution == "merge" else [w for w in writers if w != winner],
        )
        if chosen is not None:
            await self.write(ctx, key, chosen.value, chosen.writer, chosen.ts, cycle, conflict=True)

    async def merge(self, ctx: RunContext, cycle: int, key: str, proposals: list[Proposal]) -> str | None:
        """The merger's value for `key` from the proposals, or None when its call failed."""
        prompt = (
            f"Task: {self.task}\n\nMerge `{key}`: {' and '.join(p.writer for p in proposals)} wrote it to the "
            "shared blackboard at the same time. Combine their values (below) into one that keeps what "
            "each got right and settles where they disagree. Reply with the merged value only."
        )
        context = [AgentOutput(p.writer, p.value, title=key) for p in proposals]
        try:
            async with ctx.step(self.merger, f"c{cycle}:merge:{key}", f"merge {key}") as step:
                step.output = await ctx.call(self.merger, prompt, context=context, step_id=step.id)
        except CallFailedError:
            return None
        return step.output

    async def escalate(
        self, ctx: RunContext, key: str, ranked: list[Proposal], writers: list[str]
    ) -> tuple[Proposal | None, str, DecisionAction]:
        """Ask (or let the policy decide) which value `key` gets: the proposal to write
        (None to keep what is there), what happened, and the decision's action."""
        top = ranked[0]
        previous = self.board.entries.get(key)
        keep = f"Keep {key} v{previous.version} by {previous.writer}" if previous else f"Leave {key} unwritten"

        def validate(edited: Any) -> dict[str, str]:
            value = edited.get("value") if isinstance(edited, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise ValueError('edit must be {"value": "..."} with the text to write')
            return {"value": value}

        async def take(decision: Decision) -> tuple[Proposal | None, str, DecisionAction]:
            return top, f"approved: {top.writer}'s value", "approve"

        async def written(decision: Decision) -> tuple[Proposal | None, str, DecisionAction]:
            return Proposal(USER, decision.edited["value"], 0, self.ctx.run.clock()), "a person wrote the value", "edit"

        async def kept(decision: Decision) -> tuple[Proposal | None, str, DecisionAction]:
            return None, keep[:1].lower() + keep[1:], "reject"

        return await decide(
            ctx, "conflict",
            f"{', '.join(writers)} wrote {key} at the same time",
            {"key": key, "writes": [{"writer": p.writer, "priority": p.priority, "value": p.value} for p in ranked]},
            agent=top.writer,
            validate=validate,
            ways=(
                Way(Choice(id="take", label=f"Take {top.writer}'s (priority {top.priority})", action="approve"), take),
                Way(Choice(
                    id="write", label="Write my own value", action="edit", input="text", field="value",
                    prompt=f"the value to write to {key}", required=True,
                ), written),
                Way(Choice(id="keep", label=keep, action="reject"), kept),
            ),
        )

    async def stall(self, cycle: int) -> str:
        """Note a stall and say what it waits for."""
        waiting = {
            agent: missing
            for agent, plan in self.contributors.items()
            if (missing := [key for key in plan.requires if key not in self.board.entries])
        }
        missing = sorted({key for keys in waiting.values() for key in keys} | ({self.options.goal} - set(self.board.entries)))
        failed = dict(self.failed)
        parts = [f"{agent} needs {', '.join(keys)}" for agent, keys in waiting.items()]
        parts += [f"{agent} failed" for agent in failed]
        reason = f"nobody can write {', '.join(missing)}" + (f" ({'; '.join(parts)})" if parts else "")
        await self.ctx.emit(
            StallNote, text=f"blackboard stalled in cycle {cycle}: {reason}",
            cycle=cycle, missing=missing, waiting=waiting, failed=failed,
        )
        return reason

    def record_board(self) -> None:
        for key, entry in self.board.entries.items():
            if key != PROBLEM:
                self.ctx.record_partial(f"{key} (v{entry.version}, by {entry.writer})", entry.value)

    async def cycles(self) -> str:
        """Run cycles until the goal is written (its value); `PatternStopped` when the board cannot go on."""
        goal = self.options.goal
        for cycle in range(1, self.options.max_cycles + 1):
            ready = self.ready()
            if not ready:
                raise PatternStopped("stopped", f"blackboard stalled: {await self.stall(cycle)}")
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.contribute(cycle, agent)) for agent in ready]
            by_key: dict[str, list[Proposal]] = {}
            for task in tasks:
                proposal = task.result()
                if proposal is not None:
                    by_key.setdefault(self.contributors[proposal.writer].writes, []).append(proposal)
            for key, proposals in by_key.items():
                await self.settle(cycle, key, proposals)
            await self.ctx.emit(
                BoardNote, text=f"after cycle {cycle}: {', '.join(self.board.entries)}",
                cycle=cycle, keys=self.board.keys(),
            )
            if goal in self.board.entries:
                return self.board.entries[goal].value
        cycles = self.options.max_cycles
        await self.ctx.emit(
            BoardStopNote, text=f"{cycles} cycles and no {goal} yet: stopping",
            reason="max_cycles", cycles=cycles, goal=goal,
        )
        raise PatternStopped("stopped", f"blackboard reached max_cycles ({cycles}) without {goal}")


async def run(ctx: RunContext, task: str, options: Options) -> str:
    callers = [agent.name for agent in ctx.team.direct_callers()]
    if not callers:
        await ctx.fail(f"a blackboard needs agents that call a model; team {ctx.team.name} has only member teams")
    contributors = options.contributors or default_contributors(ctx.team, callers, options.goal)
    problem = plan_problem(callers, contributors, options.goal, options.merger)
    if problem is not None:
        await ctx.fail(problem)
    board = BoardRun(
        ctx=ctx, task=task, options=options, contributors=contributors, merger=options.merger or ctx.lead().name,
    )
    await board.write(ctx, PROBLEM, task, USER, ctx.run.clock(), cycle=0, conflict=False)
    try:
        return await board.cycles()
    except BaseException:  # a stall, the cycle limit, a budget stop...: the board is the partial result
        board.record_board()
        raise

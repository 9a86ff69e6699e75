"""Hierarchical teams: a lead plans over its direct members, some of which are whole
teams; a member team runs its own pattern on the step it is given, nested.

Built on the orchestrator: the lead's plan (`make_plan`, with its plan escalation),
the dependency-ordered steps (`run_plan`) and the final synthesis are the same; what
differs is the step. A step for an individual member is one call. A step for a member
team runs that team's pattern (default orchestrator) in a child context
(`ctx.with_team`), so its spans nest under the step ("root/step:s2/team:engineering/
plan"), its lead makes and escalates its own plan, its steps get ids scoped by the
step above ("s2/engineering/s1"), and the results the step depends on reach it as data
(`ctx.inputs`). Budgets, the breaker and the approval policy are the session's, shared
by every level. A member team that fails (its plan rejected every time, a call that
failed for good, a bug) is an error result for its step; a budget stop or an open
breaker anywhere stops the whole session with a partial result.

Before any call the member teams are checked: each one's pattern must be available and
no team may nest deeper than `max_depth` (a clear error, never runaway recursion).

Pattern notes (`engine.notes`): a `TeamNote` when a member team starts a step, and when
it finishes or fails it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from engine.agents import AgentSpec, TeamSpec
from engine.context import RunContext, failure_message
from engine.guards import PatternStopped, StepFailed, StopSession, leaves
from engine.notes import TeamNote
from engine.patterns.orchestrator import (
    PlanStep,
    call_worker,
    make_plan,
    run_plan,
    synthesise,
)
from engine.trust import AgentOutput

NAME = "hierarchical"
TITLE = "Hierarchical teams"
SUMMARY = (
    "A lead plans over members that may be whole teams; each member team runs its own "
    "pattern on its subtask, nested; the lead synthesises."
)
USE_WHEN = "The work splits along team lines (engineering, docs...) and each part needs a team of its own."

DEFAULT_MEMBER_PATTERN = "orchestrator"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_plan_revisions: int = Field(default=2, ge=0, le=10)
    """How many times the lead's rejected plan is revised before the session stops."""
    concurrency: int | None = Field(default=None, ge=1)
    """At most this many of the lead's subtasks at once (None: every ready subtask)."""
    max_depth: int = Field(default=3, ge=1, le=6)
    """How deep member teams may nest (a member of the session's team is depth 1).
    A deeper team is an error before any work starts."""


def planning_prompt(ctx: RunContext, task: str) -> str:
    """The lead's plan request: each direct member, and whether it is a team."""
    lines = []
    for member in ctx.team.workers:
        if member.team is None:
            lines.append(f"- {member.name}: {member.role} (an individual)")
        else:
            lines.append(
                f"- {member.name}: {member.role} (a team of {len(member.team.agents)}: "
                f"{', '.join(member.team.names)}; it runs the {member.pattern or DEFAULT_MEMBER_PATTERN} "
                "pattern on its subtask)"
            )
    prompt = (
        f"Task: {task}\n\n"
        "Plan this task across your direct members:\n" + "\n".join(lines) + "\n\n"
        "Break the task into subtasks and assign each to one direct member by name. A team "
        "takes its subtask as a whole and organises the work itself, so give teams whole "
        "areas of work and never assign anyone inside a team directly. List in depends_on "
        "the steps whose results a subtask needs; steps without dependencies run in "
        "parallel. Each member sees only its own subtask and the results it depends on."
    )
    return prompt


def nesting_problem(team: TeamSpec, depth: int, max_depth: int, above: list[str]) -> str | None:
    """Why the member teams under `team` cannot run, or None.

    Walks at most `max_depth` levels, so even a team that (somehow) contains itself
    ends in an error instead of recursion.
    """
    from engine.patterns import PATTERNS

    for member in team.agents:
        if member.team is None:
            continue
        path = [*above, member.name]
        if depth + 1 > max_depth:
            return (
                f"member team {' › '.join(path)} is nested {depth + 1} levels deep; "
                f"max_depth is {max_depth}"
            )
        pattern = member.pattern or DEFAULT_MEMBER_PATTERN
        if pattern not in PATTERNS:
            return (
                f"member team {member.name} runs pattern {pattern!r}, which is not available "
                f"(choose from {', '.join(PATTERNS)})"
            )
        problem = nesting_problem(member.team, depth + 1, max_depth, path)
        if problem is not None:
            return problem
    return None


def direct_member(ctx: RunContext, step: PlanStep) -> str | None:
    """The hierarchical rule: a step goes to a direct member (a team takes it as a whole)."""
    name = step.assigned_to
    if name in ctx.team.names:
        return None
    if ctx.team.get(name) is not None:
        owner = ctx.team.path_of(name)[0]
        return f"{name} works inside member team {owner}; assign the step to {owner}"
    return f"no member named {name!r} (members: {', '.join(ctx.team.names)})"


async def run_member_team(
    step_ctx: RunContext, member: AgentSpec, step: PlanStep, step_id: str, context: list[AgentOutput]
) -> str:
    """Run `member`'s pattern on the step in a nested context; its answer is the step's output.

    Raises `StepFailed` when the team could not finish; lets session stops through.
    """
    from engine.patterns import get_pattern

    info = get_pattern(member.pattern or DEFAULT_MEMBER_PATTERN)
    sub = step_ctx.with_team(member, step.id, context)
    path = [*step_ctx.run.team.path_of(member.name), member.name]
    team = {"team": member.name, "pattern": info.name, "depth": len(path), "path": path, "step": step_id}
    where = " › ".join(path)
    await sub.emit(
        TeamNote, agent=member.name, text=f"{where} takes {step_id} as a team ({info.name}): {step.title}",
        status="started", **team,
    )
    task = f"Subtask {step.id}: {step.title}\n\n{step.instructions}"
    try:
        result = await info.run(sub, task, info.parse_options({}))
    except Exception as error:  # noqa: BLE001 - a member team's failure is its step's result
        found = leaves(error)
        stop = next((e for e in found if isinstance(e, StopSession) and not isinstance(e, PatternStopped)), None)
        if stop is not None:  # a budget stop or the breaker: the whole session ends
            raise stop from None
        why = next((e.reason for e in found if isinstance(e, PatternStopped)), None) or failure_message(found[0])
    else:
        await sub.emit(TeamNote, agent=member.name, text=f"{where} finished {step_id}", status="done", **team)
        return result
    failure = f"team {member.name}: {why}"
    await sub.emit(
        TeamNote, agent=member.name, text=f"{where} failed {step_id}: {why}", status="failed", error=failure, **team
    )
    raise StepFailed(failure)


async def run(ctx: RunContext, task: str, options: Options) -> str:
    problem = nesting_problem(ctx.team, ctx.depth, options.max_depth, [])
    if problem is not None:
        await ctx.fail(problem, agent=ctx.lead().name)

    async def work(step_ctx: RunContext, step: PlanStep, step_id: str, context: list[AgentOutput]) -> str:
        member = ctx.team.get(step.assigned_to)
        if member is not None and member.team is not None:
            return await run_member_team(step_ctx, member, step, step_id, context)
        return await call_worker(step_ctx, step, step_id, context)

    plan = await make_plan(ctx, task, options.max_plan_revisions, prompt=planning_prompt, check=direct_member)
    outcomes = await run_plan(ctx, plan, work=work, check=direct_member, concurrency=options.concurrency)
    return await synthesise(ctx, task, outcomes)

"""Orchestrator/worker: the lead plans subtasks, workers do them in parallel where they
can, and the lead writes the final answer from their results.

The parts are reusable: `make_plan` (plan, escalate, revise), `run_plan` (run a
plan's steps in dependency order with a pluggable "do this step" callable) and
`synthesise` (the lead's final answer). Hierarchical teams build on them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from engine.context import RunContext, failure_message
from engine.dag import Outcome, find_cycles, run_dag
from engine.events import PlanMade, StepFinished
from engine.guards import PatternStopped, StepFailed
from engine.trust import AgentOutput

NAME = "orchestrator"
TITLE = "Orchestrator / worker"
SUMMARY = "A lead plans subtasks with dependencies; workers run them in parallel; the lead synthesises."
USE_WHEN = "The task breaks into parts you cannot list in advance, some of which depend on others."



class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_plan_revisions: int = Field(default=2, ge=0, le=10)
    """How many times a rejected plan is revised before the session stops."""
    concurrency: int | None = Field(default=None, ge=1)
    """At most this many subtasks at once (None: every ready subtask)."""


STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
"""What a model may call a step. Step ids are scoped with "/" in member teams
("s2/engineering/s1") and name spans ("step:s1") and call keys ("...#agent#1"):
an id holding one of those separators would be read as another step's, or file a
plan under a team that does not exist."""


def _step_id(value: str) -> str:
    if not STEP_ID.fullmatch(value):
        raise ValueError(
            f"a step id is 1 to 32 letters, digits, '-', '_' or '.' starting with a letter or digit (like s1), not {value!r}"
        )
    return value


StepId = Annotated[
    str, AfterValidator(_step_id), WithJsonSchema({"type": "string", "pattern": f"^{STEP_ID.pattern}$", "maxLength": 32})
]


class PlanStep(BaseModel):
    """One subtask of the plan."""

    id: StepId = Field(description="Short unique id, e.g. s1")
    title: str = Field(description="A few words naming the subtask")
    instructions: str = Field(description="What the worker must do and deliver")
    assigned_to: str = Field(description="Name of the worker who does it")
    depends_on: list[StepId] = Field(default_factory=list, description="Ids of steps whose results it needs")


class Plan(BaseModel):
    """The lead's plan: subtasks, who does each, and what waits for what."""

    steps: list[PlanStep] = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are the plan covers the task")

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        counts = Counter(step.id for step in self.steps)
        repeated = sorted(i for i, n in counts.items() if n > 1)
        if repeated:
            raise ValueError(f"step ids must be unique; repeated: {', '.join(repeated)}")
        return self


StepWork = Callable[[RunContext, PlanStep, str, list[AgentOutput]], Awaitable[str]]
"""Does one step: (the step's context, the step, its session-wide id, the output of
the steps it depends on, as data) -> the step's output."""

AssigneeCheck = Callable[[RunContext, PlanStep], str | None]
"""Why a step's assignee cannot do it, or None when it can."""


def scoped_plan(plan: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    """A plan's data with its step ids (and dependencies) as the session knows them."""
    if not ctx.scope:
        return plan
    steps = [
        {**step, "id": ctx.step_id(step["id"]), "depends_on": [ctx.step_id(d) for d in step.get("depends_on", [])]}
        for step in plan["steps"]
    ]
    return {**plan, "steps": steps}


def unfinished(parts: list[str], what: str = "parts") -> str:
    """What a synthesis prompt says of the parts that did not finish ("" when all did), so
    the answer does not claim the work is complete."""
    if not parts:
        return ""
    return (
        f"\n\nThese {what} did not finish (they failed or were skipped), so the work is not "
        "complete. Say so at the start of your answer, do not present it as finished, and say "
        "what is missing because of them:\n" + "\n".join(f"- {part}" for part in parts)
    )


def planning_prompt(ctx: RunContext, task: str) -> str:
    workers = "\n".join(f"- {w.name}: {w.role}" for w in ctx.team.workers)
    prompt = (
        f"Task: {task}\n\n"
        f"Plan this task for your team. Workers:\n{workers}\n\n"
        "Break the task into subtasks, assign each to one worker by name, and list in "
        "depends_on the steps whose results it needs. Steps without dependencies run "
        "in parallel. Each worker sees only its own subtask and the results it depends on."
    )
    return prompt


PlanningPrompt = Callable[[RunContext, str], str]
"""Writes the lead's plan request: (context, task) -> prompt."""


def known_member(ctx: RunContext, step: PlanStep) -> str | None:
    """The orchestrator's rule: anyone on the team (at any level) may be assigned."""
    if ctx.team.get(step.assigned_to) is None:
        return f"no worker named {step.assigned_to!r} (team: {', '.join(ctx.team.names)})"
    return None


def plan_problems(ctx: RunContext, plan: Plan, check: AssigneeCheck = known_member) -> list[str]:
    """What keeps `plan` from running as written with this team: a step whose assignee
    fails `check`, a dependency on a step the plan does not have, a dependency cycle."""
    ids = {step.id for step in plan.steps}
    problems = [f"{step.id}: {problem}" for step in plan.steps if (problem := check(ctx, step)) is not None]
    problems += [
        f"{step.id} depends on {dep!r}, which is not a step of the plan"
        for step in plan.steps for dep in step.depends_on if dep not in ids
    ]
    problems += [
        f"steps depend on each other in a cycle: {' -> '.join([*cycle, cycle[0]])}" for cycle in find_cycles(plan.steps)
    ]
    return problems


def plan_edit_check(ctx: RunContext, check: AssigneeCheck = known_member) -> Callable[[Any], Plan]:
    """Validates a person's edit of a plan before it is accepted: the schema, then the team
    and the dependencies (`plan_problems`); ValueError says what to fix."""

    def validate(edited: Any) -> Plan:
        plan = Plan.model_validate(edited)
        problems = plan_problems(ctx, plan, check)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ValueError(problems[0] + more)
        return plan

    return validate


async def make_plan(
    ctx: RunContext, task: str, max_revisions: int, prompt: PlanningPrompt = planning_prompt,
    check: AssigneeCheck = known_member,
) -> Plan:
    """Ask the lead for a plan until one is approved (or edited), or stop (`PatternStopped`).

    A member team's lead plans with what its step was handed (`ctx.inputs`) as data. An
    edited plan is accepted only if it can run with this team (`plan_problems`, with `check`
    the rule of who may take a step).
    """
    lead = ctx.lead().name
    plan_ctx = ctx.span("plan")
    feedback = ""
    for revision in range(max_revisions + 1):
        plan = await plan_ctx.call(lead, prompt(ctx, task) + feedback, context=ctx.inputs, schema=Plan)
        await plan_ctx.emit(
            PlanMade, agent=lead, plan=scoped_plan(plan.model_dump(mode="json"), ctx), revision=revision,
            scope=ctx.scope.rstrip("/"),
        )
        threshold = ctx.gate.policy.low_confidence_threshold
        if plan.confidence < threshold:
            trigger = "low_confidence"
            reason = f"{lead} is only {plan.confidence:.0%} confident in this {len(plan.steps)}-step plan"
        else:
            trigger = "plan"
            reason = f"{lead} proposes a {len(plan.steps)}-step plan"
        decision = await plan_ctx.escalate(
            trigger, reason, plan.model_dump(mode="json"), agent=lead,
            options=("approve", "edit", "reject"), validate=plan_edit_check(ctx, check),
        )
        if decision.action == "approve":
            return plan
        if decision.action == "edit":
            edited: Plan = decision.edited
            await plan_ctx.emit(
                PlanMade, agent=lead, plan=scoped_plan(edited.model_dump(mode="json"), ctx), revision=revision + 1,
                scope=ctx.scope.rstrip("/"),
            )
            return edited
        feedback = (
            f"\n\nA reviewer rejected your previous plan: {decision.reason or 'no reason given'}\nRevise the plan."
        )
    raise PatternStopped("stopped", f"plan rejected {max_revisions + 1} times")


async def call_worker(step_ctx: RunContext, step: PlanStep, step_id: str, context: list[AgentOutput]) -> str:
    """The orchestrator's step: one call by the assigned worker."""
    prompt = f"Subtask {step.id}: {step.title}\n\n{step.instructions}"
    return await step_ctx.call(step.assigned_to, prompt, context=context, step_id=step_id)


async def run_plan(
    ctx: RunContext,
    plan: Plan,
    *,
    work: StepWork = call_worker,
    check: AssigneeCheck = known_member,
    concurrency: int | None = None,
) -> dict[str, Outcome[PlanStep]]:
    """Run the plan's steps in dependency order, in parallel where they can be.

    Each step gets its own span ("step:<id>"), a turn, step events and a partial
    result; a step whose assignee fails `check`, or whose work raises, is an error
    result for that step (and its dependents are skipped). `StopSession` ends it all.
    """
    results: dict[str, str] = {}
    by_id = {step.id: step for step in plan.steps}

    async def run_step(step: PlanStep) -> str:
        step_ctx = ctx.span(f"step:{step.id}")
        problem = check(ctx, step)
        if problem is not None:
            await step_ctx.emit(
                StepFinished, agent=step.assigned_to, step_id=ctx.step_id(step.id), status="error", error=problem
            )
            raise StepFailed(problem)
        context = [
            AgentOutput(by_id[d].assigned_to, results[d], step=d, title=by_id[d].title)
            for d in step.depends_on
        ]
        async with step_ctx.step(step.assigned_to, step.id, step.title, depends_on=step.depends_on) as done:
            done.output = await work(step_ctx, step, done.id, context)
            ctx.record_partial(f"{done.id} · {step.assigned_to}: {step.title}", done.output)
        results[step.id] = done.output
        return done.output

    async def on_failure(step: PlanStep, error: BaseException) -> str:
        return failure_message(error)  # its step.finished is out already

    async def on_unrunnable(outcome: Outcome[PlanStep]) -> None:
        step = outcome.step
        await ctx.span(f"step:{step.id}").emit(
            StepFinished, agent=step.assigned_to, step_id=ctx.step_id(step.id), status=outcome.status,
            error=outcome.error,
        )

    return await run_dag(
        plan.steps, run_step, on_unrunnable=on_unrunnable, on_failure=on_failure, concurrency=concurrency
    )


async def synthesise(ctx: RunContext, task: str, outcomes: dict[str, Outcome[PlanStep]]) -> str:
    """The lead's final answer from the steps that finished, naming those that did not."""
    lead = ctx.lead().name
    done = [o for o in outcomes.values() if o.status == "done"]
    missing = [o for o in outcomes.values() if o.status != "done"]
    prompt = f"Task: {task}\n\nWrite the final answer to the task from your team's results." + unfinished(
        [f"{o.step.id} ({o.step.assigned_to}: {o.step.title}): {o.status}, {o.error}" for o in missing], "subtasks"
    )
    context = [AgentOutput(o.step.assigned_to, o.output, step=o.step.id, title=o.step.title) for o in done]
    return await ctx.span("synthesis").call(lead, prompt, context=context)


async def run(ctx: RunContext, task: str, options: Options) -> str:
    plan = await make_plan(ctx, task, options.max_plan_revisions)
    outcomes = await run_plan(ctx, plan, concurrency=options.concurrency)
    return await synthesise(ctx, task, outcomes)


"""Orchestrator/worker: the lead plans subtasks, workers do them in parallel where they
can, and the lead writes the final answer from their results."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.agents import TeamSpec, default_team
from engine.approvals import one_line
from engine.context import RunContext
from engine.dag import Outcome, run_dag
from engine.events import PlanMade, StepFinished, StepStarted
from engine.guards import CallFailedError, StopSession
from engine.trust import AgentOutput

NAME = "orchestrator"
TITLE = "Orchestrator / worker"
SUMMARY = "A lead plans subtasks with dependencies; workers run them in parallel; the lead synthesises."
USE_WHEN = "The task breaks into parts you cannot list in advance, some of which depend on others."



class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_plan_revisions: int = Field(default=2, ge=0, le=10)
    """How many times a rejected plan is revised before the session stops."""
    concurrency: int | None = Field(default=None, ge=1)
    """At most this many subtasks at once (None: every ready subtask)."""


def team() -> TeamSpec:
    return default_team()


class PlanStep(BaseModel):
    """One subtask of the plan."""

    id: str = Field(description="Short unique id, e.g. s1")
    title: str = Field(description="A few words naming the subtask")
    instructions: str = Field(description="What the worker must do and deliver")
    assigned_to: str = Field(description="Name of the worker who does it")
    depends_on: list[str] = Field(default_factory=list, description="Ids of steps whose results it needs")


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


def planning_prompt(ctx: RunContext, task: str, feedback: str | None) -> str:
    workers = "\n".join(f"- {w.name}: {w.role}" for w in ctx.team.workers)
    prompt = (
        f"Task: {task}\n\n"
        f"Plan this task for your team. Workers:\n{workers}\n\n"
        "Break the task into subtasks, assign each to one worker by name, and list in "
        "depends_on the steps whose results it needs. Steps without dependencies run "
        "in parallel. Each worker sees only its own subtask and the results it depends on."
    )
    if feedback:
        prompt += f"\n\nA reviewer rejected your previous plan: {feedback}\nRevise the plan."
    return prompt


async def make_plan(ctx: RunContext, task: str, max_revisions: int) -> Plan:
    """Ask the lead for a plan until one is approved (or edited), or stop."""
    lead = ctx.lead().name
    plan_ctx = ctx.span("plan")
    feedback = None
    for revision in range(max_revisions + 1):
        plan = await plan_ctx.call(lead, planning_prompt(ctx, task, feedback), schema=Plan)
        await plan_ctx.emit(PlanMade, agent=lead, plan=plan.model_dump(mode="json"), revision=revision)
        threshold = ctx.gate.policy.low_confidence_threshold
        if plan.confidence < threshold:
            trigger = "low_confidence"
            reason = f"{lead} is only {plan.confidence:.0%} confident in this {len(plan.steps)}-step plan"
        else:
            trigger = "plan"
            reason = f"{lead} proposes a {len(plan.steps)}-step plan"
        decision = await plan_ctx.escalate(
            trigger, reason, plan.model_dump(mode="json"), agent=lead,
            options=("approve", "edit", "reject"), validate=Plan.model_validate,
        )
        if decision.action == "approve":
            return plan
        if decision.action == "edit":
            edited: Plan = decision.edited
            await plan_ctx.emit(PlanMade, agent=lead, plan=edited.model_dump(mode="json"), revision=revision + 1)
            return edited
        feedback = decision.reason or "no reason given"
    raise StopSession("stopped", f"plan rejected {max_revisions + 1} times")


async def run(ctx: RunContext, task: str, options: Options) -> str:
    lead = ctx.lead().name
    plan = await make_plan(ctx, task, options.max_plan_revisions)
    results: dict[str, str] = {}
    by_id = {step.id: step for step in plan.steps}

    async def run_step(step: PlanStep) -> str:
        step_ctx = ctx.span(f"step:{step.id}")
        if ctx.team.get(step.assigned_to) is None:
            raise CallFailedError(
                step.assigned_to, "unknown_agent",
                f"no worker named {step.assigned_to!r} (team: {', '.join(ctx.team.names)})",
            )
        await step_ctx.turn(step.assigned_to)
        await step_ctx.emit(
            StepStarted, agent=step.assigned_to, step_id=step.id, title=step.title,
            assigned_to=step.assigned_to, depends_on=step.depends_on,
        )
        context = [
            AgentOutput(by_id[d].assigned_to, results[d], step=d, title=by_id[d].title)
            for d in step.depends_on
        ]
        prompt = f"Subtask {step.id}: {step.title}\n\n{step.instructions}"
        output = await step_ctx.call(step.assigned_to, prompt, context=context, step_id=step.id)
        results[step.id] = output
        ctx.record_partial(f"{step.id} · {step.assigned_to}: {step.title}", output)
        await step_ctx.emit(
            StepFinished, agent=step.assigned_to, step_id=step.id, status="done", output=output
        )
        return output

    async def on_failure(step: PlanStep, error: BaseException) -> str:
        message = error.message if isinstance(error, CallFailedError) else f"internal error: {one_line(error)}"
        await ctx.span(f"step:{step.id}").emit(
            StepFinished, agent=step.assigned_to, step_id=step.id, status="error", error=message
        )
        return message

    async def on_unrunnable(outcome: Outcome[PlanStep]) -> None:
        step = outcome.step
        await ctx.span(f"step:{step.id}").emit(
            StepFinished, agent=step.assigned_to, step_id=step.id, status=outcome.status, error=outcome.error
        )

    outcomes = await run_dag(
        plan.steps, run_step, on_unrunnable=on_unrunnable, on_failure=on_failure, concurrency=options.concurrency
    )

    done = [o for o in outcomes.values() if o.status == "done"]
    missing = [o for o in outcomes.values() if o.status != "done"]
    prompt = f"Task: {task}\n\nWrite the final answer to the task from your team's results."
    if missing:
        prompt += "\n\nThese subtasks did not finish; say what is missing because of them:\n" + "\n".join(
            f"- {o.step.id} ({o.step.assigned_to}: {o.step.title}): {o.status}, {o.error}" for o in missing
        )
    context = [AgentOutput(o.step.assigned_to, o.output, step=o.step.id, title=o.step.title) for o in done]
    return await ctx.span("synthesis").call(lead, prompt, context=context)

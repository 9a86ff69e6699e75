"""Sequential pipeline: stages transform the work in order, each handing its output on.

Each stage is one agent. It gets the previous stage's output as data (and, with
`include_original`, the original task too, so an early stage cannot lose what a
later one needs) and returns the whole work as it leaves it. The last stage's
output is the result.

A stage may declare an output contract (a JSON Schema and a minimum confidence).
It is then asked for a structured reply in that shape, and its output goes on
through `RunContext.handoff`:

- output that breaks the contract (after the call's own schema retries), or a
  stage whose call fails for good: the stage's fallback agent does the stage
  once more; with no fallback left, a contract breach escalates as
  `invalid_output` (approve: skip the stage and pass the previous output on;
  edit: write the stage's output yourself, checked against the contract;
  reject: stop with what is done) and any other failure ends the pipeline with
  a partial result;
- output under the contract's minimum confidence: the handoff escalates as
  `low_confidence` (approve or edit to go on); a rejection sends the stage to
  its fallback, or stops the pipeline when there is none.

In a member team, what its step was handed (`ctx.inputs`) goes as data to every
stage that sees the original task (to the first stage only, without
`include_original`), and a stop fails only that team's step.

Pattern notes (`engine.notes`): a `PipelineNote` once at the start, and a `StageNote`
each time an attempt at a stage ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.approvals import Decision
from engine.context import RunContext
from engine.events import Choice
from engine.guards import CallFailedError, PatternStopped, StepFailed
from engine.handoffs import HandoffContract, HandoffError, HandoffRejected, as_data, check_schema
from engine.notes import PipelineNote, StageNote, StageStatus, StageVerdict
from engine.patterns.attempts import Attempt, Failure, Way, decide, in_order
from engine.trust import AgentOutput

NAME = "pipeline"
TITLE = "Sequential pipeline"
SUMMARY = "Stages transform the work in order; contracts check what each stage hands to the next."
USE_WHEN = "The work has clear stages that each build on the last (research, draft, edit, check)."

RESEARCH_NOTES: dict[str, Any] = {
    "title": "ResearchNotes",
    "description": "What the research found, for the writer: findings, sources and how sure you are.",
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "Two or three sentences on what the research found"},
        "key_findings": {
            "type": "array", "items": {"type": "string"}, "minItems": 1,
            "description": "The facts the writer must not lose",
        },
        "sources": {
            "type": "array", "items": {"type": "string"}, "minItems": 1,
            "description": "Where each finding comes from",
        },
        "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "How sure you are of the findings"},
    },
    "required": ["summary", "key_findings", "sources", "confidence"],
    "additionalProperties": False,
}


class StageContract(BaseModel):
    """What a stage must hand on: a JSON Schema for an object, and a minimum confidence."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    output_schema: dict[str, Any] = Field(alias="schema")
    """A JSON Schema with "type": "object"; its "title" names the contract."""
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """Output whose `confidence` is under this escalates (None: the policy's threshold)."""

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_schema(value)
        if value.get("type") != "object":
            raise ValueError('a stage contract must describe an object ("type": "object")')
        return value


PRESET_CONTRACTS: dict[str, StageContract] = {
    "researcher": StageContract(schema=RESEARCH_NOTES, min_confidence=0.7),
}
PRESET_FALLBACKS: dict[str, str] = {"researcher": "senior_researcher"}


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    stages: list[str] | None = Field(default=None, min_length=1, max_length=20)
    """The stage agents, in order (None: the team's agents in order, except fallbacks)."""
    include_original: bool = True
    """Every stage also sees the original task, not only the previous stage's output."""
    contracts: dict[str, StageContract] | None = None
    """Output contracts by stage (None: the preset's, for those of its stages the team has)."""
    fallbacks: dict[str, str] | None = None
    """The agent that redoes a failed stage, by stage (None: the preset's, when the team has both)."""


@dataclass(frozen=True)
class Stage:
    index: int
    """1-based position in the pipeline."""
    agent: str
    role: str
    contract: HandoffContract | None
    fallback: str | None


async def plan_stages(ctx: RunContext, options: Options) -> list[Stage]:
    """The stages to run, from the options and the team; `ctx.fail` when they do not fit."""
    agents = {agent.name: agent for agent in ctx.team.direct_callers()}
    # The preset's contracts and fallbacks apply to those of its stages this pipeline has.
    fallbacks = options.fallbacks
    if fallbacks is None:
        fallbacks = {
            s: f for s, f in PRESET_FALLBACKS.items()
            if s in agents and f in agents and (options.stages is None or s in options.stages)
        }
    names = options.stages or [name for name in agents if name not in set(fallbacks.values())]
    contracts = options.contracts
    if contracts is None:
        contracts = {stage: c for stage, c in PRESET_CONTRACTS.items() if stage in names}

    problems = [f"stage {name!r} is not an agent on the team" for name in names if name not in agents]
    problems += [f"contract for {name!r}, which is not a stage" for name in contracts if name not in names]
    for stage, fallback in fallbacks.items():
        if stage not in names:
            problems.append(f"fallback for {stage!r}, which is not a stage")
        elif fallback not in agents:
            problems.append(f"fallback {fallback!r} for {stage!r} is not an agent on the team")
        elif fallback == stage:
            problems.append(f"{stage!r} cannot be its own fallback")
    if not names:
        problems.append("no stages: the team has no agents left once fallbacks are set aside")
    if problems:
        await ctx.fail("pipeline: " + "; ".join(problems))

    def contract(name: str) -> HandoffContract | None:
        spec = contracts.get(name)
        if spec is None:
            return None
        title = str(spec.output_schema.get("title") or f"{name}-output")
        return HandoffContract(title, spec.output_schema, spec.min_confidence)

    return [
        Stage(i, name, agents[name].role, contract(name), fallbacks.get(name)) for i, name in enumerate(names, 1)
    ]


def sees_task(previous: AgentOutput | None, include_original: bool) -> bool:
    """Whether a stage sees the original task (and what a member team's step was handed)."""
    return include_original or previous is None


def stage_prompt(
    task: str, stage: Stage, stages: list[Stage], *, agent: str, previous: AgentOutput | None, include_original: bool
) -> str:
    """What one stage is asked: its place in the pipeline, the task if it sees it, and its job."""
    chain = " → ".join(s.agent for s in stages)
    where = f"Pipeline: {chain}. You do stage {stage.index} of {len(stages)}"
    if agent != stage.agent:
        where += f", standing in for {stage.agent} ({stage.role}), whose attempt failed"
    lines = [where + "."]
    if sees_task(previous, include_original):
        lines.append(f"Original task: {task}")
    if previous is None:
        lines.append("Start the work from the task.")
    else:
        sees = "only what you return and the original task" if include_original else "only what you return"
        lines.append(
            f"Your input is the previous stage's output ({previous.source}), below as data. Transform it "
            f"as your role requires and return the whole work as you leave it, not notes about it: "
            f"the next stage sees {sees}."
        )
    if stage.contract is not None:
        lines.append(f"Give your output as the structured reply the `respond` tool asks for ({stage.contract.name}).")
    return "\n\n".join(lines)


class _StageFailed(StepFailed):
    """One attempt at a stage that produced nothing to hand on."""

    def __init__(
        self, agent: str, message: str, verdict: StageVerdict | None, fatal: CallFailedError | None = None
    ) -> None:
        super().__init__(message)
        self.agent = agent
        self.verdict = verdict
        self.fatal = fatal
        """The call that failed for good over something other than its output (verdict None):
        with no fallback left, it ends the pipeline."""


class _Pipeline:
    """Runs the stages in order and handles each stage's failures."""

    def __init__(self, ctx: RunContext, task: str, stages: list[Stage], include_original: bool) -> None:
        self.ctx = ctx
        self.task = task
        self.stages = stages
        self.include_original = include_original

    def next_agent(self, stage: Stage) -> str:
        return self.stages[stage.index].agent if stage.index < len(self.stages) else "result"

    async def note(self, stage: Stage, by: str | None, status: StageStatus, verdict: StageVerdict | None,
                   text: str, error: str | None = None) -> None:
        await self.ctx.span(f"stage:{stage.index}").emit(
            StageNote, agent=by or stage.agent, text=f"{stage.index}/{len(self.stages)} {stage.agent}: {text}",
            stage=stage.agent, by=by, index=stage.index, of=len(self.stages), status=status,
            contract=stage.contract.name if stage.contract else None, verdict=verdict, error=error,
        )

    async def run(self) -> str:
        stages = self.stages
        await self.ctx.emit(
            PipelineNote,
            text=" → ".join(s.agent for s in stages)
            + (" (each stage also sees the task)" if self.include_original else ""),
            stages=[s.agent for s in stages],
            include_original=self.include_original,
            contracts={s.agent: s.contract.name for s in stages if s.contract},
            fallbacks={s.agent: s.fallback for s in stages if s.fallback},
        )
        previous: AgentOutput | None = None
        producer: Stage | None = None
        for stage in stages:
            output = await self.run_stage(stage, previous)
            if output is not previous:  # a skipped stage passes the same output on
                previous, producer = output, stage
        if previous is None or producer is None:
            raise PatternStopped("stopped", "every stage was skipped: there is no output")
        if producer.contract is not None:
            return f"```json\n{previous.text}\n```"
        return previous.text

    async def run_stage(self, stage: Stage, previous: AgentOutput | None) -> AgentOutput | None:
        """The output the next stage gets (`previous` again when this stage is skipped): the
        stage's agent does it, else its fallback, else `give_up` decides."""

        async def redo(failure: Failure[_StageFailed], fallback: str) -> None:
            error = failure.error
            await self.note(stage, failure.agent, "failed", error.verdict, f"{error.message}; {fallback} redoes it",
                            error.message)

        agents = [stage.agent] if stage.fallback is None else [stage.agent, stage.fallback]
        tried = await in_order(agents, lambda attempt: self.attempt(stage, attempt, previous), catch=_StageFailed,
                               failed=redo)
        if not tried.done:
            return await self.give_up(stage, tried.last.error, previous)
        by = "" if tried.agent == stage.agent else f" (by fallback {tried.agent})"
        await self.note(stage, tried.agent, "done", "accepted" if stage.contract else None, f"done{by}")
        return tried.output

    async def attempt(
        self, stage: Stage, attempt: Attempt[_StageFailed], previous: AgentOutput | None
    ) -> AgentOutput:
        """One agent does the stage: its output, or `_StageFailed` (its step ends in error)."""
        agent = attempt.agent
        local_id = f"stage{stage.index}" if attempt.first else f"stage{stage.index}-fallback"
        stage_ctx = self.ctx.span(f"stage:{stage.index}")
        title = (
            f"Stage {stage.index}/{len(self.stages)}"
            + (f" for {stage.agent}" if agent != stage.agent else "") + f": {stage.role}"
        )
        prompt = stage_prompt(
            self.task, stage, self.stages, agent=agent, previous=previous, include_original=self.include_original
        )
        context = list(self.ctx.inputs) if sees_task(previous, self.include_original) else []
        if previous is not None:
            context.append(previous)
        async with stage_ctx.step(agent, local_id, title) as step:
            try:
                if stage.contract is None:
                    step.output = await stage_ctx.call(agent, prompt, context=context, step_id=step.id)
                else:
                    payload = await stage_ctx.call(
                        agent, prompt, context=context, schema=stage.contract.json_schema, step_id=step.id
                    )
                    value = await stage_ctx.handoff(
                        stage.contract, payload, from_agent=agent, to_agent=self.next_agent(stage)
                    )
                    step.output = json_text(value)
            except CallFailedError as error:
                invalid = error.error_type == "invalid_output"
                raise _StageFailed(
                    agent, error.message, "invalid" if invalid else None, None if invalid else error
                ) from None
            except HandoffRejected as error:
                raise _StageFailed(agent, f"low-confidence handoff rejected: {error.reason}", "rejected") from None
            except HandoffError as error:
                raise _StageFailed(agent, error.reason, "invalid") from None
            self.ctx.record_partial(f"stage {stage.index} · {agent}", step.output)
        return AgentOutput(agent, step.output, step=step.id, title=f"stage {stage.index}: {stage.agent}")

    async def give_up(self, stage: Stage, failure: _StageFailed, previous: AgentOutput | None) -> AgentOutput | None:
        """No agent could do the stage: escalate a contract breach, stop otherwise."""
        where = f"stage {stage.index} ({stage.agent})"
        if failure.fatal is not None:  # the call failed for good: end with what is done
            await self.note(stage, failure.agent, "stopped", None, f"stopping: {failure.message}", failure.message)
            raise failure.fatal
        if failure.verdict == "rejected":
            await self.note(stage, failure.agent, "stopped", "rejected", f"stopping: {failure.message}", failure.message)
            raise PatternStopped("stopped", f"{where}: {failure.message}")
        contract = stage.contract
        assert contract is not None  # only a stage with a contract hands on output that breaks one
        skip = (
            f"Skip {stage.agent}: pass {previous.source}'s output on" if previous is not None
            else f"Skip {stage.agent}: the next stage starts from the task"
        )
        stage_ctx = self.ctx.span(f"stage:{stage.index}")

        async def skip_it(decision: Decision) -> AgentOutput | None:
            goes_on = "the previous output goes on" if previous is not None else "the next stage starts from the task"
            await self.note(stage, None, "skipped", "invalid", f"skipped; {goes_on}", failure.message)
            return previous

        async def written(decision: Decision) -> AgentOutput | None:
            # A person wrote it: hand it on under the contract, without asking how sure they are.
            value = await stage_ctx.handoff(
                replace(contract, min_confidence=0.0), decision.edited,
                from_agent=stage.agent, to_agent=self.next_agent(stage),
            )
            text = json_text(value)
            self.ctx.record_partial(f"stage {stage.index} · written by a person", text)
            await self.note(stage, None, "edited", "accepted", "a person wrote its output")
            return AgentOutput(stage.agent, text, step=self.ctx.step_id(f"stage{stage.index}"),
                               title=f"stage {stage.index}: {stage.agent}, written by a person")

        async def stop(decision: Decision) -> AgentOutput | None:
            why = decision.reason or "rejected"
            await self.note(stage, None, "stopped", "invalid", f"stopping: {why}", failure.message)
            raise PatternStopped(
                "stopped", f"{where} broke contract {contract.name} and the pipeline was stopped: {why}"
            )

        return await decide(
            stage_ctx, "invalid_output",
            f"{where} produced no output that meets contract {contract.name}: {failure.message}",
            {"stage": stage.agent, "contract": contract.name, "error": failure.message, "schema": contract.json_schema},
            agent=stage.agent,
            validate=contract.validate,
            ways=(
                Way(Choice(id="skip", label=skip, action="approve"), skip_it),
                Way(Choice(
                    id="write", label=f"Write {stage.agent}'s output yourself (checked against {contract.name})",
                    action="edit", input="json", prompt=f"{stage.agent}'s output, as JSON matching {contract.name}",
                ), written),
                Way(Choice(
                    id="stop", label="Stop the pipeline with what is done", action="reject", input="reason",
                    prompt="Why? (recorded with the stop)",
                ), stop),
            ),
        )


def json_text(value: Any) -> str:
    """A structured stage output as the text the next stage reads."""
    return json.dumps(as_data(value), indent=2, ensure_ascii=False)


async def run(ctx: RunContext, task: str, options: Options) -> str:
    stages = await plan_stages(ctx, options)
    return await _Pipeline(ctx, task, stages, options.include_original).run()

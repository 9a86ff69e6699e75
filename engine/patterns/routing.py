"""Specialist routing: a router reads the task and sends it to the one specialist who
should answer it; an unknown or doubtful route goes to a general agent or to a person.

The router (the team's lead) makes a structured choice, `Route`: which specialist,
why, and how sure it is. What happens next:

- a confident route to a specialist (or to the general agent): that agent answers;
- a specialist the team does not have (the route breaks its handoff contract): the
  general agent answers (with no general agent on the team, the route escalates as
  `invalid_output`: edit picks a specialist, reject stops);
- a route under the confidence threshold (`Options.min_confidence`, else the
  policy's): escalates as `low_confidence` (approve keeps the route, edit picks
  another specialist, reject sends the task to the general agent, or stops when
  there is none), or goes straight to the general agent when `on_low_confidence`
  is "general";
- a router whose call fails for good: the general agent answers;
- a chosen specialist whose call fails for good: the general agent answers.

The chosen agent answers the whole task; its answer is the result. In a member
team, the router and whoever answers also get what the team's step was handed
(`ctx.inputs`), as data. A settled route is a `route` handoff from the router to
the agent it settles on, its payload naming that agent.

Pattern notes (`engine.notes`): a `RouteNote` per routing decision; a route that
escalates gets a second one once it is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.agents import AgentSpec
from engine.approvals import Decision
from engine.context import RunContext
from engine.events import Choice, Handoff
from engine.guards import CallFailedError, PatternStopped
from engine.handoffs import HandoffContract, HandoffError
from engine.notes import RouteCause, RouteNote, RouteOutcome
from engine.patterns.attempts import Attempt, Failure, Way, decide, in_order
from engine.trust import AgentOutput

NAME = "routing"
TITLE = "Specialist routing"
SUMMARY = "A router sends the task to the one specialist who fits it; doubtful routes go to a generalist or to you."
USE_WHEN = "Requests come in different kinds, each best handled by a different expert."


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """A route less sure than this is doubtful (None: the policy's low-confidence threshold)."""
    on_low_confidence: Literal["escalate", "general"] = "escalate"
    """What a doubtful route does: escalate (the policy decides who is asked) or go to the general agent."""
    general: str = Field(default="general", min_length=1, max_length=32)
    """The agent that takes what no specialist should: unknown and rejected routes, failures."""


class Route(BaseModel):
    """Which specialist should answer the task, why, and how sure you are."""

    specialist: str = Field(description="Name of the specialist (or the general agent) who should answer")
    reason: str = Field(description="One sentence: why this specialist fits the task")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are this is the right specialist")


def route_to(names: list[str]) -> type[Route]:
    """`Route`, narrowed to a specialist in `names`."""

    class Routed(Route):
        @field_validator("specialist")
        @classmethod
        def _on_the_team(cls, name: str) -> str:
            if name not in names:
                raise ValueError(f"no specialist named {name!r}; must be one of {', '.join(names)}")
            return name

    return Routed


def route_prompt(task: str, specialists: list[AgentSpec], general: str | None) -> str:
    """The router's instructions: the task and who it can be sent to."""
    lines = [f"- {agent.name}: {agent.skills()}" for agent in specialists]
    prompt = f"Task: {task}\n\nChoose the one specialist who should answer this task. Specialists:\n" + "\n".join(lines)
    if general is not None:
        prompt += f"\n\nIf none of them fits, choose {general}, who handles anything else."
    return prompt + "\n\nGive the specialist's exact name, one sentence on why, and your confidence."


def team_problem(ctx: RunContext, options: Options) -> str | None:
    """Why routing cannot work with this team and these options, or None."""
    callers = {agent.name for agent in ctx.team.direct_callers()}
    router = ctx.lead().name
    if router not in callers:
        return f"routing: the router {router!r} must be an agent, not a member team"
    if options.general not in callers and "general" in options.model_fields_set:
        return f"routing: no agent named {options.general!r} to be the general agent"
    if callers == {router}:
        return "routing needs at least one specialist or a general agent on the team"
    return None


class _Router:
    """One routing decision, from the router's call to the agent who answers."""

    def __init__(self, ctx: RunContext, options: Options) -> None:
        self.ctx = ctx.span("route")
        self.router = ctx.lead().name
        self.agents = {agent.name: agent for agent in ctx.team.direct_callers()}
        self.general = options.general if options.general in self.agents else None
        self.specialists = [agent for agent in self.agents.values() if agent.name not in (self.router, self.general)]
        self.names = [agent.name for agent in self.specialists]
        self.options = options
        self.stop = "Stop the session" if ctx.depth == 0 else f"Stop team {ctx.team.name}"
        threshold = options.min_confidence
        self.threshold = ctx.gate.policy.low_confidence_threshold if threshold is None else threshold
        """Known here, not only by `ctx.handoff`: a doubtful route may go to the general
        agent without asking, and its note says it is escalated while a person decides."""
        self.contract = HandoffContract("route", route_to(self.names + ([self.general] if self.general else [])), 0.0)
        """Settled routes only: the router's doubt is dealt with before the handoff."""

    async def note(self, text: str, route: Route | None, outcome: RouteOutcome, handled_by: str | None,
                   cause: RouteCause | None = None) -> None:
        await self.ctx.emit(
            RouteNote, agent=self.router, text=text,
            specialist=route.specialist if route else None,
            reason=route.reason if route else None,
            confidence=route.confidence if route else None,
            outcome=outcome, handled_by=handled_by, cause=cause,
        )

    async def hand(self, route: Route) -> str:
        """Hand the task to the agent `route` names, under the contract (`HandoffError` if not on the team)."""
        await self.ctx.handoff(self.contract, route, from_agent=self.router, to_agent=route.specialist)
        return route.specialist

    async def to_general(self, route: Route) -> str:
        return await self.hand(route.model_copy(update={"specialist": self.general}))

    async def choose(self, task: str) -> tuple[str, Route | None]:
        """The agent who answers, and the route that chose it (None when the router did not route)."""
        if not self.specialists and self.general is not None:
            await self.note(f"no specialists on the team: {self.general} answers", None, "fallback",
                            self.general, "no_specialists")
            return self.general, None
        try:
            async with self.ctx.step(self.router, "route", "Choose a specialist") as step:
                route = await self.ctx.call(
                    self.router, route_prompt(task, self.specialists, self.general), context=self.ctx.inputs,
                    schema=Route, step_id=step.id,
                )
                step.output = f"{route.specialist} ({route.confidence:.0%}): {route.reason}"
                self.ctx.record_partial(f"route · {self.router}", step.output)
        except CallFailedError as error:
            if self.general is None:
                await self.note(f"{self.router} failed ({error.message}) and there is no general agent", None,
                                "stopped", None, "router_failed")
                raise
            await self.note(f"{self.router} failed ({error.message}): {self.general} answers", None, "fallback",
                            self.general, "router_failed")
            return self.general, None
        return await self._settle(route), route

    async def _settle(self, route: Route) -> str:
        if route.specialist in self.names and route.confidence < self.threshold:
            return await self._doubtful(route)
        try:
            await self.hand(route)
        except HandoffError:
            return await self._unknown(route)
        await self.note(f"→ {route.specialist} ({route.confidence:.0%}): {route.reason}", route, "routed",
                        route.specialist)
        return route.specialist

    async def _unknown(self, route: Route) -> str:
        problem = f"no specialist named {route.specialist!r}"
        if self.general is not None:
            await self.note(f"{problem}: {self.general} answers", route, "fallback", self.general,
                            "unknown_specialist")
            return await self.to_general(route)
        await self.note(f"{problem}: escalated", route, "escalated", None, "unknown_specialist")
        return await decide(
            self.ctx, "invalid_output",
            f"{self.router} routed the task to {route.specialist!r}, who is not on the team, "
            "and there is no general agent to take it",
            {**route.model_dump(mode="json"), "specialists": self.names},
            agent=self.router,
            validate=self._edit(route),
            ways=(
                Way(self._choose("Choose a specialist"), partial(self._settled, route)),
                Way(Choice(id="stop", label=self.stop, action="reject"),
                    partial(self._refused, route, f"{problem} and none was chosen instead")),
            ),
        )

    async def _doubtful(self, route: Route) -> str:
        doubt = f"{route.specialist} at {route.confidence:.0%}, under {self.threshold:.0%}"
        if self.options.on_low_confidence == "general" and self.general is not None:
            await self.note(f"doubtful route ({doubt}): {self.general} answers", route, "fallback",
                            self.general, "low_confidence")
            return await self.to_general(route)
        await self.ctx.emit(
            Handoff, agent=self.router, from_agent=self.router, to_agent=route.specialist, contract="route",
            payload=route.model_dump(mode="json"), confidence=route.confidence, verdict="low_confidence",
        )
        await self.note(f"doubtful route ({doubt}): escalated", route, "escalated", None, "low_confidence")
        refuse = (
            Choice(id="general", label=f"Send it to {self.general}", action="reject") if self.general
            else Choice(id="stop", label=self.stop, action="reject")
        )
        return await decide(
            self.ctx, "low_confidence",
            f"{self.router} would send the task to {route.specialist} but is only "
            f"{route.confidence:.0%} sure (threshold {self.threshold:.0%}): {route.reason}",
            {**route.model_dump(mode="json"), "specialists": self.names},
            agent=self.router,
            validate=self._edit(route),
            ways=(
                Way(Choice(id="send", label=f"Send it to {route.specialist}", action="approve"),
                    partial(self._settled, route)),
                Way(self._choose("Choose another specialist"), partial(self._settled, route)),
                Way(refuse, partial(self._refused, route, f"route to {route.specialist} rejected")),
            ),
        )

    async def _settled(self, route: Route, decision: Decision) -> str:
        """A person (or the policy) kept `route` (approve) or named the specialist (edit): who answers."""
        outcome: RouteOutcome = "edited" if decision.action == "edit" else "approved"
        chosen = await self.hand(decision.edited if decision.action == "edit" else route)
        await self.note(f"{outcome}: → {chosen}", route, outcome, chosen)
        return chosen

    async def _refused(self, route: Route, stop: str, decision: Decision) -> str:
        """`route` was rejected: the general agent answers; with none, the pattern stops
        (`stop` says why)."""
        why = decision.reason or "rejected"
        if self.general is None:
            await self.note(f"route rejected ({why}): stopping", route, "stopped", None, "rejected")
            raise PatternStopped("stopped", f"{stop}: {why}")
        await self.note(f"route rejected ({why}): {self.general} answers", route, "fallback", self.general,
                        "rejected")
        return await self.to_general(route)

    def _choose(self, label: str) -> Choice:
        """The choice of a person naming the specialist themselves."""
        return Choice(
            id="choose", label=label, action="edit", input="pick", field="specialist",
            prompt="the specialist who answers", required=True, picks=list(self.names),
        )

    def _edit(self, route: Route) -> Callable[[Any], Route]:
        """A person's edit, validated by the contract; what it leaves out keeps the route's value."""

        def validate(edited: Any) -> Route:
            return self.contract.validate({**route.model_dump(), **edited} if isinstance(edited, dict) else edited)

        return validate


async def _answer(ctx: RunContext, agent: AgentSpec, task: str, route: Route | None, router: str, local_id: str) -> str:
    """`agent` answers the whole task, with the route it came by as data."""
    answer_ctx = ctx.span(local_id)
    context = list(ctx.inputs)
    if route is not None:
        context.append(AgentOutput(
            router, f"specialist: {route.specialist}\nconfidence: {route.confidence:.2f}\nreason: {route.reason}",
            title="route",
        ))
    prompt = f"Task: {task}\n\nThis task was routed to you as the team's {agent.role}. Answer it completely."
    async with answer_ctx.step(agent.name, local_id, f"Answer as {agent.role}") as step:
        step.output = await answer_ctx.call(agent.name, prompt, context=context, step_id=step.id)
        ctx.record_partial(f"answer · {agent.name}", step.output)
    return step.output


async def run(ctx: RunContext, task: str, options: Options) -> str:
    problem = team_problem(ctx, options)
    if problem is not None:
        await ctx.fail(problem, agent=ctx.lead().name)
    router = _Router(ctx, options)
    agent, route = await router.choose(task)

    async def answer(attempt: Attempt[CallFailedError]) -> str:
        local_id = "answer" if attempt.first else "answer:general"
        return await _answer(ctx, router.agents[attempt.agent], task, route, router.router, local_id)

    async def fall_back(failure: Failure[CallFailedError], general: str) -> None:
        await router.note(f"{failure.agent} failed ({failure.message}): {general} answers", route, "fallback",
                          general, "specialist_failed")

    general = [router.general] if router.general is not None and agent != router.general else []
    tried = await in_order([agent, *general], answer, failed=fall_back)
    if not tried.done:
        raise tried.last.error
    return tried.output  # type: ignore[return-value]

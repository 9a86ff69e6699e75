"""Specialist routing: a router reads the task and sends it to the one specialist who
should answer it; an unknown or doubtful route goes to a general agent or to a person.

The router (the team's lead) makes a structured choice, `Route`: which specialist,
why, and how sure it is. What happens next:

- a confident route to a specialist (or to the general agent): that agent answers;
- a specialist the team does not have: the general agent answers (with no general
  agent on the team, the route escalates as `invalid_output`: edit picks a
  specialist, reject stops the session);
- a route under the confidence threshold (`Options.min_confidence`, else the
  policy's): escalates as `low_confidence` (approve keeps the route, edit picks
  another specialist, reject sends the task to the general agent), or goes
  straight to the general agent when `on_low_confidence` is "general";
- a router whose call fails for good: the general agent answers;
- a chosen specialist whose call fails for good: the general agent answers.

The chosen agent answers the whole task; its answer is the result.

Pattern notes (topic "route", one per routing decision; a route that escalates
gets a second note once it is decided). `data` keys:
    specialist  the router's choice (None when the router failed)
    reason      the router's reason (None when the router failed)
    confidence  the router's confidence, 0..1 (None when the router failed)
    outcome     "routed" | "escalated" | "approved" | "edited" | "fallback" | "stopped"
    handled_by  the agent that answers (None while escalated, or when stopped)
    cause       why it fell back or stopped: "unknown_specialist", "low_confidence",
                "rejected", "router_failed", "specialist_failed", "no_specialists"
                (None otherwise)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.agents import LEAD_MODEL, WORKER_MODEL, AgentSpec, TeamSpec
from engine.context import RunContext
from engine.events import Handoff, PatternNote, StepFinished, StepStarted
from engine.guards import CallFailedError, StopSession
from engine.trust import AgentOutput

NAME = "routing"
TITLE = "Specialist routing"
SUMMARY = "A router sends the task to the one specialist who fits it; doubtful routes go to a generalist or to you."
USE_WHEN = "Requests come in different kinds, each best handled by a different expert."

Outcome = Literal["routed", "escalated", "approved", "edited", "fallback", "stopped"]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """A route less sure than this is doubtful (None: the policy's low-confidence threshold)."""
    on_low_confidence: Literal["escalate", "general"] = "escalate"
    """What a doubtful route does: escalate (the policy decides who is asked) or go to the general agent."""
    general: str = Field(default="general", min_length=1, max_length=32)
    """The agent that takes what no specialist should: unknown and rejected routes, failures."""


def team() -> TeamSpec:
    return TeamSpec(
        name="routing",
        description="A router in front of four specialists and a generalist who takes the rest.",
        lead="router",
        agents=(
            AgentSpec(
                name="router",
                role="router who classifies each request and sends it to the right specialist",
                model=LEAD_MODEL,
                temperature=0.2,
                capabilities=("triage", "classification"),
            ),
            AgentSpec(
                name="billing",
                role="billing specialist",
                model=WORKER_MODEL,
                capabilities=("invoices", "payments", "refunds", "subscriptions", "pricing", "charges"),
            ),
            AgentSpec(
                name="technical",
                role="technical support engineer",
                model=WORKER_MODEL,
                temperature=0.3,
                capabilities=("api", "rest", "integration", "errors", "performance", "rate limits", "outages"),
            ),
            AgentSpec(
                name="security",
                role="security engineer",
                model=WORKER_MODEL,
                temperature=0.3,
                capabilities=("authentication", "access control", "vulnerabilities", "abuse", "encryption"),
            ),
            AgentSpec(
                name="data",
                role="data analyst",
                model=WORKER_MODEL,
                capabilities=("sql", "reports", "metrics", "dashboards", "exports", "analytics"),
            ),
            AgentSpec(
                name="general",
                role="generalist who handles anything the specialists do not cover",
                model=WORKER_MODEL,
                capabilities=("general questions",),
            ),
        ),
    )


class Route(BaseModel):
    """Which specialist should answer the task, why, and how sure you are."""

    specialist: str = Field(description="Name of the specialist (or the general agent) who should answer")
    reason: str = Field(description="One sentence: why this specialist fits the task")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are this is the right specialist")


def route_prompt(task: str, specialists: list[AgentSpec], general: str | None) -> str:
    """The router's instructions: the task and who it can be sent to."""
    lines = [f"- {agent.name}: {_describe(agent)}" for agent in specialists]
    prompt = f"Task: {task}\n\nChoose the one specialist who should answer this task. Specialists:\n" + "\n".join(lines)
    if general is not None:
        prompt += f"\n\nIf none of them fits, choose {general}, who handles anything else."
    return prompt + "\n\nGive the specialist's exact name, one sentence on why, and your confidence."


def _describe(agent: AgentSpec) -> str:
    skills = f" ({', '.join(agent.capabilities)})" if agent.capabilities else ""
    return f"{agent.role}{skills}"


class _Router:
    """One routing decision, from the router's call to the agent who answers."""

    def __init__(self, ctx: RunContext, options: Options) -> None:
        self.ctx = ctx.span("route")
        self.router = ctx.lead().name
        general = ctx.team.get(options.general)
        if (general is None or general.team is not None) and "general" in options.model_fields_set:
            raise StopSession("failed", f"routing: no agent named {options.general!r} to be the general agent")
        self.general = options.general if general is not None and general.team is None else None
        self.specialists = [
            agent for agent in ctx.team.agents
            if agent.team is None and agent.name not in (self.router, self.general)
        ]
        self.options = options
        threshold = options.min_confidence
        self.threshold = ctx.gate.policy.low_confidence_threshold if threshold is None else threshold

    @property
    def names(self) -> list[str]:
        return [agent.name for agent in self.specialists]

    async def note(self, text: str, route: Route | None, outcome: Outcome, handled_by: str | None,
                   cause: str | None = None) -> None:
        data: dict[str, Any] = {
            "specialist": route.specialist if route else None,
            "reason": route.reason if route else None,
            "confidence": route.confidence if route else None,
            "outcome": outcome,
            "handled_by": handled_by,
            "cause": cause,
        }
        await self.ctx.emit(PatternNote, agent=self.router, topic="route", text=text, data=data)

    async def handoff(self, route: Route, to_agent: str, verdict: Literal["accepted", "invalid", "low_confidence"],
                      error: str | None = None) -> None:
        await self.ctx.emit(
            Handoff, agent=self.router, from_agent=self.router, to_agent=to_agent, contract="route",
            payload=route.model_dump(mode="json"), confidence=route.confidence, verdict=verdict, error=error,
        )

    async def choose(self, task: str) -> tuple[str, Route | None]:
        """The agent who answers, and the route that chose it (None when the router failed)."""
        if not self.specialists:
            if self.general is None:
                raise StopSession("failed", "routing needs at least one specialist or a general agent on the team")
            await self.note(f"no specialists on the team: {self.general} answers", None, "fallback",
                            self.general, "no_specialists")
            return self.general, None
        await self.ctx.turn(self.router)
        await self.ctx.emit(
            StepStarted, agent=self.router, step_id="route", title="Choose a specialist", assigned_to=self.router
        )
        try:
            route = await self.ctx.call(
                self.router, route_prompt(task, self.specialists, self.general), schema=Route, step_id="route"
            )
        except CallFailedError as error:
            await self.ctx.emit(
                StepFinished, agent=self.router, step_id="route", status="error", error=error.message
            )
            return await self._router_failed(error)
        summary = f"{route.specialist} ({route.confidence:.0%}): {route.reason}"
        self.ctx.record_partial(f"route · {self.router}", summary)
        await self.ctx.emit(StepFinished, agent=self.router, step_id="route", status="done", output=summary)
        return await self._settle(route), route

    async def _router_failed(self, error: CallFailedError) -> tuple[str, None]:
        if self.general is None:
            await self.note(f"{self.router} failed ({error.message}) and there is no general agent", None,
                            "stopped", None, "router_failed")
            raise error
        await self.note(f"{self.router} failed ({error.message}): {self.general} answers", None, "fallback",
                        self.general, "router_failed")
        return self.general, None

    async def _settle(self, route: Route) -> str:
        if route.specialist == self.general:
            await self.handoff(route, route.specialist, "accepted")
            await self.note(f"→ {route.specialist} ({route.confidence:.0%}): {route.reason}", route, "routed",
                            route.specialist)
            return route.specialist
        if route.specialist not in self.names:
            return await self._unknown(route)
        if route.confidence < self.threshold:
            return await self._doubtful(route)
        await self.handoff(route, route.specialist, "accepted")
        await self.note(f"→ {route.specialist} ({route.confidence:.0%}): {route.reason}", route, "routed",
                        route.specialist)
        return route.specialist

    async def _unknown(self, route: Route) -> str:
        problem = f"no specialist named {route.specialist!r} (specialists: {', '.join(self.names)})"
        await self.handoff(route, route.specialist, "invalid", problem)
        if self.general is not None:
            await self.note(f"{problem}: {self.general} answers", route, "fallback", self.general,
                            "unknown_specialist")
            await self.handoff(route, self.general, "accepted")
            return self.general
        await self.note(f"{problem}: escalated", route, "escalated", None, "unknown_specialist")
        decision = await self.ctx.escalate(
            "invalid_output",
            f"{self.router} routed the task to {route.specialist!r}, who is not on the team, "
            "and there is no general agent to take it",
            {**route.model_dump(mode="json"), "specialists": self.names},
            agent=self.router,
            options=("edit", "reject"),
            validate=self._specialist_edit,
            labels={"edit": "Choose a specialist", "reject": "Stop the session"},
        )
        if decision.action == "approve":  # a blanket policy cannot approve a specialist who does not exist
            await self.note(f"{problem}: nobody chose a specialist, stopping", route, "stopped", None,
                            "unknown_specialist")
            raise StopSession("stopped", f"{problem}, and no specialist was chosen instead")
        return await self._decided(route, decision.action, decision.edited, decision.reason)

    async def _doubtful(self, route: Route) -> str:
        doubt = f"{route.specialist} at {route.confidence:.0%}, under {self.threshold:.0%}"
        if self.options.on_low_confidence == "general" and self.general is not None:
            await self.note(f"doubtful route ({doubt}): {self.general} answers", route, "fallback",
                            self.general, "low_confidence")
            await self.handoff(route, self.general, "accepted")
            return self.general
        await self.handoff(route, route.specialist, "low_confidence")
        await self.note(f"doubtful route ({doubt}): escalated", route, "escalated", None, "low_confidence")
        fallback = f"Send it to {self.general}" if self.general else "Stop the session"
        decision = await self.ctx.escalate(
            "low_confidence",
            f"{self.router} would send the task to {route.specialist} but is only "
            f"{route.confidence:.0%} sure (threshold {self.threshold:.0%}): {route.reason}",
            {**route.model_dump(mode="json"), "specialists": self.names},
            agent=self.router,
            options=("approve", "edit", "reject"),
            validate=self._specialist_edit,
            labels={
                "approve": f"Send it to {route.specialist}",
                "edit": "Choose another specialist",
                "reject": fallback,
            },
        )
        return await self._decided(route, decision.action, decision.edited, decision.reason)

    async def _decided(self, route: Route, action: str, edited: Any, reason: str | None) -> str:
        if action == "approve":
            await self.handoff(route, route.specialist, "accepted")
            await self.note(f"approved: → {route.specialist}", route, "approved", route.specialist)
            return route.specialist
        if action == "edit":
            chosen = edited["specialist"]
            await self.handoff(route.model_copy(update={"specialist": chosen}), chosen, "accepted")
            await self.note(f"edited: → {chosen}", route, "edited", chosen)
            return chosen
        why = reason or "rejected"
        if self.general is None:
            await self.note(f"route rejected ({why}): stopping", route, "stopped", None, "rejected")
            raise StopSession("stopped", f"route to {route.specialist} rejected: {why}")
        await self.handoff(route.model_copy(update={"specialist": self.general}), self.general, "accepted")
        await self.note(f"route rejected ({why}): {self.general} answers", route, "fallback", self.general,
                        "rejected")
        return self.general

    def _specialist_edit(self, edited: Any) -> dict[str, Any]:
        """An edit names a specialist (or the general agent) on the team."""
        name = edited.get("specialist") if isinstance(edited, dict) else None
        allowed = self.names + ([self.general] if self.general else [])
        if name not in allowed:
            raise ValueError(f"specialist must be one of {', '.join(allowed)}")
        return {**edited, "specialist": name}


async def _answer(ctx: RunContext, agent: str, task: str, route: Route | None, router: str, span: str) -> str:
    """`agent` answers the whole task, with the route it came by as data."""
    spec = ctx.team.get(agent)
    answer_ctx = ctx.span(span)
    await answer_ctx.turn(agent)
    role = spec.role if spec is not None else agent
    await answer_ctx.emit(StepStarted, agent=agent, step_id=span, title=f"Answer as {role}", assigned_to=agent)
    prompt = f"Task: {task}\n\nThis task was routed to you as the team's {role}. Answer it completely."
    context = []
    if route is not None:
        context.append(AgentOutput(
            router, f"specialist: {route.specialist}\nconfidence: {route.confidence:.2f}\nreason: {route.reason}",
            title="route",
        ))
    try:
        answer = await answer_ctx.call(agent, prompt, context=context, step_id=span)
    except CallFailedError as error:
        await answer_ctx.emit(StepFinished, agent=agent, step_id=span, status="error", error=error.message)
        raise
    ctx.record_partial(f"answer · {agent}", answer)
    await answer_ctx.emit(StepFinished, agent=agent, step_id=span, status="done", output=answer)
    return answer


async def run(ctx: RunContext, task: str, options: Options) -> str:
    router = _Router(ctx, options)
    agent, route = await router.choose(task)
    try:
        return await _answer(ctx, agent, task, route, router.router, "answer")
    except CallFailedError as error:
        if router.general is None or agent == router.general:
            raise
        await router.note(f"{agent} failed ({error.message}): {router.general} answers", route, "fallback",
                          router.general, "specialist_failed")
        return await _answer(ctx, router.general, task, route, router.router, "answer:general")

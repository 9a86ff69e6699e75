"""`BudgetGuard`: the session's limits, checked before every call and delegation
and while replies stream, and the one escalation that asks to raise a used-up one.

One guard per session (`Run.budget`): when several branches run out at once, they
all wait on the same question, asked once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from engine.budgets import RESOURCES, Resource, Streaming, crossed, new_limit_of
from engine.events import BudgetUpdated, Choice, Usage
from engine.formats import amount
from engine.guards import StopSession

if TYPE_CHECKING:
    from engine.context import RunContext
    from engine.run.shared import Run

CALL_RESOURCES: tuple[Resource, ...] = ("tokens", "cost", "seconds")
"""What a model call is checked against (a delegation checks turns too)."""


class BudgetGuard:
    """The budgets of one session: checks, `budget.updated` events, raising a limit."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._decision: asyncio.Task[bool] | None = None
        """The question asked about a used-up budget, while it is pending (or its answer)."""

    async def ensure(self, ctx: RunContext, resources: tuple[Resource, ...] = CALL_RESOURCES) -> None:
        """Return while the budgets have room; when one is used up, ask once for the
        whole session (from `ctx`) whether to extend it, and raise `StopSession` if not."""
        run = self._run
        while True:
            resource = crossed(run.limits, run.used(), resources)
            if resource is None:
                return
            if self._decision is None or self._decision.done() and self._decision.result():
                self._decision = asyncio.ensure_future(self._ask(ctx, resource))
            extended = await asyncio.shield(self._decision)
            if not extended:
                raise StopSession("stopped", f"{resource} budget used up")

    async def turn(self, ctx: RunContext) -> None:
        """Count one delegation against the turn budget (after checking every budget)."""
        await self.ensure(ctx, RESOURCES)
        self._run.spent.turns += 1
        await self.report(ctx)

    async def start(self, ctx: RunContext) -> None:
        """The session's first `budget.updated`. With a cost limit set, it names the team's
        models that have no price (reason "unpriced"): the limit counts priced calls only."""
        run = self._run
        unpriced = [model for model in run.team.models if run.prices.price(model) is None]
        if run.limits.cost is not None and unpriced:
            await self.report(ctx, "unpriced", unpriced)
        else:
            await self.report(ctx)

    async def report(self, ctx: RunContext, reason: str = "usage", unpriced_models: list[str] | None = None) -> None:
        """Emit `budget.updated`: the limits and what the session has used."""
        self.tell(ctx, reason, unpriced_models)
        await ctx.run.bus.wait_for_room()

    def tell(self, ctx: RunContext, reason: str = "usage", unpriced_models: list[str] | None = None) -> None:
        """Publish `budget.updated` at once, without waiting for a reader that is behind
        (`report` waits: use it wherever the caller can)."""
        run = self._run
        run.spent.seconds = run.elapsed()
        ctx.publish(
            BudgetUpdated,
            limits=run.limits,
            tokens=run.spent.tokens,
            cost=round(run.spent.cost, 6),
            turns=run.spent.turns,
            seconds=round(run.spent.seconds, 3),
            calls=run.calls,
            reason=reason,
            unpriced=run.spent.unpriced,
            unpriced_models=unpriced_models or [],
        )

    def limits_calls(self) -> bool:
        """Whether a budget limits tokens, cost or time: only then is a reply checked as it streams."""
        limits = self._run.limits
        return limits.tokens is not None or limits.cost is not None or limits.seconds is not None

    def streamed_past(self, flight: Streaming, model: str, usage: Usage) -> Resource | None:
        """Note what a streaming call has used so far; the budget it used up, if any.
        Called only while some budget limits tokens, cost or time."""
        run = self._run
        limits = run.limits
        flight.tokens = usage.total
        if limits.cost is not None:
            flight.cost = run.prices.cost(model, usage) or 0.0  # a cost limit counts priced calls only
        return crossed(limits, run.used(), CALL_RESOURCES)

    def cancel(self) -> None:
        """Drop a pending question (the session is ending)."""
        if self._decision is not None and not self._decision.done():
            self._decision.cancel()

    async def _ask(self, ctx: RunContext, resource: Resource) -> bool:
        run = self._run
        limit = run.limits.get(resource)
        used = round(run.used().get(resource), 6)
        suggested = run.limits.raised(resource, used)
        payload = {"resource": resource, "limit": limit, "used": used, "new_limit": suggested}

        def validate(edited: Any) -> dict[str, Any]:
            return {**payload, "new_limit": new_limit_of(edited, payload)}

        decision = await ctx.escalate(
            "budget",
            f"the {resource} budget is used up ({amount(resource, used)} of {amount(resource, limit)}); "
            f"approve to raise it to {amount(resource, suggested)}, or reject to stop with what is done",
            payload,
            validate=validate,
            choices=(
                Choice(id="raise", label=f"Raise it to {amount(resource, suggested)}", action="approve"),
                Choice(
                    id="set_limit", label="Set another limit", action="edit", input="number", field="new_limit",
                    prompt=f"the new {resource} limit (more than {amount(resource, used)})", required=True,
                ),
                Choice(id="stop", label="Stop with what is done", action="reject"),
            ),
        )
        if decision.action == "reject":
            return False
        new_limit = decision.edited["new_limit"] if decision.action == "edit" else suggested
        run.limits = run.limits.extended(resource, new_limit)
        await self.report(ctx, "extended")
        return True

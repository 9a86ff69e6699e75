"""Budget limits and what has been spent against them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Resource = Literal["tokens", "cost", "turns", "seconds"]
RESOURCES: tuple[Resource, ...] = ("tokens", "cost", "turns", "seconds")
WHOLE: tuple[Resource, ...] = ("tokens", "turns")
"""Budgets counted in whole numbers."""
RAISE = 1.5
"""An approved raise: half as much again as the larger of the limit and what is used."""
EDITABLE = "new_limit"
"""The one field of a budget escalation's payload a person may change."""


class Limits(BaseModel):
    """Budgets for one session; None means unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int | None = Field(default=None, gt=0, lt=2**63)
    """Input plus output tokens over every call."""
    cost: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """US dollars, priced per model."""
    turns: int | None = Field(default=None, gt=0, lt=2**63)
    """Delegations: each subtask, stage, round contribution or bid handed to an agent."""
    seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Wall time since the session started."""

    def get(self, resource: Resource) -> float | None:
        return getattr(self, resource)

    def raised(self, resource: Resource, used: float) -> float:
        """The limit an approval raises a used-up budget to: RAISE times the larger of
        the limit and what is used. Raising the limit alone would not cover what was
        used past it (calls running side by side overshoot; 1 token "raised by half"
        is still 1), and the next call would ask again at once."""
        value = max(self.get(resource) or 0, used) * RAISE
        return math.ceil(value) if resource in WHOLE else round(value, 6)

    def extended(self, resource: Resource, new_limit: float) -> Limits:
        """These limits with one set to `new_limit` (rounded up for a whole-number budget)."""
        value: float = math.ceil(new_limit) if resource in WHOLE else new_limit
        return self.model_copy(update={resource: value})


def new_limit_of(edited: Any, payload: dict[str, Any]) -> float:
    """The new limit in a person's edit of a budget escalation's `payload`: a bare number,
    or `{"new_limit": N}` (the rest of the payload may come back, unchanged). ValueError,
    in words, for anything else: the limit is theirs to change, what is used is not."""
    if isinstance(edited, dict):
        changed = sorted(k for k in edited if k != EDITABLE and (k not in payload or edited[k] != payload[k]))
        if changed:
            raise ValueError(f"only {EDITABLE} can be changed, not {', '.join(map(str, changed))}")
        value = edited.get(EDITABLE)
    else:
        value = edited
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{EDITABLE} must be a number")
    if value >= 2**63:
        raise ValueError(f"{EDITABLE} is too large")
    used = payload["used"]
    if value <= used:
        raise ValueError(f"{EDITABLE} must be more than what is used ({used:g} {payload['resource']})")
    return value


@dataclass
class Spent:
    """What a session has used so far."""

    tokens: int = 0
    cost: float = 0.0
    """What the calls with a price cost: all a cost limit counts."""
    turns: int = 0
    seconds: float = 0.0
    unpriced: int = 0
    """Calls (and failed attempts that used tokens) whose model has no price."""

    def get(self, resource: Resource) -> float:
        return getattr(self, resource)

    def plus(self, streaming: Iterable[Streaming]) -> Spent:
        """What is used counting calls still streaming, whose usage is not yet accounted."""
        tokens, cost = self.tokens, self.cost
        for call in streaming:
            tokens += call.tokens
            cost += call.cost
        return Spent(tokens, cost, self.turns, self.seconds, self.unpriced)


@dataclass
class Streaming:
    """What one call still streaming has used so far: estimated from the text it sent
    and the text that came back, until the provider reports its usage."""

    tokens: int = 0
    cost: float = 0.0
    """What it has cost so far, if its model has a price (else 0: a cost limit counts priced calls)."""


def crossed(limits: Limits, spent: Spent, resources: tuple[Resource, ...] = RESOURCES) -> Resource | None:
    """The first of `resources` whose budget is used up, if any."""
    for resource in resources:
        limit = limits.get(resource)
        if limit is not None and spent.get(resource) >= limit:
            return resource
    return None

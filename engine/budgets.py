"""Budget limits and what has been spent against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Resource = Literal["tokens", "cost", "turns", "seconds"]
RESOURCES: tuple[Resource, ...] = ("tokens", "cost", "turns", "seconds")


class Limits(BaseModel):
    """Budgets for one session; None means unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: int | None = Field(default=None, gt=0)
    """Input plus output tokens over every call."""
    cost: float | None = Field(default=None, gt=0)
    """US dollars, priced per model."""
    turns: int | None = Field(default=None, gt=0)
    """Delegations: each subtask, stage, round contribution or bid handed to an agent."""
    seconds: float | None = Field(default=None, gt=0)
    """Wall time since the session started."""

    def get(self, resource: Resource) -> float | None:
        return getattr(self, resource)

    def extended(self, resource: Resource, new_limit: float | None = None) -> Limits:
        """These limits with one raised: to `new_limit`, or by half again."""
        current = self.get(resource)
        if new_limit is None:
            new_limit = None if current is None else current * 1.5
        if resource in ("tokens", "turns") and new_limit is not None:
            new_limit = int(new_limit)
        return self.model_copy(update={resource: new_limit})


@dataclass
class Spent:
    """What a session has used so far."""

    tokens: int = 0
    cost: float = 0.0
    turns: int = 0
    seconds: float = 0.0

    def get(self, resource: Resource) -> float:
        return getattr(self, resource)


def crossed(limits: Limits, spent: Spent, resources: tuple[Resource, ...] = RESOURCES) -> Resource | None:
    """The first of `resources` whose budget is used up, if any."""
    for resource in resources:
        limit = limits.get(resource)
        if limit is not None and spent.get(resource) >= limit:
            return resource
    return None

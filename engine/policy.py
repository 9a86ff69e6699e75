"""The approval policy: which escalation triggers ask a human, and what the rest get."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Trigger = Literal[
    "plan",
    "low_confidence",
    "budget",
    "repeated_failure",
    "reviewer_deadlock",
    "tool_use",
    "invalid_output",
    "conflict",
    "no_bid",
]
TRIGGERS: tuple[str, ...] = get_args(Trigger)

Mode = Literal["ask", "approve", "reject"]

TRIGGER_HELP: dict[str, str] = {
    "plan": "the lead's plan, before any worker starts",
    "low_confidence": "a handoff or route whose confidence is under the threshold",
    "budget": "a budget (tokens, cost, turns, time) was crossed",
    "repeated_failure": "the same agent failed twice in a row",
    "reviewer_deadlock": "the reviewer still rejects after the last revision",
    "tool_use": "an agent wants to use a tool",
    "invalid_output": "a handoff payload broke its contract and there is no fallback",
    "conflict": "two agents wrote the same blackboard key",
    "no_bid": "no agent made a valid bid",
}


class ApprovalPolicy(BaseModel):
    """Decides, per trigger, whether an escalation asks a human or is settled by rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Mode = "ask"
    """What every trigger gets unless `triggers` says otherwise."""
    triggers: dict[Trigger, Mode] = Field(default_factory=dict)
    """Per-trigger overrides of `default`."""
    low_confidence_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    """Handoffs and routes below this confidence escalate."""
    timeout_s: float | None = Field(default=None, gt=0)
    """A human decision not made within this many seconds takes `timeout_default`."""
    timeout_default: Literal["approve", "reject"] = "reject"

    def mode_for(self, trigger: str) -> tuple[Mode, str]:
        """The mode for a trigger and the name of the rule that chose it."""
        if trigger in self.triggers:
            mode = self.triggers[trigger]  # type: ignore[index]
            return mode, f"policy: {trigger}={mode}"
        return self.default, f"policy: default={self.default}"

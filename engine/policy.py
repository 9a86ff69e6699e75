"""The approval policy: which escalation triggers ask a human, and what the rest get."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

STRICTNESS: dict[str, int] = {"reject": 0, "ask": 1, "approve": 2}
"""Which tool rule wins when several match a tool: the strictest (reject, then ask, then approve)."""

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
    tools: dict[str, Mode] = Field(default_factory=dict)
    """Rules per tool: a glob over tool names ("git.*", "read_file", "*.delete*"; case
    sensitive) and its mode. Of the rules that match a tool the strictest decides, whatever
    their order: reject beats ask beats approve. A tool no rule matches gets `tool_use`'s mode."""

    @field_validator("tools")
    @classmethod
    def _patterns_ok(cls, tools: dict[str, Mode]) -> dict[str, Mode]:
        for pattern in tools:
            if not pattern.strip():
                raise ValueError("a tool rule needs a tool name or a glob, not an empty string")
        return tools

    def mode_for(self, trigger: str) -> tuple[Mode, str]:
        """The mode for a trigger and the name of the rule that chose it."""
        if trigger in self.triggers:
            mode = self.triggers[trigger]  # type: ignore[index]
            return mode, f"policy: {trigger}={mode}"
        return self.default, f"policy: default={self.default}"

    def mode_for_tool(self, tool: str) -> tuple[Mode, str]:
        """The mode for a use of `tool` ("git.status") and the rule that chose it: the
        strictest matching tool rule (the first written among equals), else `tool_use`'s."""
        matching = [(pattern, mode) for pattern, mode in self.tools.items() if fnmatchcase(tool, pattern)]
        if not matching:
            return self.mode_for("tool_use")
        pattern, mode = min(matching, key=lambda rule: STRICTNESS[rule[1]])
        return mode, f"policy: tools[{pattern}]={mode}"

    def decided_by(self, mode: Mode) -> ApprovalPolicy:
        """This policy with `mode` for every trigger (a run's "ask me", "approve everything",
        "reject everything"). Tool rules that approve or reject stand; those that ask take
        `mode`, so nobody is asked when nobody is there to answer."""
        tools = {pattern: (mode if rule == "ask" else rule) for pattern, rule in self.tools.items()}
        return self.model_copy(update={"default": mode, "triggers": {}, "tools": tools})

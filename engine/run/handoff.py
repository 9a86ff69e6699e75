"""A handoff: one agent's work passed to another under a contract (engine/handoffs.py
holds the contracts). Every handoff is a `handoff` event with its verdict; a broken
contract is an error, a low-confidence one an escalation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.events import Choice, ErrorEvent, Handoff
from engine.handoffs import HandoffContract, HandoffError, HandoffRejected, as_data

if TYPE_CHECKING:
    from engine.context import RunContext


async def hand_off(
    ctx: RunContext, contract: HandoffContract, payload: Any, *, from_agent: str, to_agent: str,
    choices: Sequence[Choice] = (),
) -> Any:
    """Pass `payload` from one agent to another under `contract` (see `RunContext.handoff`)."""
    data = as_data(payload)

    async def record(verdict: str, value: Any, **more: Any) -> None:
        await ctx.emit(
            Handoff, agent=from_agent, from_agent=from_agent, to_agent=to_agent,
            contract=contract.name, payload=as_data(value), verdict=verdict, **more,
        )

    try:
        value = contract.validate(data)
    except ValueError as error:
        await record("invalid", data, error=str(error))
        await ctx.emit(
            ErrorEvent, agent=from_agent, error_type="invalid_output",
            message=f"handoff {from_agent} → {to_agent} broke contract {contract.name}: {error}",
        )
        raise HandoffError(contract.name, str(error)) from None
    confidence = contract.confidence_of(value)
    threshold = contract.min_confidence
    if threshold is None:
        threshold = ctx.gate.policy.low_confidence_threshold
    if confidence is not None and confidence < threshold:
        await record("low_confidence", data, confidence=confidence)
        decision = await ctx.escalate(
            "low_confidence",
            f"{from_agent} hands {to_agent} work it is only {confidence:.0%} confident in "
            f"(contract {contract.name} asks for {threshold:.0%})",
            data, agent=from_agent, validate=contract.validate, choices=choices,
            options=("approve", "edit", "reject"),
        )
        if decision.action == "reject":
            raise HandoffRejected(contract.name, decision.reason or "rejected")
        if decision.action == "edit":
            value = decision.edited
    await record("accepted", value, confidence=contract.confidence_of(value))
    return value

"""Escalations: decisions that wait for a human (or a rule) while the rest of the team works.

A branch that escalates awaits its own future, so only that branch pauses.
Whoever plays the human (the terminal UI, the headless prompt) watches for
`escalation.requested` events with `human=True` and answers through
`ApprovalGate.resolve`, which validates edits before accepting them. An
escalation offers named choices (`Choice`: "Allow one more revision"), each
making one decision; `answer` turns the one a person took, with what they
typed for it, into that decision, and the choice's id is recorded with it.

A tool use names its tool (`ToolAsked`): the policy's tool rules route it, and a
person may always allow that tool, with any input or with exactly this input,
for the rest of the session (`allow_tool`).

Decisions stand: an escalation raised at the place (`DecisionPlace`) where a recorded
run of the session raised it, about the same payload, takes the decision taken then
(`Record.decision`), by whoever took it, without asking anyone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from engine.events import DEFAULT_CHOICES, Choice, DecisionAction, EscalationRequested, EscalationResolved, ToolAsked
from engine.formats import one_line
from engine.policy import ApprovalPolicy

if TYPE_CHECKING:
    from engine.context import RunContext
    from engine.run.record import DecisionPlace


FORK_RULE = "changed at the fork"
"""The rule of a decision a person changed at a fork (`tui.forking`): it reads as that, not
as a decision taken before."""


class DecisionError(ValueError):
    """A decision the escalation cannot take: an option it does not offer, an invalid edit."""


@dataclass(frozen=True)
class Decision:
    action: DecisionAction
    reason: str | None = None
    edited: Any = None
    """The edited payload, for `edit`."""
    by: str = "human"
    rule: str | None = None
    """Set when the decision comes from a standing rule rather than a one-off choice."""
    option: str | None = None
    """The id of the named choice taken; None: the one for `action`."""


def answer(choice: Choice, text: str = "") -> Decision:
    """A person's decision: `choice`, with what they typed for its input. Raises
    `DecisionError` for input it cannot take (JSON that does not parse, a value that is
    not one of its picks, nothing where something is required)."""
    text = text.strip()
    if choice.input == "reason":
        return Decision(choice.action, reason=text or "rejected without a reason", option=choice.id)
    if choice.input == "json":
        try:
            edited = json.loads(text)
        except json.JSONDecodeError as error:
            raise DecisionError(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None
        return Decision(choice.action, edited=edited, option=choice.id)
    if choice.input in ("text", "number", "pick"):
        if not text:
            if choice.required:
                raise DecisionError(f"{choice.label}: {choice.prompt or choice.field or 'a value'} is needed")
            return Decision(choice.action, option=choice.id)
        value: Any = text
        if choice.input == "pick" and text not in choice.picks:
            raise DecisionError(f"choose one of: {', '.join(choice.picks)}")
        if choice.input == "number":
            value = _number(text, choice.field or "the value")
        return Decision(choice.action, edited={choice.field: value}, option=choice.id)
    return Decision(choice.action, option=choice.id)


def _number(text: str, name: str) -> int | float:
    """A typed number ("1,500", "2.5", "$3"): an int when it is whole."""
    try:
        value = float(text.replace(",", "").replace("_", "").lstrip("$"))
    except ValueError:
        raise DecisionError(f"{name} must be a number, not {text!r}") from None
    return int(value) if value.is_integer() else value


@dataclass
class Escalation:
    id: str
    trigger: str
    reason: str
    payload: Any
    choices: list[Choice]
    validate: Callable[[Any], Any] | None
    future: asyncio.Future[Decision] = field(repr=False)
    tool: ToolAsked | None = None

    @property
    def options(self) -> list[DecisionAction]:
        return [choice.action for choice in self.choices]


class ApprovalGate:
    """Routes escalations by policy and holds the ones waiting for a human."""

    def __init__(self, policy: ApprovalPolicy | None = None) -> None:
        self.policy = policy or ApprovalPolicy()
        self.pending: dict[str, Escalation] = {}
        self._allowed: set[str] = set()
        self._allowed_tools: set[str] = set()
        """Tools a person always allows, with any input."""
        self._allowed_inputs: set[tuple[str, str]] = set()
        """(tool, input as canonical JSON) a person always allows."""
        self._count = 0
        self.taken: set[str] = set()
        """Escalation ids already used in the session's record (a resume takes others)."""

    def route(self, trigger: str) -> tuple[str, str]:
        """The mode ("ask", "approve", "reject") for a trigger and the rule that says so."""
        if trigger in self._allowed:
            return "approve", f"human: always allow {trigger}"
        return self.policy.mode_for(trigger)

    def route_tool(self, tool: str, payload: Any, *, unconfined: bool = False) -> tuple[str, str]:
        """The mode for a use of `tool` with input `payload`, and the rule that says so:
        the policy's tool rules; a person's "always allow" lifts only what would ask, and
        never code that would run `unconfined` (sandbox "none"): that is asked every time."""
        mode, rule = self.policy.mode_for_tool(tool)
        if mode != "ask" or unconfined:
            return mode, rule
        if (tool, _canonical(payload)) in self._allowed_inputs:
            return "approve", _allowed_rule(tool, exact=True)
        if tool in self._allowed_tools:
            return "approve", _allowed_rule(tool, exact=False)
        if "tool_use" in self._allowed:
            return "approve", "human: always allow tool_use"
        return mode, rule

    async def request(
        self,
        ctx: RunContext,
        trigger: str,
        reason: str,
        payload: Any = None,
        *,
        agent: str | None = None,
        options: tuple[DecisionAction, ...] = ("approve", "reject"),
        validate: Callable[[Any], Any] | None = None,
        choices: Sequence[Choice] = (),
        tool: ToolAsked | None = None,
        place: DecisionPlace | None = None,
    ) -> Decision:
        """Raise an escalation and wait for its decision (only this branch waits).

        `choices` names what each option does here; the options are theirs when given.
        `tool`: the tool a tool use is about (`payload` is its input), routed by tool rules.
        `place`: where it is raised, for a decision the session's record took there."""
        if choices:
            actions = [choice.action for choice in choices]
            if len(set(actions)) != len(actions) or len({choice.id for choice in choices}) != len(choices):
                raise ValueError(f"choices must differ in action and id: {[c.id for c in choices]}")
            options = tuple(actions)
        named = {choice.action: choice for choice in choices}
        every = [named.get(action) or DEFAULT_CHOICES[action] for action in options]
        before = ctx.run.record.decision(place, payload, ctx.run.task) if place is not None else None
        standing = None if before is None else self._as_decided(before, trigger, options, validate, tool, payload)
        if standing is not None:
            return await self._stands(ctx, standing, trigger, reason, payload, options, every, agent, tool)
        escalation_id = self._next_id()
        mode, rule = (
            self.route_tool(tool.name, payload, unconfined=tool.unconfined)
            if tool is not None else self.route(trigger)
        )
        if mode == "approve" and "approve" not in options:
            # Nothing to approve as it stands (a choice must be made): a person's standing
            # "always allow" still asks; a blanket policy takes the safe way out.
            mode = "ask" if trigger in self._allowed else "reject"
        human = mode == "ask"
        timeout = self.policy.timeout_s if human else None
        default = self._timeout_action(options) if timeout else None
        escalation = Escalation(
            escalation_id, trigger, reason, payload, every, validate, asyncio.get_running_loop().create_future(), tool,
        )
        if human:  # waiting before anyone hears of it, so a listener can answer at once
            self.pending[escalation_id] = escalation
        try:
            await ctx.emit(
                EscalationRequested,
                agent=agent,
                escalation_id=escalation_id,
                trigger=trigger,
                reason=reason,
                payload=payload,
                options=list(options),
                choices=every,
                rule=rule,
                human=human,
                timeout_s=timeout,
                default=default,
                tool=tool,
            )
            if mode == "approve":
                decision = Decision("approve", by="policy")
            elif mode == "reject":
                decision = Decision("reject", reason=f"rejected by {rule}", by="policy")
            else:
                decision = await self._wait_for_human(escalation, timeout)
                rule = decision.rule or rule
        finally:
            self.pending.pop(escalation_id, None)
        await ctx.emit(
            EscalationResolved,
            agent=agent,
            escalation_id=escalation_id,
            trigger=trigger,
            action=decision.action,
            by=decision.by,
            rule=rule,
            reason=decision.reason,
            edited=decision.edited,
            option=decision.option or next((c.id for c in every if c.action == decision.action), None),
        )
        return decision

    def _next_id(self) -> str:
        """A new escalation id ("e1", "e2"...), none the session's record has used."""
        self._count += 1
        while f"e{self._count}" in self.taken:
            self._count += 1
        return f"e{self._count}"

    def _as_decided(
        self, before: EscalationResolved, trigger: str, options: Sequence[DecisionAction],
        validate: Callable[[Any], Any] | None, tool: ToolAsked | None, payload: Any,
    ) -> Decision | None:
        """The recorded decision `before`, taken again; None when it cannot stand here (its
        action is not an option now, its edit no longer validates). A person's standing
        "always allow" it was taken under holds again for the rest of the session."""
        if before.action not in options:
            return None
        edited = before.edited
        if before.action == "edit" and validate is not None:
            try:
                edited = validate(edited)
            except (ValueError, TypeError):
                return None
        if before.rule == f"human: always allow {trigger}":
            self._allowed.add(trigger)
        elif tool is not None and before.rule == _allowed_rule(tool.name, exact=False):
            self._allowed_tools.add(tool.name)
        elif tool is not None and before.rule == _allowed_rule(tool.name, exact=True):
            self._allowed_inputs.add((tool.name, _canonical(payload)))
        rule = before.rule if before.rule == FORK_RULE else f"as decided before: {before.by} ({before.rule})"
        return Decision(before.action, before.reason, edited, before.by, rule, before.option)

    async def _stands(
        self, ctx: RunContext, decision: Decision, trigger: str, reason: str, payload: Any,
        options: Sequence[DecisionAction], every: list[Choice], agent: str | None, tool: ToolAsked | None,
    ) -> Decision:
        """Take a recorded decision again; emitted as asked and resolved (by its rule) when
        the record's replayed work is emitted, else silently (the record holds it already)."""
        if ctx.run.record.emit:
            escalation_id = self._next_id()
            rule = decision.rule or ""
            await ctx.emit(
                EscalationRequested, agent=agent, escalation_id=escalation_id, trigger=trigger, reason=reason,
                payload=payload, options=list(options), choices=every, rule=rule, human=False, tool=tool,
            )
            await ctx.emit(
                EscalationResolved, agent=agent, escalation_id=escalation_id, trigger=trigger,
                action=decision.action, by=decision.by, rule=rule, reason=decision.reason,
                edited=decision.edited, option=decision.option,
            )
        return decision

    async def _wait_for_human(self, escalation: Escalation, timeout: float | None) -> Decision:
        try:
            return await asyncio.wait_for(asyncio.shield(escalation.future), timeout)
        except TimeoutError:
            action = self._timeout_action(escalation.options)
            return Decision(action, reason=f"no decision within {timeout:g}s", by="timeout")

    def _timeout_action(self, options: Sequence[str]) -> DecisionAction:
        """What an unanswered escalation takes: the policy's default, if it is an option here."""
        default = self.policy.timeout_default
        return default if default in options else "reject"

    def resolve(self, escalation_id: str, decision: Decision) -> None:
        """Answer a pending escalation. Raises `DecisionError` (and changes nothing)
        for an unknown id, an option it does not offer, or an edit that does not validate."""
        escalation = self._still_waiting(escalation_id)
        if escalation is None:
            raise DecisionError(f"escalation {escalation_id} is not waiting for a decision")
        if decision.action not in escalation.options:
            raise DecisionError(
                f"{decision.action} is not an option here ({', '.join(escalation.options)})"
            )
        chosen = next(choice for choice in escalation.choices if choice.action == decision.action)
        if decision.option is not None and decision.option != chosen.id:
            raise DecisionError(f"{decision.option} is not a choice here ({', '.join(c.id for c in escalation.choices)})")
        if decision.action == "edit" and escalation.validate is not None:
            try:
                edited = escalation.validate(decision.edited)
            except (ValueError, TypeError) as error:
                raise DecisionError(one_line(error)) from None
            decision = Decision("edit", decision.reason, edited, decision.by, decision.rule)
        escalation.future.set_result(replace(decision, option=chosen.id))

    def waiting(self, escalation_id: str) -> bool:
        """Whether an escalation still waits for a decision (one just resolved has no event yet)."""
        return self._still_waiting(escalation_id) is not None

    def _still_waiting(self, escalation_id: str) -> Escalation | None:
        escalation = self.pending.get(escalation_id)
        return escalation if escalation is not None and not escalation.future.done() else None

    def give_up(self, escalation_id: str, why: str) -> DecisionAction | None:
        """Answer a pending escalation as if nobody had in time (the policy's safe default),
        because whoever was to decide cannot (their prompt failed): `why` says so. The
        action taken; None if it was no longer waiting."""
        escalation = self._still_waiting(escalation_id)
        if escalation is None:
            return None
        action = self._timeout_action(escalation.options)
        rule = f"policy: timeout_default={self.policy.timeout_default}"
        escalation.future.set_result(Decision(action, reason=f"no decision: {why}", by="policy", rule=rule))
        return action

    def allow_always(self, trigger: str) -> None:
        """Approve this trigger for the rest of the session, including what is pending now."""
        self._allowed.add(trigger)
        for escalation in list(self.pending.values()):
            unconfined = escalation.tool is not None and escalation.tool.unconfined
            if escalation.trigger == trigger and "approve" in escalation.options and not escalation.future.done() and not unconfined:
                escalation.future.set_result(
                    Decision("approve", by="human", rule=f"human: always allow {trigger}")
                )

    def allow_tool(self, escalation_id: str, *, exact: bool) -> str:
        """Approve the tool of pending tool use `escalation_id` for the rest of the session:
        with any input, or (`exact`) with exactly the input it has; this one and what is
        pending now included. Tool rules that reject still reject. The rule recorded with
        the decisions it makes. Raises `DecisionError` unless it is a pending tool use."""
        escalation = self._still_waiting(escalation_id)
        if escalation is None:
            raise DecisionError(f"escalation {escalation_id} is not waiting for a decision")
        if escalation.tool is None:
            raise DecisionError(f"escalation {escalation_id} is not a tool use")
        if escalation.tool.unconfined:
            raise DecisionError(f"{escalation.tool.name} runs code unconfined (sandbox \"none\"): it is asked about every time")
        name, payload = escalation.tool.name, _canonical(escalation.payload)
        if exact:
            self._allowed_inputs.add((name, payload))
        else:
            self._allowed_tools.add(name)
        rule = _allowed_rule(name, exact=exact)
        for waiting in list(self.pending.values()):
            same = waiting.tool is not None and waiting.tool.name == name
            if same and (not exact or _canonical(waiting.payload) == payload):
                if "approve" in waiting.options and not waiting.future.done():
                    waiting.future.set_result(Decision("approve", by="human", rule=rule))
        return rule

    def cancel_all(self) -> None:
        for escalation in self.pending.values():
            if not escalation.future.done():
                escalation.future.cancel()


def _canonical(payload: Any) -> str:
    """A tool input as one string, the same for equal inputs whatever their keys' order."""
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)


def _allowed_rule(tool: str, *, exact: bool) -> str:
    """The rule a person's "always allow" of `tool` records with the decisions it makes."""
    return f"always allowed by human: {tool}" + (" with this input" if exact else "")

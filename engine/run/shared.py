"""`Run`: what every context of one session shares.

It owns event stamping (the gap-free `seq`, the clock), accounting (usage and
cost per agent and in total, calls made, what streaming calls have used so far),
the session's settings (team, provider, limits, retry policy, prices), the
record a run of the session may answer from (`engine.run.record`), and the work kept for a partial result.
Nothing here emits events; the context and its parts do.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.agents import TeamSpec
from engine.approvals import ApprovalGate
from engine.budgets import Limits, Spent, Streaming
from engine.bus import EventBus
from engine.events import Usage
from engine.guards import CircuitBreaker, RetryPolicy
from engine.pricing import PriceTable
from engine.providers.base import Provider
from engine.redaction import redact
from engine.run.budget import BudgetGuard
from engine.run.record import CallSpend, Record
from engine.sandbox.runner import CodeRunner
from engine.sandbox.settings import SandboxSettings
from engine.toolbox import Toolbox
from engine.trust import well_formed


@dataclass
class AgentTally:
    """One agent's spending, for its panel and the session row."""

    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    calls: int = 0
    unpriced: int = 0
    """Calls (and failed attempts that used tokens) whose model has no price."""


class Run:
    """State shared by every context of one session."""

    def __init__(
        self,
        *,
        session_id: str,
        task: str,
        team: TeamSpec,
        provider: Provider,
        bus: EventBus,
        gate: ApprovalGate,
        limits: Limits,
        seed: int,
        retry: RetryPolicy,
        call_timeout: float | None,
        breaker: CircuitBreaker,
        prices: PriceTable,
        record: Record | None = None,
        clock: Callable[[], float] = time.time,
        tool_root: Path | None = None,
        max_tool_rounds: int = 8,
        resumed: bool = False,
        scratch: Path | None = None,
        sandbox: SandboxSettings | None = None,
    ) -> None:
        self.session_id = session_id
        self.clock = clock
        self.task = task
        self.team = team
        self.provider = provider
        self.bus = bus
        self.gate = gate
        self.limits = limits
        self.retry = retry
        self.call_timeout = call_timeout
        self.breaker = breaker
        self.prices = prices
        self.record = record if record is not None else Record()
        """What a recorded run of this session answers: finished calls, tool uses, decisions."""
        self.tool_root = tool_root or Path.cwd()
        """The folder agents' tools may look at."""
        self.max_tool_rounds = max_tool_rounds
        """Rounds of tool use one call may take before the model must answer."""
        self.rng = random.Random(seed)
        self.seq = 0
        self.started = time.monotonic()
        self.spent = Spent()
        self.calls = 0
        self.tallies: dict[str, AgentTally] = {}
        self.agent_failures: dict[str, int] = {}
        self.partials: list[tuple[str, str]] = []
        self.step_outcomes: dict[str, str] = {}
        """How each step ended so far (its latest `step.finished` status), by step id."""
        self.streaming: dict[str, Streaming] = {}
        """Calls streaming now, by call key, with what each has used so far."""
        self.secrets: tuple[str, ...] = tuple(getattr(provider, "secrets", ()))
        """The keys the provider holds: no piece of one reaches an event."""
        self.budget = BudgetGuard(self)
        """The budgets' guard: limits checked, and the one escalation to raise one."""
        self.code = CodeRunner(
            sandbox or SandboxSettings(), scratch, lambda: self.tool_root, lambda: self.secrets, lambda: self.session_id,
        )
        """What runs agents' code (`run_python`, `run_shell`) in the session's scratch folder."""
        self.toolbox = Toolbox.built_in(lambda: self.tool_root, lambda: self.secrets, self.code)
        """The tools agents may be given: the built-in ones, and the session's MCP servers'
        once they have started (`engine.session` puts them in)."""
        self.resumed = resumed
        """True when this run carries the session on in its own record: its seq, its time
        worked and what its record used go on from there (replayed calls are not counted again)."""
        if resumed:
            self.seq = self.record.last_seq
            self.started -= self.record.worked_s
            for spend in self.record.spent:
                self._carry(spend)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def seconds_left(self) -> float | None:
        """Time left in the session's time budget; None without one."""
        limit = self.limits.seconds
        return None if limit is None else max(0.0, limit - self.elapsed())

    def used(self) -> Spent:
        """What the session has used by now, counting calls still streaming: what every
        budget is checked against, before a call and while one streams."""
        self.spent.seconds = self.elapsed()
        return self.spent.plus(self.streaming.values()) if self.streaming else self.spent

    def outside_text(self, text: str) -> str:
        """Text from a provider's error, made safe to record: well-formed, no secret in it."""
        return redact(well_formed(text), self.secrets)

    def account(self, agent: str, model: str, usage: Usage) -> float | None:
        """Count `usage` against `agent` and the session; what it cost, None when the
        model has no price (counted as unpriced: a cost limit cannot count it)."""
        cost = self.prices.cost(model, usage)
        tally = self.tallies.setdefault(agent, AgentTally())
        tally.usage = tally.usage + usage
        self.spent.tokens += usage.total
        if cost is None:
            tally.unpriced += 1
            self.spent.unpriced += 1
        else:
            tally.cost += cost
            self.spent.cost += cost
        return cost

    def _carry(self, spend: CallSpend) -> None:
        """Count what a reply or a failed attempt of the record used, as it was counted then."""
        tally = self.tallies.setdefault(spend.agent or "", AgentTally())
        tally.usage = tally.usage + spend.usage
        self.spent.tokens += spend.usage.total
        if spend.cost is None:
            tally.unpriced += 1
            self.spent.unpriced += 1
        else:
            tally.cost += spend.cost
            self.spent.cost += spend.cost
        if spend.finished:
            tally.calls += 1
            self.calls += 1

    def steps_not_done(self) -> tuple[int, int]:
        """How many steps failed and how many were skipped (the session's outcome says so)."""
        outcomes = list(self.step_outcomes.values())
        return outcomes.count("error"), outcomes.count("skipped")

    def cancel_background(self) -> None:
        """Stop what the session started in the background (a pending budget question)."""
        self.budget.cancel()

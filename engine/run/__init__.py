"""The parts behind `RunContext` (engine/context.py), each owning one concern:

- `shared`: `Run`, the state every context of a session shares: event stamping
  (seq, clock), accounting (usage, cost, calls per agent), kept partial work.
- `budget`: `BudgetGuard`, the limits checked before and during calls, and the
  one escalation that asks to raise a used-up budget.
- `calls`: `ModelCall`, one model call's attempts: requests, the breaker,
  transport retries, repeated-failure escalation, schema re-prompting.
- `streaming`: one attempt streamed: deltas, progress, timeouts, budgets mid-reply.
- `tool_rounds`: the tools a model asks to use, with their approval.
- `replies`: structured replies: the `respond` tool and validating its input.
- `replay`: answering a call from a recorded session instead of the model.
- `record`: `Record`, what a session's events can answer when it runs again (calls
  by key and request, tool results, decisions by place), and whether it is emitted again.
- `fingerprint`: a stable hash of what a request asks a model.
- `handoff`: one agent's work passed to another under a contract.
"""

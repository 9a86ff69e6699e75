"""huddle from Python: define a team in code, run any pattern, follow its events and
answer its escalations, without the terminal app.

    import asyncio
    import huddle

    team = huddle.Team(lead="lead", agents=(
        huddle.Agent(name="lead", role="planner"),
        huddle.Agent(name="coder", role="python developer"),
    ))
    result = asyncio.run(huddle.run("Write a word counter", team=team))
    print(result.status, result.cost, result.session_id)

`run()` runs a session to its end; a `Session` is one you follow (`async for event in
session`) and answer (`approve`, `reject`, `edit`). The simulated provider is the default
(offline, free, deterministic for a seed); `provider="anthropic"` or `"openai"` runs on a
real model, with the key from the environment or config.toml. `record=True` records the
session where `huddle sessions` shows it.

These names are the whole public surface; they are the engine's own types (`Agent` is
`engine.agents.AgentSpec`, and so on), so what the terminal app runs is what runs here.
"""

from __future__ import annotations

from engine.agents import AgentSpec as Agent
from engine.agents import TeamSpec as Team
from engine.approvals import DecisionError
from engine.budgets import Limits
from engine.policy import ApprovalPolicy
from engine.sandbox.settings import SandboxSettings as Sandbox
from huddle import events
from huddle._session import Session, run
from sessions.errors import StoreError

__all__ = [
    "Agent", "ApprovalPolicy", "DecisionError", "Limits", "Sandbox", "Session", "StoreError", "Team", "events", "run",
]

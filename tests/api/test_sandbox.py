"""Code tools from Python: the same sandbox choice and the same refusal as a team file."""

from __future__ import annotations

from pathlib import Path

import pytest

import huddle
from engine.sandbox import choice
from tests.api.helpers import TASK

CODERS = huddle.Team(
    lead="lead",
    agents=(
        huddle.Agent(name="lead", role="planner"),
        huddle.Agent(name="coder", role="python developer", capabilities=("python",), tools=("run_python",)),
    ),
)


@pytest.fixture
def no_sandbox_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "why_not", lambda name: f"{name} is not installed")


async def test_a_team_that_runs_code_is_refused_in_one_line_where_no_sandbox_works(
    no_sandbox_works: None, session_database: Path,
) -> None:
    with pytest.raises(ValueError) as raised:
        await huddle.run(TASK, team=CODERS, record=True)
    message = str(raised.value)
    assert message.startswith("agents that run code need a sandbox, and none works here: install bubblewrap")
    assert "\n" not in message and not session_database.exists()
    with pytest.raises(ValueError, match=r"the team's sandbox is podman, which does not work here \(podman is not installed\)"):
        huddle.Session(TASK, team=CODERS, sandbox=huddle.Sandbox(backend="podman", wall_s=5))


async def test_a_team_without_code_tools_needs_no_sandbox(no_sandbox_works: None) -> None:
    team = CODERS.model_copy(update={"agents": tuple(a.model_copy(update={"tools": ()}) for a in CODERS.agents)})
    assert (await huddle.run(TASK, team=team)).status == "completed"


async def test_sandbox_none_runs_the_coders_code_directly(no_sandbox_works: None) -> None:
    results = []
    async with huddle.Session(TASK, team=CODERS, policy="approve", sandbox="none") as session:
        async for event in session:
            if isinstance(event, huddle.events.SessionStarted):
                assert event.sandbox is not None and event.sandbox.backend == "none"
            if isinstance(event, huddle.events.ToolResult) and event.tool == "run_python":
                results.append(event)
        finished = await session.wait()
    assert finished.status == "completed"
    assert results and not results[0].is_error and "exit status 0" in results[0].output


def test_a_sandbox_that_is_not_one_is_a_one_line_mistake() -> None:
    with pytest.raises(ValueError, match="backend") as raised:
        huddle.Session(TASK, team=CODERS, sandbox="chroot")  # type: ignore[arg-type]
    assert "\n" not in str(raised.value)

"""What the Python API's tests share: a team defined in code, as a developer would."""

from __future__ import annotations

import huddle

TASK = "Write a command-line word counter"


def team() -> huddle.Team:
    """A lead who plans (and reviews, in the review pattern) and two workers."""
    return huddle.Team(
        name="counters",
        lead="lead",
        agents=(
            huddle.Agent(name="lead", role="planner"),
            huddle.Agent(name="coder", role="python developer", capabilities=("python",)),
            huddle.Agent(name="tester", role="test writer"),
        ),
    )

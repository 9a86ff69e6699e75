"""The collaboration patterns huddle runs, one module each, found by name.

A pattern module defines NAME, TITLE, SUMMARY (what happens), USE_WHEN (when
to pick it), an `Options` pydantic model of its knobs and `async run(ctx, task,
options) -> str` (the final result). Its preset team is a team file,
`engine/presets/NAME.toml`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.agents import TeamSpec
from engine.context import RunContext
from engine.formats import one_line

PatternRun = Callable[[RunContext, str, Any], Awaitable[str]]

MODULES = (
    "orchestrator", "routing", "pipeline", "fanout", "discussion",
    "review", "hierarchical", "mesh", "blackboard", "auction",
)

SHORT_NAMES: dict[str, str] = {
    "orchestrator": "orch", "routing": "route", "pipeline": "pipe", "fanout": "fan", "discussion": "disc",
    "review": "review", "hierarchical": "hier", "mesh": "mesh", "blackboard": "board", "auction": "auct",
}
"""Each pattern's name in at most 6 cells, for tables too narrow for the whole name."""


def short_name(pattern: str) -> str:
    """`pattern`'s short name; a name huddle does not know (from a newer huddle, or a
    plug-in) cut to 6 cells."""
    return SHORT_NAMES.get(pattern, pattern[:6])


class UnknownPattern(ValueError):
    pass


@dataclass(frozen=True)
class PatternInfo:
    name: str
    title: str
    summary: str
    """One line: what happens."""
    use_when: str
    """One line: when to pick it."""
    run: PatternRun
    options: type[BaseModel]
    team: Callable[[], TeamSpec]
    """The preset team: who this pattern needs, ready to run (from its preset file)."""

    def parse_options(self, raw: dict[str, Any]) -> BaseModel:
        """The pattern's options from plain data; ValueError with a one-line reason."""
        try:
            return self.options.model_validate(raw)
        except ValidationError as error:
            raise ValueError(one_line(error)) from None


def preset_team(name: str) -> TeamSpec:
    """The team of pattern `name`'s preset file."""
    from engine.teams import preset  # here: reading a team file checks its options against PATTERNS

    return preset(name).team()


def _load(module_name: str) -> PatternInfo:
    module = importlib.import_module(f"engine.patterns.{module_name}")
    return PatternInfo(
        module.NAME, module.TITLE, module.SUMMARY, module.USE_WHEN, module.run, module.Options,
        partial(preset_team, module.NAME),
    )


PATTERNS: dict[str, PatternInfo] = {info.name: info for info in map(_load, MODULES)}


def get_pattern(name: str) -> PatternInfo:
    try:
        return PATTERNS[name]
    except KeyError:
        raise UnknownPattern(
            f"unknown pattern {name!r}; choose from {', '.join(PATTERNS)}"
        ) from None

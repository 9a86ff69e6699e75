"""The collaboration patterns huddle runs, one module each, found by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType

from engine.context import RunContext
from engine.patterns import orchestrator

PatternRun = Callable[[RunContext, str], Awaitable[str]]


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


def _info(module: ModuleType) -> PatternInfo:
    return PatternInfo(module.NAME, module.TITLE, module.SUMMARY, module.USE_WHEN, module.run)


PATTERNS: dict[str, PatternInfo] = {info.name: info for info in map(_info, [orchestrator])}


def get_pattern(name: str) -> PatternInfo:
    try:
        return PATTERNS[name]
    except KeyError:
        raise UnknownPattern(
            f"unknown pattern {name!r}; choose from {', '.join(PATTERNS)}"
        ) from None

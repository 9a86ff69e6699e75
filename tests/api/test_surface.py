"""The Python API's surface: a handful of names, typed, light to import, and documented by
README examples that run as printed."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import typing
from pathlib import Path

import huddle
from engine.events import EVENT_TYPES, Event

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter from the project's folder, as a reader would."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=50)


def readme_examples() -> list[str]:
    """The Python blocks of the README's section "From Python" (down to the next chapter)."""
    section = README.read_text().split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_readme_runs_a_team_defined_in_code_as_printed():
    first = readme_examples()[0]
    assert "huddle.run(" in first and "huddle.Team(" in first
    ran = _python(first)
    assert ran.returncode == 0, ran.stderr
    status, session_id, usage = ran.stdout.splitlines()[0].split(" ", 2)
    assert status == "completed" and re.fullmatch(r"[0-9a-f]{12}", session_id)
    assert re.fullmatch(r"\d+ tokens, \$0\.\d{4}", usage)
    assert "command-line word counter" in ran.stdout and not ran.stderr


def test_the_readme_answers_an_escalation_from_code_as_printed():
    second = readme_examples()[1]
    assert "session.reject(" in second and "session.approve(" in second
    ran = _python(second)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["plan 0", "plan 1"]  # rejected, planned again
    assert re.fullmatch(r"completed \d+ calls", lines[-1]) and not ran.stderr


def test_the_public_names_are_all_and_only_those_of_all():
    assert sorted(huddle.__all__) == [
        "Agent", "ApprovalPolicy", "DecisionError", "Limits", "Sandbox", "Session", "StoreError", "Team", "events", "run",
    ]
    public = {name for name in vars(huddle) if not name.startswith("_")} - {"annotations"}
    assert public == set(huddle.__all__)
    assert all(getattr(huddle, name) is not None for name in huddle.__all__)


def test_every_kind_of_event_is_in_huddle_events_as_the_engine_has_it():
    for cls in EVENT_TYPES:
        assert getattr(huddle.events, cls.__name__) is cls
    assert set(huddle.events.__all__) >= {cls.__name__ for cls in EVENT_TYPES}
    assert huddle.events.Event is Event


def test_the_package_is_typed_and_its_functions_annotated():
    assert (ROOT / "huddle" / "py.typed").is_file()
    callables = [huddle.run, huddle.Session.__init__, huddle.Session.wait, huddle.Session.approve,
                 huddle.Session.reject, huddle.Session.edit, huddle.Session.cancel, huddle.Session.__aiter__,
                 huddle.Session.__aenter__, huddle.Session.__aexit__]
    for function in callables:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function)
        assert "return" in hints, function.__qualname__
        for name in signature.parameters:
            assert name == "self" or name in hints, f"{function.__qualname__}({name})"
        assert function.__doc__, function.__qualname__
    assert "package-data" in (ROOT / "pyproject.toml").read_text() and 'huddle = ["py.typed"]' in (
        ROOT / "pyproject.toml").read_text()

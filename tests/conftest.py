"""Fixtures for every test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def session_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every `huddle` it starts) records into its own database,
    never into the user's real one."""
    path = tmp_path / "huddle-test.db"
    monkeypatch.setenv("HUDDLE_DB", str(path))
    return path

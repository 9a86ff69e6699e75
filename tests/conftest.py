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


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the user's real config (their key, their team files, their prices),
    and none sees an Anthropic key from the environment unless it sets one."""
    folder = tmp_path / "config"
    monkeypatch.setenv("HUDDLE_CONFIG_DIR", str(folder))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    return folder

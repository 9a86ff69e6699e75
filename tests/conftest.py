"""Fixtures for every test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.sandboxing import code_sandbox, project  # noqa: F401 - fixtures: a working sandbox checked, a project folder
from tests.sessions.pg_server import pg_dsn, pg_server  # noqa: F401 - fixtures: one PostgreSQL server per run


@pytest.fixture(autouse=True)
def session_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every `huddle` it starts) records into its own database,
    never into the user's real one, and keeps spool files in its own folder."""
    path = tmp_path / "huddle-test.db"
    monkeypatch.setenv("HUDDLE_DB", str(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HUDDLE_SCRATCH", str(tmp_path / "scratch"))  # sessions' scratch folders too
    return path


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the user's real config (their key, their team files, their prices),
    and none sees a provider's key or address from the environment unless it sets one."""
    folder = tmp_path / "config"
    monkeypatch.setenv("HUDDLE_CONFIG_DIR", str(folder))
    for variable in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                     # nor sends a trace to a receiver of the user's
                     "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                     "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        monkeypatch.delenv(variable, raising=False)
    return folder


@pytest.fixture(autouse=True)
def stores_closed() -> Iterator[None]:
    """Every test closes the stores it opens (in a fixture, a `finally` or `async with`),
    even when it fails: none of the connection threads it started may outlive it."""
    before = set(threading.enumerate())
    yield
    started = [t for t in threading.enumerate() if t not in before and "_connection_worker_thread" in t.name]
    for thread in started:
        thread.join(timeout=5)  # a closed store's thread ends a moment after `close` returns
    left = sum(thread.is_alive() for thread in started)
    assert not left, f"{left} store(s) left open: close each in a fixture, a `finally` or `async with`"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A fresh database of each kind, for `sessions.opening.open_store`: a SQLite file, or a
    PostgreSQL database on the run's throwaway server (which tells a reader of a change at
    once, where a SQLite file is looked at again after a while)."""
    return tmp_path / "any.db" if request.param == "sqlite" else request.getfixturevalue("pg_dsn")

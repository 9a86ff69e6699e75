"""A store for each test, on each backend (a fresh SQLite file; a fresh PostgreSQL database
on the test run's server), and a directory to take write permission from.

A test about store behaviour takes `store` and runs once per backend; one about SQLite
files (permissions, WAL, locks, damage, pragmas) is marked `sqlite_only`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sessions.store import SessionStore

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite files; the store is SQLite only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test taking `store` runs on each backend, or on SQLite alone when marked `sqlite_only`."""
    if "store" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("store", BACKENDS[:1] if only else BACKENDS, indirect=True)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "huddle.db"


@pytest.fixture
async def store(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[SessionStore]:
    if request.param == "postgresql":
        from sessions.pg_store import PgSessionStore

        server = request.getfixturevalue("pg_server")  # started by the first test that needs it
        name = await server.new_database()
        try:
            async with await PgSessionStore.open(server.dsn(name)) as on_server:
                yield on_server  # type: ignore[misc] - the same methods, another backend
        finally:
            await server.drop_database(name)
        return
    async with await SessionStore.open(db_path) as opened:
        yield opened


@pytest.fixture
def lockable_directory() -> Iterator[Path]:
    """An empty directory outside pytest's own (which only its owner may enter), that
    an unprivileged user can reach; the test takes write permission away when ready."""
    top = Path(tempfile.mkdtemp(prefix="huddle-ro-"))
    top.chmod(0o755)
    directory = top / "locked"
    directory.mkdir(mode=0o755)
    try:
        yield directory
    finally:
        directory.chmod(0o755)
        shutil.rmtree(top)

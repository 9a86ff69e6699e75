"""A store in a fresh file for each test, and a directory to take write permission from."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sessions.store import SessionStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "huddle.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SessionStore]:
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

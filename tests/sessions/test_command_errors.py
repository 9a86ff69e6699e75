"""Bad databases through the `huddle` command itself (in this process, so a short lock
timeout, an unprivileged user and a full disk can be arranged): one line on standard
error, exit status 1, nothing run, existing data untouched."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from sessions import store as store_module
from sessions.store import SessionStore
from tests.sessions.helpers import connect, nearly_full, unprivileged
from tui.cli import main

TASK = "Design a rate limiter for our public REST API"
RUN = ("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "approve", TASK)


def one_line_failure(capsys: pytest.CaptureFixture[str], code: int, *fragments: str) -> str:
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("huddle: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return out


def recorded_rows(path: Path) -> list[tuple[Any, ...]]:
    with connect(path) as raw:
        return raw.execute("SELECT id, status, last_seq FROM sessions ORDER BY created_at").fetchall()


def test_a_locked_database_is_reported_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.db"
    assert main(["--db", str(path), *RUN]) == 0
    capsys.readouterr()
    before = recorded_rows(path)
    monkeypatch.setattr(store_module, "DEFAULT_BUSY_TIMEOUT", 0.2)
    with connect(path) as other:
        other.execute("BEGIN IMMEDIATE")
        out = one_line_failure(capsys, main(["--db", str(path), *RUN]), "locked", str(path))
        assert out == ""  # the session never started
        one_line_failure(capsys, main(["--db", str(path), "sessions", "delete", before[0][0]]), "locked")
        assert main(["--db", str(path), "sessions", "list"]) == 0  # reading still works
    assert recorded_rows(path) == before


def test_a_directory_without_write_permission(
    lockable_directory: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unprivileged user must still reach a (missing) config folder.
    monkeypatch.setenv("HUDDLE_CONFIG_DIR", str(lockable_directory.parent / "config"))
    assert main(["--db", str(tmp_path / "warm.db"), *RUN]) == 0  # load every module while we may
    capsys.readouterr()
    read_only_directory = lockable_directory
    read_only_directory.chmod(0o555)
    path = read_only_directory / "huddle.db"

    with unprivileged():
        assert not os.access(read_only_directory, os.W_OK, effective_ids=True)
        code = main(["--db", str(path), *RUN])

    assert one_line_failure(capsys, code, "cannot write", str(path)) == ""
    assert os.listdir(read_only_directory) == []


def test_a_full_disk_fails_the_run_and_keeps_what_was_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.db"
    assert main(["--db", str(path), *RUN]) == 0
    capsys.readouterr()
    earlier = recorded_rows(path)
    nearly_full(monkeypatch, spare_pages=3)  # from the session's first batch
    code = main(["--db", str(path), "run", "--headless", "--speed", "4", "--approve", "approve", TASK])

    out = one_line_failure(capsys, code, "full", str(path))
    assert "huddle · session" in out  # it started, then stopped when the disk filled
    rows = recorded_rows(path)
    assert rows[0] == earlier[0]
    session_id, status, last_seq = rows[1]
    assert status == "failed" and last_seq >= 1

    async def stored() -> list[int]:
        async with await SessionStore.open(path) as store:
            return [event.seq async for event in store.iter_events(session_id)]

    assert asyncio.run(stored()) == list(range(1, last_seq + 1))


def test_an_error_quoting_a_hostile_name_is_still_one_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = tmp_path / "team\x1b]0;pwned\x07\nname.toml"
    hostile.write_text('name = "x"\nagents = [\n')
    assert main(["teams", "show", str(hostile)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("huddle: ") and "not valid TOML" in err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err

"""`huddle sessions list` read straight from a SQLite file (`sessions.listing.quick_listing`):
the same output as the store's listing, hostile text and damaged rows included; nothing
heavy loaded; the store's checks and one-line errors kept; and the store left to list any
file that opening it would change."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sessions import listing
from sessions import store as store_module
from sessions.liveness import HOST
from sessions.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from sessions.rows import COLUMNS
from sessions.store import SessionStore
from tests.hostile import SHORT, WELL_FORMED, unsafe
from tests.sessions.helpers import connect, snapshot
from tui.cli import main

TEXT = WELL_FORMED
"""The hostile corpus as SQLite can hold it (a lone surrogate is not text it can store)."""

Listed = tuple[int, str, str]
"""What a `huddle` command gave: exit status, standard output, standard error."""


def session(number: int, **changes: Any) -> dict[str, Any]:
    """A finished session's row (every column of `COLUMNS`), the later `number` the newer."""
    row: dict[str, Any] = {
        "id": f"{number:04d}aaaa{number:04d}", "created_at": 1.7e9 + number * 60, "updated_at": 1.7e9 + number * 60 + 30,
        "task": f"Task {number}", "title": f"Task {number}", "pattern": "orchestrator", "team": "orchestrator",
        "agents": json.dumps(["lead", "coder"]), "provider": "simulated", "models": json.dumps(["claude-opus-5-5"]),
        "seed": number, "status": "completed", "tokens_in": 1000 * number, "tokens_out": 500, "cost": 0.01 * number,
        "calls": 3, "turns": 2, "duration_s": 30.0 + number, "result": "done", "reason": None, "partial": 0,
        "pid": 1, "host": "elsewhere", "last_seq": 40, "failed_steps": 0, "skipped_steps": 0, "unpriced": 0,
        "parent_id": None, "forked_at": None, "resumes": 0, "heartbeat": 1.7e9 + number * 60 + 30,
    }
    return row | changes


def insert(path: Path, *rows: dict[str, Any]) -> None:
    """Write session rows as another huddle would have, each with its task as a search document."""
    with connect(path) as raw:
        for row in rows:
            key = raw.execute(
                f"INSERT INTO sessions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
                [row[column] for column in COLUMNS],
            ).lastrowid
            raw.execute("INSERT INTO search (rowid, body) VALUES (?, ?)", ((key << 32) | 1, str(row["task"])))
            raw.execute("UPDATE sessions SET indexed_seq = last_seq WHERE key = ?", (key,))  # its documents written


def folder(tmp_path: Path) -> Path:
    """A folder of its own for the database, so that a snapshot of it sees no log beside it."""
    made = tmp_path / "db"
    made.mkdir()
    return made


def new_store(path: Path) -> None:
    async def made() -> None:
        await (await SessionStore.open(path)).close()

    asyncio.run(made())


@pytest.fixture
def hostile_store(tmp_path: Path) -> Path:
    """A few sessions carrying the hostile corpus, one damaged row, one still running (in
    this very process), and ids that share a long prefix."""
    path = folder(tmp_path) / "h.db"
    new_store(path)
    insert(
        path,
        session(1, task=f"Plan a zeppelin trip {TEXT}", title=TEXT, agents=json.dumps([SHORT, "coder"]),
                parent_id=f"{SHORT}0123456789", forked_at=12, resumes=2, unpriced=1, failed_steps=1),
        session(2, status="failed", pattern=SHORT, reason=TEXT, title=f"fails {SHORT}", result=None),
        session(3, cost="garbage", agents="not json", title="damaged"),  # a damaged row
        session(4, status="waiting", pid=os.getpid(), host=HOST, heartbeat=time.time(), result=None),
        session(5, id="abcdef012345x1", task="zeppelin again"),
        session(6, id="abcdef012345x2", status="stopped", reason="stopped by you"),
        session(7, id=f"bad\x1b[2J{SHORT}id"),
    )
    return path


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each listing was read straight from the file (True) or left to the store."""
    real = listing.quick_listing
    taken: list[bool] = []

    def watched(*args: Any, **kwargs: Any) -> listing.Listing | None:
        found = real(*args, **kwargs)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(listing, "quick_listing", watched)
    return taken


def huddle(capsys: pytest.CaptureFixture[str], *args: str) -> Listed:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def through_the_store(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Listed:
    """The listing as the store makes it (the quick way turned off)."""
    with monkeypatch.context() as patched:
        patched.setattr(listing, "quick_listing", lambda *_, **__: None)
        return huddle(capsys, *args)


@pytest.mark.parametrize(
    "options",
    [
        (), ("--json",), ("--status", "failed"), ("--status", "stopped", "--json"), ("--pattern", SHORT),
        ("--limit", "2"), ("--limit", "3", "--json"), ("--search", "zeppelin"), ("--search", "zeppelin", "--json"),
        ("--search", "nowhere"), ("--search", "zeppelin", "--limit", "1"), ("--pattern", "debate", "--json"),
    ],
)
def test_the_quick_listing_prints_what_the_store_listing_prints(
    hostile_store: Path, options: tuple[str, ...], quick: list[bool], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command = ("sessions", "list", "--db", str(hostile_store), *options)

    read = huddle(capsys, *command)
    assert quick == [True]
    stored = through_the_store(monkeypatch, capsys, *command)

    assert read == stored
    code, out, err = read
    assert code == 0 and out and unsafe(out) == [] and unsafe(err) == []
    if not {"--search", "--pattern", "--status", "--limit"} & set(options):
        assert err.count("has a damaged row") == 1  # said once, on standard error


def test_the_table_shows_the_text_without_its_controls(hostile_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = huddle(capsys, "sessions", "list", "--db", str(hostile_store), "--limit", "7")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 8 and lines[0].split()[:2] == ["ID", "STARTED"]
    assert "HIDDEN rm -rf ~" in out and "[@click=app.quit]X[/]" in out  # shown literally
    assert any(line.startswith("abcdef012345x2 ") for line in lines)  # as long as its id needs
    assert "forked from" in out and "resumed twice" in out and " waiting " in out
    newest = json.loads(huddle(capsys, "sessions", "list", "--db", str(hostile_store), "--json")[1])[0]
    assert newest["id"].startswith("bad") and "HIDDEN rm -rf ~" in newest["id"] and unsafe(newest["id"]) == []


# -- what it loads ---------------------------------------------------------------------------------

HEAVY = ("pydantic", "engine.events", "aiosqlite", "asyncio", "sessions.store", "rich", "textual", "jsonschema")


def loaded_by(arguments: list[str], env: dict[str, str]) -> tuple[str, set[str]]:
    """What `huddle` printed with `arguments` in a fresh interpreter, and the modules it loaded."""
    code = (
        "import sys; from tui.cli import main; status = main(sys.argv[1:]); "
        "sys.stderr.write(' '.join(sys.modules)); sys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout, set(done.stderr.split())


@pytest.mark.parametrize(
    "options", [(), ("--json",), ("--search", "zeppelin", "--status", "completed"), ("--pattern", "orchestrator")]
)
def test_listing_loads_neither_pydantic_nor_the_events_nor_asyncio(
    hostile_store: Path, options: tuple[str, ...]
) -> None:
    printed, modules = loaded_by(["sessions", "list", "--db", str(hostile_store), *options], dict(os.environ))
    assert "0005aaaa" in printed or "abcdef012345x1" in printed or "0001aaaa" in printed
    assert "sessions.listing" in modules and "sqlite3" in modules
    for heavy in HEAVY:
        assert heavy not in modules, heavy


def test_the_default_database_is_found_without_loading_pydantic(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "HUDDLE_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # the user data folder; no config.toml says otherwise
    path = tmp_path / "data" / "huddle" / "huddle.db"
    path.parent.mkdir(parents=True)
    new_store(path)
    insert(path, session(1, title="found by default"))

    printed, modules = loaded_by(["sessions", "list"], env)

    assert "found by default" in printed
    assert "pydantic" not in modules and "engine.config" not in modules


# -- the store's checks, and its one-line errors ------------------------------------------------------


def one_line(listed: Listed, *fragments: str) -> str:
    code, out, err = listed
    assert code == 1 and out == "", listed
    assert len(err.splitlines()) == 1 and err.startswith("huddle: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def test_a_newer_schema_is_refused_with_the_stores_line_and_left_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    new_store(path)
    insert(path, session(1))
    with connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = snapshot(path)

    read = huddle(capsys, "sessions", "list", "--db", str(path))

    one_line(read, "newer huddle", str(path))
    assert read == through_the_store(monkeypatch, capsys, "sessions", "list", "--db", str(path))
    assert snapshot(path) == before


def test_a_newer_schema_still_in_the_write_ahead_log_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    new_store(path)
    with connect(path) as newer:  # a newer huddle, still running: its change only in the log
        newer.execute("PRAGMA wal_autocheckpoint = 0")
        newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        one_line(huddle(capsys, "sessions", "list", "--db", str(path)), "newer huddle")


@pytest.mark.parametrize("damage", ["sessions table", "not sqlite"])
def test_a_damaged_file_is_the_stores_one_line(
    tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    if damage == "not sqlite":
        path.write_bytes(b"hello, this is a text file\n")
    else:
        new_store(path)
        insert(path, *(session(n) for n in range(1, 40)))
        with connect(path) as raw:
            root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sessions'").fetchone()[0]
            size = raw.execute("PRAGMA page_size").fetchone()[0]
        with path.open("r+b") as handle:
            handle.seek((root - 1) * size)
            handle.write(b"\xde\xad\xbe\xef" * (size // 4))
    before = snapshot(path)

    read = huddle(capsys, "sessions", "list", "--db", str(path))

    one_line(read, str(path), "damaged" if damage == "sessions table" else "not a huddle database")
    assert read == through_the_store(monkeypatch, capsys, "sessions", "list", "--db", str(path))
    assert snapshot(path) == before


def test_a_database_another_program_holds_is_the_locked_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    new_store(path)
    insert(path, session(1))
    monkeypatch.setattr(listing, "DEFAULT_BUSY_TIMEOUT", 0.2)
    monkeypatch.setattr(store_module, "DEFAULT_BUSY_TIMEOUT", 0.2)
    with connect(path) as other:  # holds the file whole: not even a reader gets in
        other.execute("PRAGMA locking_mode = EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("SELECT count(*) FROM sessions").fetchone()
        read = huddle(capsys, "sessions", "list", "--db", str(path))
        stored = through_the_store(monkeypatch, capsys, "sessions", "list", "--db", str(path))
    assert one_line(read, "locked", "waited 0.2s") == one_line(stored)


@pytest.mark.parametrize("as_json", [False, True])
def test_a_missing_database_is_no_sessions_yet_and_is_not_made(
    tmp_path: Path, as_json: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere" / "h.db"
    command = ("sessions", "list", "--db", str(path), *(["--json"] if as_json else []))

    read = huddle(capsys, *command)

    assert read == (0, "[]\n" if as_json else f"no sessions recorded yet (in {path})\n", "")
    assert read == through_the_store(monkeypatch, capsys, *command)
    assert not path.parent.exists()


# -- files the store must open -------------------------------------------------------------------


def older_store(path: Path, version: int) -> None:
    """A database at schema `version`, as the huddle of that version left it."""
    with connect(path) as raw:
        for step in MIGRATIONS[:version]:
            for statement in step.statements:
                raw.execute(statement)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        raw.execute(f"PRAGMA user_version = {version}")


def user_version(path: Path) -> int:
    with connect(path) as raw:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])


def test_an_older_schema_is_listed_by_the_store_which_upgrades_it(
    tmp_path: Path, quick: list[bool], capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    older_store(path, SCHEMA_VERSION - 1)
    with connect(path) as raw:
        columns = [c for c in COLUMNS if c != "heartbeat"]  # what the older schema has
        row = session(1, title="from an older huddle")
        raw.execute(f"INSERT INTO sessions ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                    [row[c] for c in columns])

    code, out, _ = huddle(capsys, "sessions", "list", "--db", str(path))

    assert quick == [False] and code == 0 and "from an older huddle" in out
    assert user_version(path) == SCHEMA_VERSION
    assert huddle(capsys, "sessions", "list", "--db", str(path))[1] == out and quick == [False, True]


def test_a_session_whose_process_ended_is_listed_interrupted_by_the_store(
    tmp_path: Path, quick: list[bool], capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    new_store(path)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    insert(path, session(1, status="running", pid=ended.pid, host=HOST, heartbeat=time.time(), result=None))

    code, out, _ = huddle(capsys, "sessions", "list", "--db", str(path), "--json")

    [row] = json.loads(out)
    assert quick == [False] and code == 0
    assert row["status"] == "interrupted" and str(ended.pid) in row["reason"]


@pytest.mark.parametrize(
    ("name", "prepare"),
    [
        ("not in write-ahead logging", lambda raw: raw.execute("PRAGMA journal_mode = DELETE")),
        ("empty", None),
    ],
)
def test_a_file_opening_would_change_is_left_to_the_store(
    tmp_path: Path, name: str, prepare: Callable[[sqlite3.Connection], object] | None, quick: list[bool],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = folder(tmp_path) / "h.db"
    if prepare is None:
        path.touch()
    else:
        new_store(path)
        insert(path, session(1, title="still listed"))
        with connect(path) as raw:
            prepare(raw)

    code, out, _ = huddle(capsys, "sessions", "list", "--db", str(path))

    assert quick == [False] and code == 0, name
    assert ("still listed" in out) if prepare else out.startswith("no sessions recorded yet")
    with connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_text_sqlite_cannot_give_back_is_the_stores_one_line(
    tmp_path: Path, quick: list[bool], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder(tmp_path) / "h.db"
    new_store(path)
    insert(path, session(1))
    with connect(path) as raw:  # bytes that are not UTF-8, stored as text by another program
        raw.execute("UPDATE sessions SET title = CAST(X'fffe41' AS TEXT)")

    read = huddle(capsys, "sessions", "list", "--db", str(path))

    assert quick == [False]
    one_line(read, str(path))
    assert read == through_the_store(monkeypatch, capsys, "sessions", "list", "--db", str(path))

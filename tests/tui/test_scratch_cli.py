"""`huddle sessions files ID`: a session's scratch folder as a list (path, size) and where
it is, as text or JSON, file names through the gate; `huddle sessions delete` deletes the
folder with the session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sessions.scratch import scratch_folder
from tests.hostile import SHORT, SHORT_VISIBLE, unsafe
from tests.tui.test_sessions_list_fast import Listed, folder, huddle, insert, new_store, session
from tui.cli import main

FIRST, SECOND = session(1)["id"], session(2)["id"]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database of two sessions; scratch folders under the test's own folder."""
    monkeypatch.setenv("HUDDLE_SCRATCH", str(tmp_path / "scratch"))
    path = folder(tmp_path) / "files.db"
    new_store(path)
    insert(path, session(1), session(2))
    return path


def write(session_id: str, files: dict[str | bytes, bytes]) -> Path:
    """Session `session_id`'s scratch folder holding `files` (by relative path, str or bytes)."""
    root = scratch_folder(session_id)
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        path = os.path.join(os.fsencode(root), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(body)
    return root


def files(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> Listed:
    return huddle(capsys, "--db", str(db), "sessions", "files", *args)


def test_the_files_are_listed_with_their_sizes_under_where_they_are(db, capsys):
    root = write(FIRST, {"main.py": b"print(6*7)\n", "out/data.csv": b"x" * 2048, "out/big.bin": b"\0" * (3 * 1024 * 1024)})
    code, out, err = files(capsys, db, FIRST[:6])
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"3 files (3.0 MB) in {root}:",
        "  main.py         11 B",
        "  out/big.bin   3.0 MB",
        "  out/data.csv  2.0 KB",
    ]


def test_json_gives_the_folder_and_each_file_in_bytes(db, capsys):
    root = write(FIRST, {"main.py": b"print(6*7)\n", "out/data.csv": b"x" * 2048})
    code, out, _ = files(capsys, db, FIRST, "--json")
    assert code == 0
    assert json.loads(out) == {
        "session_id": FIRST, "folder": str(root), "exists": True,
        "files": [{"path": "main.py", "size": 11}, {"path": "out/data.csv", "size": 2048}],
    }


def test_no_folder_and_an_empty_one_say_no_files(db, capsys):
    code, out, _ = files(capsys, db, FIRST)
    assert (code, out) == (0, f"no files (no scratch folder at {scratch_folder(FIRST)})\n")
    assert json.loads(files(capsys, db, FIRST, "--json")[1]) == {
        "session_id": FIRST, "folder": str(scratch_folder(FIRST)), "exists": False, "files": [],
    }
    root = write(FIRST, {})
    assert files(capsys, db, FIRST)[1] == f"no files in {root}\n"


def test_hostile_file_names_show_literally_one_line_each(db, capsys):
    write(FIRST, {f"{SHORT}.py": b"1", "two\nlines\tand tab.txt": b"22", b"bad-\xff-utf8.txt": b"333"})
    code, out, err = files(capsys, db, FIRST)
    assert (code, err) == (0, "")
    assert unsafe(out) == []
    lines = out.splitlines()
    assert len(lines) == 4  # a line per file, under the summary
    assert all(visible in out for visible in SHORT_VISIBLE)
    assert "  two\\nlines\\tand tab.txt" in out and "bad-\ufffd-utf8.txt" in out
    listed = json.loads(files(capsys, db, FIRST, "--json")[1])
    names = [one["path"] for one in listed["files"]]
    assert all(unsafe(name) == [] for name in names)
    assert "two\nlines\tand tab.txt" in names and "bad-\ufffd-utf8.txt" in names


def test_an_unknown_session_is_one_line(db, capsys):
    code, out, err = files(capsys, db, "ffff")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("huddle: ")


def test_deleting_a_session_deletes_its_scratch_folder_and_no_other(db, capsys):
    first, second = write(FIRST, {"main.py": b"1"}), write(SECOND, {"keep.py": b"2"})
    code, out, _ = huddle(capsys, "--db", str(db), "sessions", "delete", FIRST)
    assert code == 0 and out.startswith(f"deleted {FIRST} · completed · 40 events · its scratch folder too · ")
    assert not first.exists() and (second / "keep.py").exists()
    assert huddle(capsys, "--db", str(db), "sessions", "delete", SECOND[:6])[0] == 0
    assert not second.exists()


def test_deleting_a_session_without_a_folder_says_nothing_of_one(db, capsys):
    code, out, _ = huddle(capsys, "--db", str(db), "sessions", "delete", FIRST)
    assert code == 0 and "scratch" not in out


def test_the_command_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["sessions", "--help"])
    assert "files" in capsys.readouterr().out

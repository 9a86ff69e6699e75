"""huddle's log: an owner-only, rotated file in the user's log folder that keeps the
traceback of every internal error and no secret; the line the person sees names it."""

from __future__ import annotations

import dataclasses
import logging
import stat
from pathlib import Path

import pytest

from engine.patterns import PATTERNS
from tests.tui.helpers import TASK, app_for, live, until
from tui import cli, logs

KEY = "sk-ant-api03-" + "Qx7" * 15
"""A string that looks like an Anthropic key, in an exception's message."""


@pytest.fixture
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "logs"
    monkeypatch.setenv(logs.ENV_VAR, str(folder))
    return folder / logs.FILE_NAME


@pytest.fixture
def broken_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """The orchestrator pattern has a bug: it raises at once, quoting a key."""

    async def broken(ctx, task, options):
        raise ValueError(f"no plan for api call with {KEY}")

    monkeypatch.setitem(PATTERNS, "orchestrator", dataclasses.replace(PATTERNS["orchestrator"], run=broken))


def assert_logged_without_the_key(log_file: Path, *expected: str) -> str:
    text = log_file.read_text()
    assert "Traceback (most recent call last)" in text
    for part in expected:
        assert part in text, part
    assert KEY not in text and "Qx7Qx7Qx7" not in text and "[redacted]" in text
    return text


def test_a_bug_in_a_headless_session_is_logged_and_the_error_line_names_the_log(
    log_file: Path, broken_pattern: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["run", "--headless", "--approve", "approve", "--speed", "0", "--seed", "1", TASK])

    assert code == 1
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "internal error" in line]
    assert line.startswith("huddle: internal error: ValueError: no plan for api call with [redacted]")
    assert line.endswith(f"(details in {log_file})")
    assert KEY not in err
    assert_logged_without_the_key(log_file, "in broken", "ValueError", "internal error in session")
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700


def test_a_bug_in_a_command_is_one_line_naming_the_log(
    log_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args):
        raise RuntimeError(f"listing failed near {KEY}")

    monkeypatch.setattr(cli, "_patterns", broken)

    assert cli.main(["patterns"]) == 1

    err = capsys.readouterr().err
    assert err == (
        f"huddle: internal error: RuntimeError: listing failed near [redacted] (details in {log_file})\n"
    )
    assert_logged_without_the_key(log_file, "RuntimeError", "internal error in huddle patterns")


async def test_a_bug_in_a_live_session_is_told_on_screen_naming_the_log(log_file: Path, broken_pattern: None) -> None:
    logs.configure()
    session = live()
    app = app_for(session)
    async with app.run_test(notifications=True) as pilot:
        await until(pilot, lambda: session.finished is not None and not session.running, what="the session's end")
        await until(pilot, lambda: any(True for _ in app._notifications), what="a notification")
        [shown] = [str(n.message) for n in app._notifications]
    assert shown.startswith("internal error: ValueError: no plan for api call with [redacted]")
    assert shown.endswith(f"(details in {log_file})")
    assert_logged_without_the_key(log_file, "in broken", f"internal error in session {session.session_id}")


async def test_a_bug_in_the_app_ends_it_with_one_line_naming_the_log(log_file: Path) -> None:
    logs.configure()
    app = app_for(live())

    def broken() -> None:
        raise KeyError(f"widget for {KEY}")

    with pytest.raises(KeyError):
        async with app.run_test() as pilot:
            app.call_later(broken)
            await pilot.pause()

    assert app.return_code == 1
    assert app.crash.startswith("internal error: KeyError: ")
    assert app.crash.endswith(f"(details in {log_file})") and KEY not in app.crash
    assert_logged_without_the_key(log_file, "KeyError", "internal error in the app")


def test_the_log_rolls_over_into_a_few_owner_only_files(log_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    logs.configure()
    record = logging.getLogger("tui.test").info
    for n in range(logs.MAX_BYTES // 50 * (logs.BACKUPS + 2)):
        record("line %d of a long run ....................", n)
    rolled = sorted(log_file.parent.iterdir())
    assert [path.name for path in rolled] == [logs.FILE_NAME] + [f"{logs.FILE_NAME}.{n}" for n in range(1, logs.BACKUPS + 1)]
    for path in rolled:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.stat().st_size <= logs.MAX_BYTES


def test_the_folder_is_chosen_by_environment(tmp_path: Path) -> None:
    assert logs.log_dir({logs.ENV_VAR: str(tmp_path / "here"), "HUDDLE_DB": "/x/h.db"}) == tmp_path / "here"
    assert logs.log_dir({"HUDDLE_DB": str(tmp_path / "data" / "h.db")}) == tmp_path / "data" / "log"
    assert logs.log_dir({}).name == "log" and "huddle" in logs.log_dir({}).parts


def test_a_log_that_cannot_be_written_leaves_huddle_working_and_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert logs.configure(blocked / "log") is None
    logging.getLogger("tui.test").error("goes nowhere")
    assert logs.where().startswith("no log: ")
    assert "internal error: OSError: x (no log: " in logs.internal_error(OSError("x"))

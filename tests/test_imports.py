"""Imports point one way: the engine never loads the UI or the store."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_engine_loads_without_textual_rich_sessions_or_anthropic():
    loaded = _loaded_after(
        "import engine.session, engine.patterns, engine.providers.simulated, engine.events, engine.context, "
        "engine.state, engine.narration, engine.providers"
    )
    assert "engine" in loaded
    for forbidden in ("textual", "rich", "sessions", "tui", "anthropic", "openai", "mcp"):
        assert forbidden not in loaded, forbidden


def test_cli_help_does_not_import_heavy_packages():
    loaded = _loaded_after("import tui.cli")
    for heavy in ("textual", "anthropic", "openai", "mcp", "rich", "pydantic", "engine", "asyncio", "sqlite3"):
        assert heavy not in loaded, heavy


def test_sessions_load_without_the_ui():
    loaded = _loaded_after(
        "import sessions.store, sessions.recorder, sessions.export, sessions.migrations, sessions.paths"
    )
    assert "sessions" in loaded and "engine" in loaded
    for forbidden in ("textual", "rich", "tui", "anthropic", "openai", "mcp"):
        assert forbidden not in loaded, forbidden


def test_a_headless_run_loads_no_textual():
    loaded = _loaded_after("import tui.headless, tui.console, tui.transcript")
    assert "tui" in loaded
    for heavy in ("textual", "rich"):  # the code a prompt shows is highlighted only when it is shown
        assert heavy not in loaded, heavy


def test_import_huddle_loads_neither_the_ui_nor_a_provider_sdk():
    loaded = _loaded_after("import huddle")
    assert "huddle" in loaded and "engine" in loaded
    for forbidden in ("textual", "rich", "tui", "anthropic", "openai", "mcp", "aiosqlite", "asyncpg"):
        assert forbidden not in loaded, forbidden


def test_the_session_writer_process_loads_only_the_standard_library():
    loaded = _loaded_after("import sessions.writer_process")  # it starts as a session's first batch goes
    for ours_or_heavy in ("engine", "tui", "huddle", "pydantic", "aiosqlite", "asyncio", "platformdirs"):
        assert ours_or_heavy not in loaded, ours_or_heavy

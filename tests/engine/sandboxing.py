"""Fixtures shared by the sandbox tests: bubblewrap (they fail, saying so, without it), a
project folder, and a runner over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.sandbox.choice import why_not
from engine.sandbox.runner import CodeRunner
from engine.sandbox.settings import DEFAULT_IMAGE, SandboxSettings

KEY = "sk-ant-api03-sandboxSECRETabcdefghijklmnop0123456789"


BACKEND = os.environ.get("HUDDLE_TEST_SANDBOX", "bubblewrap")
"""The backend `runner` runs code in: bubblewrap (CI installs it), or, on a machine with a
container engine, docker or podman, in the image HUDDLE_TEST_IMAGE names (one with
python3, sh and sleep)."""
IMAGE = os.environ.get("HUDDLE_TEST_IMAGE", DEFAULT_IMAGE)


@pytest.fixture(scope="session")
def code_sandbox() -> None:
    """The tests that run code need bubblewrap (CI installs it: `make bubblewrap`), or the
    backend HUDDLE_TEST_SANDBOX names."""
    why = why_not(BACKEND)
    if why is not None:
        pytest.fail(f"this test runs code under {BACKEND}, which does not work here ({why})"
                    + (": run `make bubblewrap`" if BACKEND == "bubblewrap" else ""))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "README.md").write_text("# Rate limiter\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".env").write_text(f"ANTHROPIC_API_KEY={KEY}\n")
    (root / "settings.py").write_text(f"API = '{KEY}'\n")
    return root


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: what "unchanged" is checked against."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def runner(tmp_path: Path, project: Path, **limits: object) -> CodeRunner:
    settings = SandboxSettings(**{"backend": BACKEND, "image": IMAGE, "wall_s": 10, **limits})
    return CodeRunner(settings, tmp_path / "scratch" / "s1", lambda: project, lambda: (KEY,))


def processes_with(marker: str) -> list[int]:
    """The pids of live processes whose command line holds `marker` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                if marker.encode() in file.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found

"""A session's scratch folder: where the code its agents run (`run_python`, `run_shell`)
works and writes, on the machine that ran it, kept until the session is deleted.

It lives in the user data directory beside the default database (`scratch/<session
id>` in `~/.local/share/huddle/` on Linux), readable by its owner only. The engine is
given the folder (`EngineConfig.scratch`); it never decides where it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV_VAR = "HUDDLE_SCRATCH"
"""Overrides where scratch folders are kept (tests; a disk with more room)."""


def scratch_root(environ: dict[str, str] | None = None) -> Path:
    """The folder holding every session's scratch folder."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR]).expanduser().absolute()
    from platformdirs import user_data_dir

    return Path(user_data_dir("huddle", appauthor=False)) / "scratch"


def scratch_folder(session_id: str, root: Path | None = None) -> Path:
    """Where session `session_id`'s scratch folder is (it may not exist yet)."""
    if not session_id or "/" in session_id or session_id in (".", ".."):
        raise ValueError(f"not a session id: {session_id!r}")
    return (scratch_root() if root is None else root) / session_id


def remove_scratch(session_id: str, root: Path | None = None) -> bool:
    """Delete session `session_id`'s scratch folder; whether there was one."""
    folder = scratch_folder(session_id, root)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True

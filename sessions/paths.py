"""Where the session database lives: `--db`, then `$HUDDLE_DB`, then the user data directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_VAR = "HUDDLE_DB"
FILE_NAME = "huddle.db"


def default_db_path() -> Path:
    """`huddle.db` in the platform's user data directory (XDG on Linux, Application
    Support on macOS, AppData\\Local on Windows)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("huddle", appauthor=False)) / FILE_NAME


def db_path(option: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The database to use: the `--db` option if given, else `$HUDDLE_DB` if set and
    not empty, else the default. `~` is expanded and the result made absolute."""
    environ = os.environ if environ is None else environ
    if option is not None and str(option):
        chosen = Path(option)
    elif environ.get(ENV_VAR):
        chosen = Path(environ[ENV_VAR])
    else:
        chosen = default_db_path()
    return chosen.expanduser().absolute()

"""Where the session database lives: `--db`, then `$HUDDLE_DB`, then config.toml's `db`,
then the user data directory.
A database is a SQLite file (a path) or a PostgreSQL server's (a `postgresql://` address)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_VAR = "HUDDLE_DB"
FILE_NAME = "huddle.db"
DSN_SCHEMES = ("postgresql://", "postgres://")
"""How an address of a PostgreSQL database starts (`--db postgresql://user@host/db`)."""


def is_dsn(target: object) -> bool:
    """Whether `target` names a PostgreSQL database, not a SQLite file."""
    return isinstance(target, str) and target.startswith(DSN_SCHEMES)


def default_db_path() -> Path:
    """`huddle.db` in the platform's user data directory (XDG on Linux, Application
    Support on macOS, AppData\\Local on Windows)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("huddle", appauthor=False)) / FILE_NAME


def db_path(
    option: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None,
    configured: str | None = None,
) -> Path | str:
    """The database to use: the `--db` option if given, else `$HUDDLE_DB` if set and
    not empty, else `configured` (config.toml's `db`), else the default. A file's `~` is
    expanded and its path made absolute; a PostgreSQL address is given as it is."""
    environ = os.environ if environ is None else environ
    if option is not None and str(option):
        chosen: str | os.PathLike[str] = option
    elif environ.get(ENV_VAR):
        chosen = environ[ENV_VAR]
    elif configured:
        chosen = configured
    else:
        chosen = default_db_path()
    if is_dsn(chosen):
        return str(chosen)
    return Path(chosen).expanduser().absolute()

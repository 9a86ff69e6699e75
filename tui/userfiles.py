"""The user's own files: `config.toml` and the team files in `teams/`, in huddle's
config folder (the platform's, or `HUDDLE_CONFIG_DIR`). Found, read and written
here; what is in them is parsed by the engine (`engine.config`, `engine.teams`).

Every problem is one line naming the file: a `ConfigError` or a `TeamFileError`.

The engine's parsers (and pydantic) are imported where a file is parsed: finding the
database (`database`) without a config.toml to read loads neither.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import UserConfig
    from engine.teams import TeamFile

TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
"""What a team file the user makes may be called (its file name in teams/)."""


def config_dir() -> Path:
    override = os.environ.get("HUDDLE_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("huddle", appauthor=False))


def config_path() -> Path:
    return config_dir() / "config.toml"


def teams_dir() -> Path:
    return config_dir() / "teams"


def _read(path: Path, error: type[ValueError]) -> str:
    """The text of `path`; `error`, naming it, when it cannot be read or is not UTF-8
    (FileNotFoundError as it is: what a missing file means is the caller's to say)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as problem:
        raise error(f"{path}: cannot read it: {problem.strerror}") from None
    except UnicodeDecodeError as problem:
        raise error(f"{path}: not UTF-8 text (byte {problem.start + 1}); save it as UTF-8") from None


ENVIRONMENT = {"anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"), "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
"""The variables that set the built-in providers' keys and addresses, over the file's."""


def database(option: str | None = None) -> Path | str:
    """The session database: `--db` (`option`), `$HUDDLE_DB`, config.toml's `db`, or the
    default (`sessions.paths.db_path`). A config.toml that cannot be read is a one-line
    `StoreError` only when it is needed: when neither of the first two says."""
    from sessions.errors import StoreError
    from sessions.paths import ENV_VAR, db_path

    if (option is not None and str(option)) or os.environ.get(ENV_VAR) or _missing(config_path()):
        return db_path(option)
    from engine.config import ConfigError

    try:
        configured = load_config().db
    except ConfigError as error:  # the database it names cannot be known: a problem with the database
        raise StoreError(f"huddle: {error}") from None
    return db_path(option, configured=configured.get_secret_value() if configured else None)


def _missing(path: Path) -> bool:
    """True only when there is certainly no file at `path` (reading it would find none); a
    path that cannot be looked at counts as there, so that reading it says why."""
    try:
        path.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def load_config(path: Path | None = None) -> UserConfig:
    """The user's config (empty when there is no file), with the environment over the
    file: ANTHROPIC_API_KEY and _BASE_URL, OPENAI_API_KEY and _BASE_URL, and each
    provider's `api_key_env`. ConfigError names the problem."""
    from engine.config import ConfigError, Endpoint, UserConfig, parse_config

    path = path or config_path()
    try:
        config = parse_config(_read(path, ConfigError), str(path))
    except FileNotFoundError:
        config = UserConfig()
    providers = dict(config.providers)
    for name, (key_variable, url_variable) in ENVIRONMENT.items():
        update = _from_environment(key_variable, url_variable)
        if update:
            providers[name] = providers.get(name, Endpoint()).model_copy(update=update)
    for name, endpoint in providers.items():
        if endpoint.api_key_env:
            providers[name] = endpoint.model_copy(update=_from_environment(endpoint.api_key_env, None))
    return config.model_copy(update={"providers": providers})


def _from_environment(key_variable: str, url_variable: str | None) -> dict[str, object]:
    from pydantic import SecretStr

    update: dict[str, object] = {}
    if key := os.environ.get(key_variable, "").strip():
        update["api_key"] = SecretStr(key)
    if url_variable and (url := os.environ.get(url_variable, "").strip()):
        update["base_url"] = url
    return update


# -- team files -----------------------------------------------------------------------


def load_team_file(path: Path) -> TeamFile:
    """A team file of the user's; its agents may use config.toml's MCP servers too. A
    config.toml that cannot be read is only an error here when the team needs it."""
    from engine.config import ConfigError
    from engine.teams import TeamFileError, parse_team_file

    try:
        text = _read(path, TeamFileError)
    except FileNotFoundError:
        raise TeamFileError(f"{path}: no such team file") from None
    try:
        shared, broken = load_config().mcp_servers, None
    except ConfigError as error:
        shared, broken = [], error
    try:
        return parse_team_file(text, str(path), shared)
    except TeamFileError:
        if broken is not None:  # the servers it names may be in the config that could not be read
            raise TeamFileError(str(broken)) from None
        raise


def user_team_paths() -> list[Path]:
    folder = teams_dir()
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def resolve_team(name_or_path: str) -> TeamFile:
    """A team by file path, by the name of a file in the teams folder, or by preset name."""
    from engine.patterns import PATTERNS
    from engine.teams import TeamFileError, preset

    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        return load_team_file(path)
    user_file = teams_dir() / f"{name_or_path}.toml"
    if user_file.exists():
        return load_team_file(user_file)
    if name_or_path in PATTERNS:
        return preset(name_or_path)
    known = [p.stem for p in user_team_paths()] + list(PATTERNS)
    raise TeamFileError(f"no team called {name_or_path!r}; choose from {', '.join(known)} or give a .toml path")


def is_preset(name_or_path: str, team_file: TeamFile) -> bool:
    """Whether `team_file`, found for `name_or_path`, is the preset as it ships."""
    from engine.patterns import PATTERNS
    from engine.teams import preset

    return name_or_path in PATTERNS and team_file == preset(name_or_path)


_NAME_LINE = re.compile(r'^name = "[^"\n]*"$', re.MULTILINE)


def copy_team(name: str, source: str, *, overwrite: bool = False) -> Path:
    """Save an editable copy of the team `source` (see `resolve_team`) as `name` in the
    teams folder; TeamFileError if the name is bad or the file exists. A preset's copy
    is its file, comments and all, under the new name."""
    from engine.teams import TeamFileError, preset_text, to_toml

    if not TEAM_NAME.match(name):
        raise TeamFileError(f"team name {name!r}: use lowercase letters, digits, '-' and '_'")
    path = teams_dir() / f"{name}.toml"
    if path.exists() and not overwrite:
        raise TeamFileError(f"{path} already exists; pick another name or pass --force")
    original = resolve_team(source)
    if is_preset(source, original):
        body = preset_text(source).split("\n\n", 1)[1]  # the preset's own heading left out
        text = f"# Your team {name}, made from huddle's {source} preset: edit it freely.\n\n" + _NAME_LINE.sub(
            f'name = "{name}"', body, count=1
        )
    else:
        text = f"# Your team {name}, made from {original.name!r}.\n" + to_toml(original.model_copy(update={"name": name}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path

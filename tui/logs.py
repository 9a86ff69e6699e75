"""huddle's log: a file in the user's log folder, for the details an error line leaves out.

    configure()                  # once, by the command that runs (app, headless, sessions)
    line = internal_error(error) # logs the traceback; the one line to show the person

It holds what happened, not what was said: commands, session ids, event kinds,
error types and the tracebacks of internal errors, never prompts or model text.
Every record passes the engine's secret redaction on its way in (the keys huddle
was given, see `hide`, included), and the files are readable by their owner only.

Where: `$HUDDLE_LOG_DIR`; else a `log` folder beside `$HUDDLE_DB` when that is
set (data kept elsewhere keeps its log with it); else the platform's user log
folder (`~/.local/state/huddle/log` on Linux). Modules log through
`logging.getLogger(__name__)`; only `configure` adds a handler.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.formats import one_line
from engine.redaction import redact
from sessions.paths import is_dsn

ENV_VAR = "HUDDLE_LOG_DIR"
FILE_NAME = "huddle.log"
MAX_BYTES = 2_000_000
"""Size at which the log rolls over to `huddle.log.1`."""
BACKUPS = 3
"""Rolled-over files kept: the log takes at most (1 + BACKUPS) × MAX_BYTES."""
OURS = ("engine", "sessions", "tui")
"""Our loggers: their information goes in; other libraries' only from warnings up."""

log = logging.getLogger(__name__)


def log_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder the log goes in: see the module's docstring."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_VAR):
        chosen = Path(environ[ENV_VAR])
    elif environ.get("HUDDLE_DB") and not is_dsn(environ["HUDDLE_DB"]):
        chosen = Path(environ["HUDDLE_DB"]).expanduser().absolute().parent / "log"
    else:
        from platformdirs import user_log_dir

        chosen = Path(user_log_dir("huddle", appauthor=False))
    return chosen.expanduser().absolute()


class _OwnerOnlyFile(logging.handlers.RotatingFileHandler):
    """A rotating log whose files (each new one after a roll-over too) only their owner can read."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a file made before, or by another umask, is closed too
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class _Redacting(logging.Filter):
    """Takes secrets out of every record: its message, its traceback, its stack."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        """The keys huddle was given, redacted wherever a piece of one appears."""
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


_redacting = _Redacting()
_handler: logging.Handler | None = None
_path: Path | None = None
_problem: str | None = None
"""Why the log could not be opened, when it could not."""


def configure(directory: Path | None = None) -> Path | None:
    """Send log records to the log file (`directory`, else `log_dir()`); the file, or None
    when it cannot be written (huddle works on, and error lines say why there is no log).
    Configuring again replaces the file (tests point each run elsewhere)."""
    global _handler, _path, _problem
    directory = directory or log_dir()
    path = directory / FILE_NAME
    if _handler is not None and path == _path:
        return _path
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
        _handler.close()
    _handler, _path, _problem = None, None, None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        handler: logging.Handler = _OwnerOnlyFile(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as error:
        _problem = f"no log: {one_line(error)}"
        handler = logging.NullHandler()  # and not Python's last resort, which writes over the screen
    else:
        _path = path
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    handler.addFilter(_redacting)
    root.addHandler(handler)
    for name in OURS:
        logging.getLogger(name).setLevel(logging.INFO)
    _handler = handler
    return _path


def hide(secrets: Iterable[str]) -> None:
    """Redact these (a provider's keys) from every record from now on."""
    _redacting.secrets.update(secret for secret in secrets if secret)


def where() -> str:
    """Where the details of an error are, for the end of its line: "details in PATH"."""
    if _path is not None:
        return f"details in {_path}"
    return _problem or "no log: logging is not configured"


def internal_error(error: BaseException, during: str = "huddle") -> str:
    """Log `error`'s traceback; the one line that tells the person, naming the log."""
    log.error("internal error in %s", during, exc_info=error)
    return f"internal error: {type(error).__name__}: {redact(one_line(error), _redacting.secrets)} ({where()})"

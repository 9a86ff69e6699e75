"""Exporting a recorded session, for `huddle sessions export` and the browser:
Markdown for people, JSON (every event, lossless) for tools."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from sessions.errors import StoreError
from sessions.export import Write, write_json, write_markdown
from sessions.rows import SessionRow
from sessions.store import SessionStore
from tui.safe import safe


async def write_export(store: SessionStore, row: SessionRow, fmt: str, write: Write) -> None:
    """The session's export (`md` or `json`), handed to `write` as it is made."""
    if fmt == "json":
        await write_json(row, store.iter_event_json(row.id), write)
    else:
        await write_markdown(row, store.iter_events(row.id), write, gate=safe)


_KINDS = (
    (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
)


def _check_replaceable(target: Path) -> None:
    """StoreError, in one line, unless `target` is missing or a regular file."""
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"huddle: cannot write {target} ({error.strerror or error}); choose another file") from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise StoreError(f"huddle: {target} is {kind}, not a regular file; it was left as it is: choose another file")


async def export_to_file(store: SessionStore, row: SessionRow, fmt: str, target: Path) -> Path:
    """Write the export to `target`, readable by its owner only; the absolute path.

    It is written to a temporary file beside `target`, then renamed into place, so a
    failure never leaves half an export (nor clobbers an older one). The rename would
    replace whatever is at `target`, so only a regular file (or nothing) may be there:
    a symbolic link, a FIFO, a device or a folder is refused, and left as it is."""
    target = target.expanduser().absolute()
    _check_replaceable(target)
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", delete=False
        ) as handle:
            temporary = Path(handle.name)
            await write_export(store, row, fmt, handle.write)
        _check_replaceable(target)  # once more: something may have taken its place meanwhile
        os.replace(temporary, target)
    except BaseException as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise StoreError(f"huddle: cannot write {target} ({reason}); choose another file") from error
        raise
    return target

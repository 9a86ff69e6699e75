"""Exporting a recorded session, for `huddle sessions export` and the browser:
Markdown for people, JSON (every event, lossless) for tools."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sessions.errors import StoreError
from sessions.export import Write, write_json, write_markdown
from sessions.rows import SessionRow
from sessions.store import SessionStore
from tui.safe import clean


async def write_export(store: SessionStore, row: SessionRow, fmt: str, write: Write) -> None:
    """The session's export (`md` or `json`), handed to `write` as it is made."""
    if fmt == "json":
        await write_json(row, store.iter_event_json(row.id), write)
    else:
        await write_markdown(row, store.iter_events(row.id), write, sanitize=clean)


async def export_to_file(store: SessionStore, row: SessionRow, fmt: str, target: Path) -> Path:
    """Write the export to `target`, readable by its owner only; the absolute path.

    It is written to a temporary file beside `target`, then renamed into place, so a
    failure never leaves half an export (nor clobbers an older one)."""
    target = target.expanduser().absolute()
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=target.parent, prefix=f".{target.name}.", delete=False
        ) as handle:
            temporary = Path(handle.name)
            await write_export(store, row, fmt, handle.write)
        os.replace(temporary, target)
    except BaseException as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            raise StoreError(f"huddle: cannot write {target} ({reason}); choose another file") from error
        raise
    return target

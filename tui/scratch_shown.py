"""How a session's scratch folder reads (the files its agents' code left there): for
`huddle sessions files`, the browser's preview and its files screen.

File names were chosen by a model's code: each passes the gate (`tui.safe.clean`), and
what would break a line of a list (a newline, a tab) shows as an escape ("\\n").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.formats import count, plural
from engine.sandbox.folder import snapshot
from sessions.scratch import scratch_folder
from tui.safe import clean

UNITS = ("KB", "MB", "GB", "TB")


@dataclass(frozen=True)
class ScratchFile:
    """One file in a scratch folder."""

    path: str
    """Relative to the folder, with "/" between parts."""
    size: int


def size_text(size: int) -> str:
    """A file's size as it reads in a list: "42 B", "1.2 KB", "3.4 MB"."""
    if size < 1024:
        return f"{count(size)} B"
    value = float(size)
    for unit in UNITS:  # the largest unit that keeps the value under 1024 (at most TB)
        value /= 1024
        if value < 1024:
            break
    return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"


def shown_path(path: str) -> str:
    """A file's path through the gate, on one line."""
    return clean(path).replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


@dataclass(frozen=True)
class Scratch:
    """A session's scratch folder as read just now."""

    folder: Path
    exists: bool
    files: list[ScratchFile]

    @property
    def size(self) -> int:
        return sum(one.size for one in self.files)

    def summary(self) -> str:
        """"3 files (1.2 KB) in /path/to/folder", or "no files in ...", "no files (no
        scratch folder at ...)"."""
        where = shown_path(str(self.folder))
        if not self.exists:
            return f"no files (no scratch folder at {where})"
        if not self.files:
            return f"no files in {where}"
        return f"{plural(len(self.files), 'file')} ({size_text(self.size)}) in {where}"

    def lines(self) -> list[str]:
        """Each file, its path then its size, the sizes lined up."""
        paths = [shown_path(one.path) for one in self.files]
        sizes = [size_text(one.size) for one in self.files]
        width = max(map(len, paths), default=0)
        size_width = max(map(len, sizes), default=0)
        return [f"{path.ljust(width)}  {size.rjust(size_width)}" for path, size in zip(paths, sizes, strict=True)]

    def to_json(self, session_id: str) -> dict[str, object]:
        """What `huddle sessions files --json` prints: the folder, whether it exists, and
        each file's path (through the gate) and size in bytes."""
        return {
            "session_id": session_id,
            "folder": clean(str(self.folder)),
            "exists": self.exists,
            "files": [{"path": clean(one.path), "size": one.size} for one in self.files],
        }


def read_scratch(session_id: str) -> Scratch:
    """Session `session_id`'s scratch folder, read now (it blocks: run it in a thread
    where a loop must not wait)."""
    folder = scratch_folder(session_id)
    if not folder.is_dir():
        return Scratch(folder, False, [])
    files = [ScratchFile(path, size) for path, (size, _) in sorted(snapshot(folder).items())]  # links listed, not followed
    return Scratch(folder, True, files)

"""A session's scratch folder as code sees it: made, at the first run, as a copy of the
folder huddle was started in; and what a run changed in it.

The copy leaves out what the file tools never look at (`engine.tools.SKIPPED_DIRS`:
.git, virtual environments, caches; and, as `list_files` does, every hidden folder:
.ssh, .config, .local with huddle's own data), every file that looks like a secret
(keys, credentials, .env), links (they could lead out), the scratch folders themselves
(huddle started above them), a SQLite database's write-ahead log and lock files (`-wal`,
`-shm`, `-journal`: a database being written is copied as its last checkpoint left it),
huddle's own session databases (other sessions' work is not this code's to read, nor
to hand back to a model), and anything past its bounds: at most
`MAX_FILES` files and `MAX_BYTES` in all, no file over `MAX_FILE`. What it left out is
counted, and the first run's result says so.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.tools import SKIPPED_DIRS, looks_secret

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database while it is written: never copied."""
HUDDLE_DATABASE = b"SQLite format 3\x00", 68, (0x48554444).to_bytes(4, "big")
"""How a huddle session database starts: SQLite's header, and at byte 68 its application
id (`sessions.migrations.APPLICATION_ID`, "HUDD")."""
MAX_FILES = 2000
"""Files the copy holds at most."""
MAX_BYTES = 50 * 1024 * 1024
"""Bytes the copy holds at most, all files together."""
MAX_FILE = 10 * 1024 * 1024
"""A file larger than this is left out of the copy."""
MAX_LISTED = 50
"""Changed files a result names; the rest are counted."""


@dataclass(frozen=True)
class Seeded:
    """What making the copy did."""

    copied: int = 0
    left_out: int = 0
    """Files past the bounds (count, size), never secrets or skipped folders, which are not counted."""

    def note(self) -> str:
        """A line for the first run's result; "" when nothing was left out."""
        if not self.left_out:
            return ""
        return (f"the scratch folder started as a copy of the project ({self.copied} files); "
                f"{self.left_out} more were left out (over {MAX_FILES} files, {MAX_BYTES >> 20} MB "
                f"in all or {MAX_FILE >> 20} MB a file)")


def seed(folder: Path, root: Path) -> Seeded | None:
    """Make `folder` a bounded copy of `root` when it does not exist yet; None when it did
    (a resumed session's, kept as its code left it). Made beside it and renamed into place,
    so a copy cut short is never taken for a whole one."""
    if folder.exists():
        return None
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    making = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}")
    making.mkdir(mode=0o700)
    try:
        seeded = _copy(root.resolve(), making)
        os.replace(making, folder)
    except BaseException:
        shutil.rmtree(making, ignore_errors=True)
        raise
    return seeded


def _copy(root: Path, target: Path) -> Seeded:
    copied = left_out = total = 0
    keep_out = target.parent.resolve()  # the scratch folders themselves, when huddle runs above them
    if not root.is_dir():
        return Seeded()
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(
            name for name in folders
            if name not in SKIPPED_DIRS and not name.startswith(".") and not Path(directory, name).is_symlink()
            and Path(directory, name) != keep_out
        )
        here = Path(directory)
        for name in sorted(files):
            source = here / name
            try:
                info = source.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or name.endswith(SQLITE_SIDE_FILES) or looks_secret(source, root):
                continue
            if _huddles_database(source):
                continue
            if copied >= MAX_FILES or info.st_size > MAX_FILE or total + info.st_size > MAX_BYTES:
                left_out += 1
                continue
            destination = target / source.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(source, destination, follow_symlinks=False)
            except OSError:  # unreadable: not the code's to see
                continue
            copied += 1
            total += info.st_size
    return Seeded(copied, left_out)


Snapshot = dict[str, tuple[int, int]]
"""Each file of a folder by path (relative, "/" between parts): its size and modification time."""


def snapshot(folder: Path) -> Snapshot:
    """The files of `folder` and below (links listed, never followed)."""
    found: Snapshot = {}
    for directory, folders, files in os.walk(folder):
        for name in files:
            path = Path(directory, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            found[path.relative_to(folder).as_posix()] = (info.st_size, info.st_mtime_ns)
    return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What a run changed: "added x", "changed y", "deleted z", by path."""
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            lines.append(f"added {path}")
        elif path not in after:
            lines.append(f"deleted {path}")
        elif before[path] != after[path]:
            lines.append(f"changed {path}")
    return lines


def give_to(folder: Path, uid: int, gid: int) -> None:
    """Make `folder` and everything in it owned by `uid`/`gid` (the unprivileged user code
    runs as when huddle runs as root), so the code can write there."""
    for directory, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            os.chown(Path(directory, name), uid, gid, follow_symlinks=False)
    os.chown(folder, uid, gid)


def _huddles_database(path: Path) -> bool:
    """Whether `path` is a huddle session database (read from its header)."""
    header, at, application = HUDDLE_DATABASE
    try:
        with path.open("rb") as file:
            start = file.read(at + len(application))
    except OSError:
        return False
    return start.startswith(header) and start[at:] == application

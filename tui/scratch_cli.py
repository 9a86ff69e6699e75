"""`huddle sessions files ID`: the files a session's code left in its scratch folder, and
where that folder is.

The folder is on the machine that ran the session (`sessions.scratch`): a session run
elsewhere (a shared PostgreSQL database) has none here, and says so.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tui.exits import EXIT_OK

if TYPE_CHECKING:
    from sessions.store import SessionStore


def add_files_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], db_option: argparse.ArgumentParser) -> None:
    """Add `files` to `huddle sessions`."""
    files = sub.add_parser(
        "files", parents=[db_option], help="list the files a session's code left in its scratch folder",
        description="List the files in a session's scratch folder (what code its agents ran wrote), "
                    "with their sizes, and say where the folder is.",
    )
    files.add_argument("id", metavar="ID", help="session id, or a unique prefix of it")
    files.add_argument("--json", action="store_true", help="print the folder and its files (path, size in bytes) as JSON")


async def show_files(args: argparse.Namespace, open_store: Callable[[argparse.Namespace], Awaitable[SessionStore]]) -> int:
    """Print session `args.id`'s scratch files: a list under where they are, or JSON."""
    from tui.scratch_shown import read_scratch

    async with await open_store(args) as store:
        row = await store.get_session(args.id)
    scratch = read_scratch(row.id)
    if args.json:  # every character beyond ASCII escaped: the terminal sees none of it raw
        print(json.dumps(scratch.to_json(row.id), indent=2))
        return EXIT_OK
    print(scratch.summary() + (":" if scratch.files else ""))
    for line in scratch.lines():
        print(f"  {line}")
    return EXIT_OK

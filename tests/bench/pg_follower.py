"""The second process of `bench_pg`'s attach figure: a `Follower` on a PostgreSQL store,
as `huddle attach` on another machine would run it.

    python -m tests.bench.pg_follower DSN SESSION_ID

It opens the store, prints `ready` (the recording may start), waits for the session to
appear, follows it to its end, and prints one JSON line: for each event read once the
session was found live, `[seq, ts, read_at]` (the event's emission time and the moment
this process had it, both `time.time()`: one machine, one clock), the pages read and how
the session ended. A store error is one line on stderr and exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from sessions.errors import SessionNotFound, StoreError
from sessions.pg_store import PgSessionStore
from tui.following import Follower

APPEAR_S = 0.05
"""Longest wait for a change before looking again for the session's row."""


async def follow(dsn: str, session_id: str) -> dict[str, object]:
    async with await PgSessionStore.open(dsn, create=False) as store:
        print("ready", flush=True)
        while True:  # look first, then wait: a change committed before the wait is not told
            try:
                await store.get_session(session_id)
                break
            except SessionNotFound:
                await store.wait_for_change(session_id, APPEAR_S)
        follower = Follower(store, session_id)
        read: list[tuple[int, float, float]] = []
        pages = 0
        async for page in follower.pages():
            now = time.time()
            pages += 1
            if follower.was_live:  # caught up: from here on, what came as it happened
                read += [(event.seq, event.ts, now) for event in page]
    ended = follower.ended.status if follower.ended is not None else None
    return {"read": read, "pages": pages, "ended": ended}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.bench.pg_follower DSN SESSION_ID", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(follow(*argv))
    except StoreError as error:
        print(str(error), file=sys.stderr)
        return 1
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

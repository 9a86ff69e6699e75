"""Copying every session from one store to another (`huddle db copy SRC DST`): a local
SQLite history into a team's PostgreSQL database, back, or between two of a kind.

Each session is written through the destination store's own write path
(`import_session`), whole in one transaction: its row as it is in the source, its
events as their exact JSON text, the search documents they give, and the decisions
posted for it. An interrupted copy leaves whole sessions only, and copying again
picks up where it stopped: a session already there with the same last event is
skipped, one there with other content is reported and left as it is (never
overwritten), and one still running or waiting is copied as it is now and said (what
it records next goes to the source only).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sessions.errors import AmbiguousId, SessionNotFound
from sessions.rows import COLUMNS, LIVE_STATES, SessionRow
from sessions.search import SEARCHED

if TYPE_CHECKING:
    from sessions.pg_store import PgSessionStore
    from sessions.store import EventRow, SessionStore

    Store = SessionStore | PgSessionStore

PAGE = 100
"""Sessions listed from the source at a time, and how often progress is told."""
EVENT_PAGE = 2000
"""Events read from the source, and written, at a time."""


@dataclass
class Copied:
    """What a copy did, counted."""

    copied: int = 0
    events: int = 0
    """Events of the sessions copied."""
    already: int = 0
    """Sessions the destination held already, with the same last event."""
    differ: list[str] = field(default_factory=list)
    """Sessions the destination holds with other content: left as they are there."""
    live: list[str] = field(default_factory=list)
    """Sessions copied while still running or waiting in the source."""
    damaged: list[str] = field(default_factory=list)
    """Sessions whose row in the source could not be read whole: not copied."""

    def summary(self) -> str:
        """One line: "copied 812 sessions (1,204,330 events), 3 already there, 0 differ"."""
        line = (f"copied {_sessions(self.copied)} ({self.events:,} event{'' if self.events == 1 else 's'}), "
                f"{self.already:,} already there, {len(self.differ):,} differ")
        if self.live:
            line += f", {len(self.live):,} still being recorded in the source"
        if self.damaged:
            line += f", {len(self.damaged):,} damaged (not copied)"
        return line


def _sessions(count: int) -> str:
    return f"{count:,} session{'' if count == 1 else 's'}"


def row_values(row: SessionRow) -> tuple[Any, ...]:
    """A row as the database holds it, in `COLUMNS` order (names lists as JSON text,
    as `rows.started_values` writes them)."""
    values = {**row.to_json(), "agents": json.dumps(list(row.agents)), "models": json.dumps(list(row.models)),
              "partial": int(row.partial)}
    return tuple(values[column] for column in COLUMNS)


def documents(events: list[EventRow]) -> list[tuple[str, int, str]]:
    """The search documents a page of events gives: (session id, seq, text)."""
    found = []
    for session_id, seq, _, kind, _, data in events:
        name = SEARCHED.get(kind)
        if name is not None:
            text = json.loads(data).get(name)
            if isinstance(text, str) and text:
                found.append((session_id, seq, text))
    return found


async def _pages(
    src: Store, row: SessionRow, counted: Callable[[int], None]
) -> AsyncIterator[tuple[list[EventRow], list[tuple[str, int, str]]]]:
    """A session's events up to its row's last one (a live session records on meanwhile), a
    page at a time, with their search documents."""
    after = 0
    while after < row.last_seq:
        page = await src.event_rows(row.id, after_seq=after, limit=min(EVENT_PAGE, row.last_seq - after))
        page = [event for event in page if event[1] <= row.last_seq]
        if not page:
            return
        counted(len(page))
        yield page, documents(page)
        after = page[-1][1]


async def _there(dst: Store, session_id: str) -> SessionRow | None:
    """The destination's session with exactly this id, if it has one."""
    try:
        found = await dst.get_session(session_id)
    except (SessionNotFound, AmbiguousId):
        return None
    return found if found.id == session_id else None


async def copy_sessions(src: Store, dst: Store, *, say: Callable[[str], None]) -> Copied:
    """Copy every session of `src` that `dst` lacks, oldest first, each whole in one
    transaction; `say` is told progress (a line per `PAGE` sessions) and each session
    worth a word (differing, live, damaged). Returns what was done."""
    done = Copied()
    total = await src.count_sessions()
    offset = 0
    while True:
        rows = await src.list_sessions(order_by="created_at", descending=False, limit=PAGE, offset=offset)
        for row in rows:
            await _copy_one(src, dst, row, done, say)
        offset += len(rows)
        if len(rows) < PAGE:
            return done
        say(f"huddle: {offset:,} of {_sessions(max(total, offset))} looked at: {done.summary()}")


async def _copy_one(src: Store, dst: Store, row: SessionRow, done: Copied, say: Callable[[str], None]) -> None:
    if row.damaged:
        done.damaged.append(row.id)
        say(f"huddle: session {row.id} in {src.path} has a damaged row ({', '.join(row.damaged)}); not copied")
        return
    there = await _there(dst, row.id)
    if there is None:
        events = 0

        def counted(count: int) -> None:
            nonlocal events
            events += count

        posted = await src.decisions_of(row.id)
        if await dst.import_session(row_values(row), _pages(src, row, counted), posted):
            done.copied += 1
            done.events += events
            if row.status in LIVE_STATES:
                done.live.append(row.id)
                say(f"huddle: session {row.id} is still {row.status} in {src.path}: copied as it is now "
                    f"(to event {row.last_seq}); what it records next stays in {src.path} only")
            return
        there = await _there(dst, row.id)  # written there by another huddle meanwhile
    if there is not None and there.last_seq == row.last_seq:
        done.already += 1
        return
    done.differ.append(row.id)
    theirs = "gone again" if there is None else f"its last event {there.last_seq}"
    say(f"huddle: session {row.id} is in {dst.path} with other content ({theirs} there, {row.last_seq} in "
        f"{src.path}); left as it is there")

"""`sessions.copying`: every session copied from one store to another, either way, whole:
SQLite → PostgreSQL → SQLite gives the same rows, event JSON, search and decisions; a
second copy copies nothing; a session there with other content is reported and left as
it is; a live one is copied as it is and said; a copy cut off leaves whole sessions only."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from sessions.copying import copy_sessions
from sessions.decisions import Posted
from sessions.liveness import HOST
from sessions.pg_store import PgSessionStore
from sessions.store import SessionStore
from tests.sessions.helpers import raw, record, search_documents


WORDS = ("zanzibar", "quokka")


async def recorded(path: Path, count: int = 2) -> list[str]:
    """A SQLite file with `count` finished sessions, one with a decision settled and one
    waiting; their ids, oldest first."""
    async with await SessionStore.open(path) as store:
        ids = [(await record(store, task=f"Design a rate limiter for {WORDS[n]}")).finished.session_id
               for n in range(count)]
        for n, escalation in enumerate(("esc-1", "esc-2")):
            await store.post_decision(Posted(ids[0], escalation, "edit", None, "smaller", {"limit": n, "note": "café"},
                                             "once", "ana@box in the inbox", 1_800_000_000.5 + n))
        await store.settle_decision(ids[0], "esc-1", "taken")
    return ids


async def contents(store: Any) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, list[Any]], int]:
    """Everything a copy carries: rows, event JSON, decisions and search documents."""
    rows = [row.to_json() for row in await store.list_sessions(limit=1000)]
    events = {row["id"]: [data async for data in store.iter_event_json(row["id"])] for row in rows}
    decided = {row["id"]: await store.decisions_of(row["id"]) for row in rows}
    return rows, events, decided, await search_documents(store)


def said() -> tuple[list[str], Any]:
    lines: list[str] = []
    return lines, lines.append


async def test_a_round_trip_through_postgresql_keeps_every_session_as_it_was(tmp_path: Path, pg_dsn: str) -> None:
    ids = await recorded(tmp_path / "a.db")
    async with await SessionStore.open(tmp_path / "a.db") as first, await PgSessionStore.open(pg_dsn) as shared:
        before = await contents(first)
        lines, say = said()
        done = await copy_sessions(first, shared, say=say)
        assert (done.copied, done.already, done.differ, done.live) == (2, 0, [], [])
        assert done.events == sum(len(events) for events in before[1].values()) > 100
        assert lines == []  # nothing worth a word
        assert await contents(shared) == before
        assert [row.id for row in await shared.list_sessions(search="quokka")] == [ids[1]]
        assert [p.outcome for p in await shared.waiting_decisions(ids[0])] == [None]  # esc-2 still on its way

        async with await SessionStore.open(tmp_path / "back.db") as back:
            done = await copy_sessions(shared, back, say=say)
            assert done.copied == 2
            assert await contents(back) == before
            assert [row.id for row in await back.list_sessions(search="zanzib")] == [ids[0]]


async def test_copying_again_copies_nothing(tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await recorded(tmp_path / "a.db")
    async with await SessionStore.open(tmp_path / "a.db") as first, await PgSessionStore.open(pg_dsn) as shared:
        monkeypatch.setattr("sessions.copying.PAGE", 1)  # a line of progress a session
        progress, say = said()
        await copy_sessions(first, shared, say=say)
        assert progress == [
            "huddle: 1 of 2 sessions looked at: copied 1 session (" + progress[0].split(" (", 1)[1],
            "huddle: 2 of 2 sessions looked at: copied 2 sessions (" + progress[1].split(" (", 1)[1],
        ]
        assert progress[1].endswith("events), 0 already there, 0 differ")
        monkeypatch.undo()
        copied = await contents(shared)
        lines, say = said()
        again = await copy_sessions(first, shared, say=say)
        assert (again.copied, again.events, again.already, again.differ) == (0, 0, 2, [])
        assert again.summary() == "copied 0 sessions (0 events), 2 already there, 0 differ"
        assert lines == [] and await contents(shared) == copied


async def test_a_session_there_with_other_content_is_reported_and_left_as_it_is(tmp_path: Path) -> None:
    ids = await recorded(tmp_path / "a.db")
    async with await SessionStore.open(tmp_path / "a.db") as first, await SessionStore.open(tmp_path / "b.db") as other:
        await copy_sessions(first, other, say=said()[1])
        await raw(other, "DELETE FROM events WHERE session_id = ? AND seq > 5", (ids[1],))
        await raw(other, "UPDATE sessions SET last_seq = 5, title = 'cut short' WHERE id = ?", (ids[1],))
        kept = await contents(other)
        lines, say = said()
        done = await copy_sessions(first, other, say=say)
        assert (done.copied, done.already, done.differ) == (0, 1, [ids[1]])
        [line] = lines
        assert line.startswith(f"huddle: session {ids[1]} is in {other.path} with other content (its last event 5 there")
        assert line.endswith("left as it is there")
        assert await contents(other) == kept
        assert (await other.get_session(ids[1])).title == "cut short"


async def test_a_live_session_is_copied_as_it_is_now_and_said(tmp_path: Path, pg_dsn: str) -> None:
    ids = await recorded(tmp_path / "a.db", count=1)
    async with await SessionStore.open(tmp_path / "a.db") as first, await PgSessionStore.open(pg_dsn) as shared:
        # Read as the row stood at event 10, while its recorder had written more since.
        await raw(first, "UPDATE sessions SET status = 'running', pid = ?, host = ?, heartbeat = ?, last_seq = 10 "
                  "WHERE id = ?", (os.getpid(), HOST, time.time(), ids[0]))
        lines, say = said()
        done = await copy_sessions(first, shared, say=say)
        assert (done.copied, done.events, done.live) == (1, 10, [ids[0]])
        assert "still being recorded in the source" in done.summary()
        [line] = lines
        assert f"session {ids[0]} is still running in {first.path}: copied as it is now" in line
        copied = await shared.get_session(ids[0])
        assert (copied.status, copied.last_seq, await shared.event_count(ids[0])) == ("running", 10, 10)


class Failing:
    """A source store whose events of one session cannot be read: a copy cut off midway."""

    def __init__(self, store: SessionStore, broken: str) -> None:
        self._store, self._broken = store, broken

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def event_rows(self, session_id: str, **where: Any) -> Any:
        if session_id == self._broken and where["after_seq"] > 0:  # its first page went through
            raise OSError("the disk went away")
        return await self._store.event_rows(session_id, **where)


async def test_a_copy_cut_off_leaves_whole_sessions_and_the_next_one_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sessions.copying.EVENT_PAGE", 10)
    ids = await recorded(tmp_path / "a.db")
    async with await SessionStore.open(tmp_path / "a.db") as first, await SessionStore.open(tmp_path / "b.db") as other:
        with pytest.raises(OSError):
            await copy_sessions(Failing(first, ids[1]), other, say=said()[1])  # type: ignore[arg-type]
        assert [row.id for row in await other.list_sessions()] == [ids[0]]
        assert await raw(other, "SELECT count(*) FROM events WHERE session_id = ?", (ids[1],)) == [(0,)]
        done = await copy_sessions(first, other, say=said()[1])
        assert (done.copied, done.already) == (1, 1)
        assert await contents(other) == await contents(first)

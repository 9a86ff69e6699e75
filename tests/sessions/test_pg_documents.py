"""A PostgreSQL store writes a batch's search documents just after its commit, on a
connection of its own (`pg_indexer`): the recording does not wait for them, a search
of the store does, and documents a process did not write are written from the events
when the database is next opened."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sessions.pg_indexer import INSERT_DOCUMENTS, PgIndexer
from sessions.pg_store import PgSessionStore
from tests.sessions.helpers import pg_connect, raw, record


async def indexed(store: PgSessionStore, session_id: str) -> tuple[int, int]:
    """A session's `indexed_seq` and `last_seq`, as another program reads them."""
    sql = "SELECT indexed_seq, last_seq FROM sessions WHERE id = ?"
    [(indexed_seq, last_seq)] = await raw(store, sql, (session_id,))
    return indexed_seq, last_seq


async def written_now(store: PgSessionStore, session_id: str) -> int:
    """A session's search documents, as another program sees them now (without waiting)."""
    return (await raw(store, "SELECT count(*) FROM search WHERE session_id = ?", (session_id,)))[0][0]


async def test_the_recording_does_not_wait_for_the_documents_and_a_search_does(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = asyncio.Event()
    write = PgIndexer._write

    async def held_back(self: PgIndexer, *args: Any) -> None:
        await held.wait()
        await write(self, *args)

    monkeypatch.setattr(PgIndexer, "_write", held_back)
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store, task="Design a rate limiter")  # every event committed
        session_id = ran.finished.session_id
        assert await written_now(store, session_id) == 0
        assert (await indexed(store, session_id))[0] == 0
        searching = asyncio.ensure_future(store.list_sessions(search="limiter"))
        done, _ = await asyncio.wait({searching}, timeout=0.2)
        assert not done  # it waits for them
        held.set()
        assert [row.id for row in await searching] == [session_id]
        assert await written_now(store, session_id) > 0
        indexed_seq, last_seq = await indexed(store, session_id)
        assert indexed_seq == last_seq == len(ran.events)


async def test_documents_a_process_did_not_write_are_written_when_the_database_is_next_opened(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(text: str) -> str:
        raise RuntimeError("no room for it")

    async with await PgSessionStore.open(pg_dsn) as store:
        with monkeypatch.context() as broken, caplog.at_level(logging.WARNING, logger="sessions.pg_indexer"):
            broken.setattr(store._indexer, "_fold", failing)
            ran = await record(store, task="Design a rate limiter")
            session_id = ran.finished.session_id
            assert await store.list_sessions(search="limiter") == []
        said = [line.getMessage() for line in caplog.records]
        assert len(said) == 1 and "no room for it" in said[0] and "\n" not in said[0], said
        later = await record(store, task="Review the limiter")  # the next session's are written
        assert [row.id for row in await store.list_sessions(search="review")] == [later.finished.session_id]
        assert (await indexed(store, session_id))[0] == 0

    async with await PgSessionStore.open(pg_dsn) as store:  # written from the events
        assert await written_now(store, session_id) == await written_now(store, later.finished.session_id) > 0
        assert [row.id for row in await store.list_sessions(search="limiter")] == [
            later.finished.session_id, session_id,
        ]
        indexed_seq, last_seq = await indexed(store, session_id)
        assert indexed_seq == last_seq == len(ran.events)


async def test_a_live_session_is_left_to_the_process_recording_it(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another huddle opening the database meanwhile does not write its documents twice."""
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store)
        session_id = ran.finished.session_id
        await raw(store, "UPDATE sessions SET status = 'running', indexed_seq = 3 WHERE id = ?", (session_id,))
        before = await written_now(store, session_id)
        async with await PgSessionStore.open(pg_dsn) as other:
            assert await written_now(other, session_id) == before
            assert (await indexed(other, session_id))[0] == 3


async def test_documents_made_again_at_open_keep_those_written_before_their_seq_moved_on(pg_dsn: str) -> None:
    """A process stopped between writing a session's documents and moving its `indexed_seq`
    on: the next open makes them again from the events, and those already there are kept
    (not a failure to open)."""
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store, task="Design a rate limiter")
        session_id = ran.finished.session_id
        await store.list_sessions(search="limiter")  # every document written
        before = await written_now(store, session_id)
        await raw(store, "UPDATE sessions SET indexed_seq = 0 WHERE id = ?", (session_id,))

    async with await PgSessionStore.open(pg_dsn) as store:
        assert await written_now(store, session_id) == before > 0
        assert await indexed(store, session_id) == (len(ran.events), len(ran.events))
        assert [row.id for row in await store.list_sessions(search="limiter")] == [session_id]


async def test_documents_written_while_their_session_is_deleted_are_not_left_behind(pg_dsn: str) -> None:
    """The indexer writes a session's documents while `delete_session` deletes it (its
    transaction not yet committed): the insert waits for the delete, then finds no session
    and writes nothing. It wrote them unseen by the delete, and they outlived the session."""
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store, task="Forget the zeppelin notes")
        session_id = ran.finished.session_id
        await store.list_sessions(search="zeppelin")  # every document written
        indexed_seq, last_seq = await indexed(store, session_id)
    deleting, indexing, watching = [await pg_connect(pg_dsn) for _ in range(3)]
    try:
        async with deleting.transaction():  # as delete_session does
            await deleting.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", session_id)
            await deleting.execute("DELETE FROM search WHERE session_id = $1", session_id)
            await deleting.execute("DELETE FROM sessions WHERE id = $1", session_id)
            inserting = asyncio.ensure_future(indexing.execute(
                INSERT_DOCUMENTS, session_id, indexed_seq, [last_seq + 1, last_seq + 2], ["zeppelin notes", "more notes"],
            ))
            waiting = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
            for _ in range(1000):  # until it has written, or waits for the delete
                if inserting.done() or await watching.fetchval(waiting, indexing.get_server_pid()):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the insert neither ended nor waited")
        await inserting
        assert await watching.fetchval("SELECT count(*) FROM search WHERE session_id = $1", session_id) == 0
    finally:
        for connection in (deleting, indexing, watching):
            await connection.close()

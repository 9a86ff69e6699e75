"""A SQLite store's recorder batches are written by a process of its own (`writer_process`):
it ends with the store, and with huddle, after writing what it was handed; one that dies
fails its batch in one line; events sent ahead of a batch are committed with it or not at
all, and the store's own writes wait their turn meanwhile. A batch that ends a session is
committed by the loop itself when no other program writes (`BatchWriter.write_now`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.events import EventBase, event_to_json
from sessions import recorder
from sessions.errors import StoreError
from sessions.store import Batch, EventRow, SessionStore
from sessions.rows import started_values
from tests.sessions.helpers import connect, record, search_documents, until

pytestmark = pytest.mark.sqlite_only


def rows_of(events: list[EventBase], session_id: str) -> list[EventRow]:
    """`events` as a recorder's rows, for a session of another id."""
    moved = [event.model_copy(update={"session_id": session_id}) for event in events]
    return [(e.session_id, e.seq, e.ts, e.kind, e.agent, event_to_json(e)) for e in moved]


def whole(events: list[EventBase], session_id: str) -> tuple[list[EventRow], Batch]:
    """A batch of all of `events`, for a new session of another id: its rows, and the batch."""
    rows = rows_of(events, session_id)
    started = started_values(events[0].model_copy(update={"session_id": session_id}), pid=os.getpid(), host="here")
    return rows, Batch(started=[started], events=rows)


def begun(store: SessionStore, events: list[EventBase], session_id: str) -> tuple[list[EventRow], Batch]:
    """`whole` in the store's batch begun (`begin_batch`), its first 3 rows sent ahead."""
    rows, batch = whole(events, session_id)
    store.stage(rows[:3])
    return rows, batch


def stored(path: Path, session_id: str) -> int:
    with connect(path) as raw:
        return raw.execute("SELECT count(*) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]


def locked(path: Path) -> bool:
    """Whether another connection holds the file's write lock now."""
    try:
        with connect(path) as raw:
            raw.execute("PRAGMA busy_timeout = 0")
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return True
    return False


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie (not yet reaped) has ended too
        return stat.read().split(")")[-1].split()[0] == "Z"


async def test_batches_are_written_by_a_process_of_its_own_that_ends_with_the_store(db_path: Path) -> None:
    store = await SessionStore.open(db_path)
    ran = await record(store)
    process = store._writer._process
    assert process is not None and process.pid != os.getpid() and process.poll() is None
    await store.close()
    assert process.returncode == 0
    assert stored(db_path, ran.finished.session_id) == len(ran.events)


async def test_a_writer_that_dies_with_a_batch_unwritten_fails_it_in_one_line(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "NOW_AT_MOST", 0)  # a session's last batch goes to the writer too
    async with await SessionStore.open(db_path) as store:
        await record(store)
        writer = store._writer
        process = writer._process
        assert process is not None
        await until(lambda: not writer._waiting)  # that session's search documents are written too
        os.kill(process.pid, signal.SIGSTOP)  # it takes nothing more from its pipe
        recording = asyncio.ensure_future(record(store, task="Cut short"))
        await until(lambda: bool(writer._waiting))  # the session's batch went to it
        process.kill()
        with pytest.raises(StoreError) as raised:
            await recording
        message = str(raised.value)
        assert "the process writing" in message and "ended unexpectedly" in message and "\n" not in message
        again = await record(store, task="Recorded again")  # by a new writer
        assert writer._process is not process
    assert stored(db_path, again.finished.session_id) == len(again.events)
    with connect(db_path) as raw:
        assert raw.execute("SELECT count(*) FROM sessions WHERE task = 'Cut short'").fetchone()[0] == 0


async def test_events_sent_ahead_of_a_batch_that_does_not_come_are_not_stored(db_path: Path) -> None:
    async with await SessionStore.open(db_path) as store:
        ran = await record(store)
        assert await store.begin_batch()
        store.stage(rows_of(ran.events, "ahead0000001")[:5])
        store.unstage()
        after = await record(store, task="Written after")
    assert stored(db_path, "ahead0000001") == 0
    assert stored(db_path, after.finished.session_id) == len(after.events)


async def test_a_batch_begun_is_committed_whole_and_the_stores_own_writes_wait_their_turn(db_path: Path) -> None:
    async with await SessionStore.open(db_path) as store:
        ran = await record(store)
        assert await store.begin_batch()
        rows, batch = begun(store, ran.events, "ahead0000002")
        await until(lambda: locked(db_path))  # the writer holds the batch's transaction open
        beat = asyncio.ensure_future(store.beat(["ahead0000002"]))  # a write of the store's own, meanwhile
        await asyncio.sleep(0)  # its turn to start: it waits for the write lock, which the batch holds
        await (await store.write_batch(batch))
        await asyncio.wait_for(beat, 10)  # then goes: no write waited on the other until a timeout
    assert stored(db_path, "ahead0000002") == len(rows)


async def test_closing_the_store_lets_a_batch_begun_be_written_first(db_path: Path) -> None:
    """A store closed while a recorder's batch is begun (its first rows sent ahead) lets
    the batch go to the writer, and be committed, before the writer is let go."""
    store = await SessionStore.open(db_path)
    try:
        ran = await record(store)
        assert await store.begin_batch()
        rows, batch = begun(store, ran.events, "ahead0000003")
        closing = asyncio.ensure_future(store.close())
        await asyncio.sleep(0)  # its turn to start: it waits for the batch's write turn
        assert not closing.done()
        await (await store.write_batch(batch))
        await asyncio.wait_for(closing, 10)
    finally:
        await store.close()
    assert stored(db_path, "ahead0000003") == len(rows)


async def test_a_batch_written_now_is_committed_by_the_loop_and_its_documents_by_the_writer(db_path: Path) -> None:
    """A batch the loop only waits for (a session's end) is committed before `write_batch`
    returns, on the loop's own connection: no turn of the loop, nor the writer, was needed;
    its search documents are the writer's to write, after, as a sent batch's are."""
    async with await SessionStore.open(db_path) as store:
        ran = await record(store)
        rows, batch = whole(ran.events, "atonce000001")

        commit = await store.write_batch(batch, now=True)

        assert commit.done() and commit.exception() is None
        assert stored(db_path, "atonce000001") == len(rows)
        assert await search_documents(store, "atonce000001") == await search_documents(store, ran.finished.session_id) > 0
        again = await record(store, task="Recorded after")  # the writer's and the loop's commits take turns
    assert stored(db_path, again.finished.session_id) == len(again.events)


async def test_a_batch_to_write_now_while_another_program_writes_waits_its_turn_in_the_writer(db_path: Path) -> None:
    """The loop's connection waits for no lock: while another program holds the file's, the
    batch goes to the writer process (which waits for it, as for any batch), and the loop
    goes on."""
    async with await SessionStore.open(db_path) as store:
        ran = await record(store)
        rows, batch = whole(ran.events, "atonce000002")
        with connect(db_path) as other:
            other.execute("BEGIN IMMEDIATE")

            commit = await asyncio.wait_for(store.write_batch(batch, now=True), 10)

            assert not commit.done() and store._writer._waiting
            other.execute("ROLLBACK")
        await asyncio.wait_for(commit, 10)
    assert stored(db_path, "atonce000002") == len(rows)


async def test_a_batch_written_now_that_fails_is_not_stored_and_says_why_in_one_line(db_path: Path) -> None:
    async with await SessionStore.open(db_path) as store:
        ran = await record(store)
        rows, batch = whole(ran.events, "atonce000003")
        batch.events[-1] = batch.events[0]  # the same seq twice

        commit = await store.write_batch(batch, now=True)

        with pytest.raises(StoreError) as raised:
            await commit
        assert str(db_path) in str(raised.value) and "\n" not in str(raised.value)
        assert stored(db_path, "atonce000003") == 0
        again = await record(store, task="Recorded after")
    assert stored(db_path, again.finished.session_id) == len(again.events)


def test_what_huddle_handed_the_writer_is_written_when_huddle_is_killed(tmp_path: Path) -> None:
    """huddle dies (kill -9) just after handing a session's last batch over: the writer
    writes it, then ends, seeing its input end."""
    path = tmp_path / "killed.db"
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from sessions.store import SessionStore
        from tests.sessions.helpers import record

        write_batch = SessionStore.write_batch

        async def then_killed(self, batch, now=False):
            commit = await write_batch(self, batch)  # handed to the writer, not committed here (`now`)
            if any(row[3] == "session.finished" for row in batch.events):
                print(self._writer._process.pid, batch.events[0][0], batch.events[-1][1], flush=True)
                os.kill(os.getpid(), signal.SIGKILL)  # before the commit is said
            return commit

        SessionStore.write_batch = then_killed

        async def main():
            store = await SessionStore.open({str(path)!r})
            await record(store)

        asyncio.run(main())
    """)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid, session_id, last = done.stdout.split()
    asyncio.run(until(lambda: gone(int(pid))))
    assert stored(path, session_id) == int(last)

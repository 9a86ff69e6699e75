"""Spool files left behind by a huddle that ended while its database was away are written
by the next one on that database: in order, each batch once, the file then removed; a file
of a live process or of another database is left alone; events whose place is taken are
kept in a renamed file, and a line says so. A header never holds a password."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from engine.bus import EventBus
from engine.events import EventBase, event_to_json
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions.errors import StoreError, StoreUnreachable
from sessions.leftovers import write_leftovers
from sessions.liveness import HOST
from sessions.pg_store import PgSessionStore
from sessions.recorder import Recorder
from sessions.spool import Spool, SpoolHeader, spool_dir
from sessions.store import Batch, SessionStore
from tests.helpers import FAST_RETRY, run
from tests.sessions.helpers import APPROVE, TASK, raw, until
from tests.sessions.pg_server import SECRET_PASSWORD, PgServer
from tui.recording import LiveSession


def ended_pid() -> int:
    """The pid of a process that ran and ended (and was reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


@pytest.fixture
def alive() -> Iterator[int]:
    """The pid of a process that runs for the whole test."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


class Away:
    """A store whose server goes away once `down` is set: writes and reads fail as a lost
    server's do (the recorder then spools its batches)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _gone(self) -> StoreUnreachable:
        return StoreUnreachable(f"huddle: lost the connection to the server at {self._store.path} (test)")

    async def write_batch(self, batch: Batch, *, now: bool = False) -> asyncio.Future[None]:
        if self.down:
            raise self._gone()
        return await self._store.write_batch(batch, now=now)

    async def event_rows(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise self._gone()
        return await self._store.event_rows(*args, **kwargs)

    async def mark_failed(self, *args: Any) -> None:
        if self.down:
            raise self._gone()
        await self._store.mark_failed(*args)

    async def beat(self, *args: Any) -> None:
        if self.down:
            raise self._gone()
        await self._store.beat(*args)



async def leave(store: Any, events: list[EventBase], path: Path, *, pid: int, written: int = 0) -> None:
    """Record `events` as a huddle with pid `pid` would have before it ended: the first
    `written` reach the store, then the server goes away and the rest wait in the spool
    file at `path`, which that huddle leaves behind."""
    away = Away(store)
    bus = EventBus()
    recorder = Recorder.attach(away, bus, spool=Spool(path, database=store.path), retry=3600, max_batch=7)  # type: ignore[arg-type]
    recorder.start()
    for number, event in enumerate(events):
        if number == written:
            await until(lambda: recorder.events_written == written)
            away.down = True
        bus.publish(event)
        await bus.wait_for_room()
    bus.close()
    await until(lambda: recorder.spool.events == len(events) - written)
    recorder.stop_waiting()
    with pytest.raises(StoreError, match="stopped waiting"):
        await recorder.finish()
    # As that huddle wrote them: its pid in the header, the rows and the rows to come.
    await raw(store, "UPDATE sessions SET pid = ?", (pid,))
    batches = []
    spooled = Spool.read(path)
    while spooled:
        batches.append(spooled.first())
        spooled.drop_first()
    left = Spool(path, database=store.path, pid=pid)
    for batch, count in batches:
        for row in batch.started:
            row["pid"] = pid
        left.add(batch, count)


async def stored_events(store: Any, session_id: str) -> list[tuple[int, str]]:
    return [(seq, kind) for seq, kind in await raw(
        store, "SELECT seq, kind FROM events WHERE session_id = ? ORDER BY seq", (session_id,))]


def as_stored(events: list[EventBase]) -> list[tuple[int, str]]:
    return [(event.seq, event.kind) for event in events]


async def test_a_file_left_by_a_huddle_that_ended_is_written_in_order_and_removed(store: SessionStore, tmp_path: Path) -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    folder = tmp_path / "spool"
    path = folder / "1-1-0.jsonl"
    dead = ended_pid()
    await leave(store, ran.events, path, pid=dead, written=9)
    session_id = ran.finished.session_id
    assert len(await stored_events(store, session_id)) == 9 and path.exists()
    assert SpoolHeader.of_file(path) == SpoolHeader(str(store.path), dead, HOST)

    [done] = await write_leftovers(store, folder=folder)

    assert (done.outcome, done.written, done.kept) == ("written", len(ran.events) - 9, None)
    assert done.line.startswith(f"huddle: wrote {len(ran.events) - 9:,} events of session {session_id} to ")
    assert str(path) in done.line and f"pid {dead}" in done.line and "\n" not in done.line
    assert not path.exists() and not any(folder.iterdir())
    assert await stored_events(store, session_id) == as_stored(ran.events)  # complete, gap-free, each once
    row = await store.get_session(session_id)
    assert (row.status, row.last_seq, row.calls) == (ran.finished.status, len(ran.events), ran.finished.calls)
    assert (row.tokens_in, row.tokens_out) == (ran.finished.usage.input_tokens, ran.finished.usage.output_tokens)
    assert await write_leftovers(store, folder=folder) == []


async def test_a_session_its_huddle_left_unfinished_is_interrupted_once_written(store: SessionStore, tmp_path: Path) -> None:
    ran = await run(SimulatedProvider(seed=5, speed=0))
    cut = ran.events[: len(ran.events) - 4]  # the huddle was killed before the session ended
    path = tmp_path / "spool" / "2-1-0.jsonl"
    dead = ended_pid()
    await leave(store, cut, path, pid=dead)  # nothing reached the database, not even the session's row

    [done] = await write_leftovers(store, folder=path.parent)

    assert done.outcome == "written" and not path.exists()
    assert await stored_events(store, ran.finished.session_id) == as_stored(cut)
    row = await store.get_session(ran.finished.session_id)
    assert (row.status, row.last_seq) == ("interrupted", len(cut))
    assert row.reason is not None and f"pid {dead}" in row.reason and "ended before the session did" in row.reason


async def test_a_file_of_a_live_process_or_of_another_database_is_left_alone(
    store: SessionStore, tmp_path: Path, alive: int
) -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    folder = tmp_path / "spool"
    live, own = folder / "live.jsonl", folder / "own.jsonl"
    await leave(store, ran.events, live, pid=alive)
    await leave(store, ran.events, own, pid=os.getpid())
    elsewhere = folder / "elsewhere.jsonl"
    moved = Spool.read(live)
    other = Spool(elsewhere, database=tmp_path / "other.db", pid=ended_pid())
    other.add(*moved.first())
    before = {path: path.read_bytes() for path in (live, own, elsewhere)}

    assert await write_leftovers(store, folder=folder) == []

    assert {path: path.read_bytes() for path in before} == before
    assert await store.count_sessions() == 0


async def test_events_whose_place_is_taken_are_kept_in_a_renamed_file_and_said(store: SessionStore, tmp_path: Path) -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    session_id = ran.finished.session_id
    path = tmp_path / "spool" / "3-1-0.jsonl"
    dead = ended_pid()
    await leave(store, ran.events, path, pid=dead, written=9)
    # The session was resumed elsewhere without those events: its next seq holds another event.
    other = ran.events[9].model_copy(update={"ts": ran.events[9].ts + 1000})
    await raw(store, "INSERT INTO events (session_id, seq, ts, kind, agent, data) VALUES (?, ?, ?, ?, ?, ?)",
              (session_id, other.seq, other.ts, other.kind, other.agent, event_to_json(other)))

    [done] = await write_leftovers(store, folder=path.parent)

    kept = path.with_suffix(".kept")
    assert (done.outcome, done.written, done.kept) == ("kept", 0, kept)
    assert done.line == (
        f"huddle: {len(ran.events) - 9:,} events of session {session_id} were not written to {store.path}: its record "
        f"there has other events in their place (it was resumed without them); they are kept in {kept}"
    )
    assert not path.exists() and Spool.read(kept).events == len(ran.events) - 9
    assert SpoolHeader.of_file(kept) == SpoolHeader(str(store.path), dead, HOST)  # still a spool file, header first
    assert await stored_events(store, session_id) == as_stored(ran.events[:10])
    assert await write_leftovers(store, folder=path.parent) == []  # not tried again


async def test_a_first_batch_stored_before_its_huddle_ended_is_not_written_twice(
    store: SessionStore, tmp_path: Path
) -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    path = tmp_path / "spool" / "4-1-0.jsonl"
    await leave(store, ran.events, path, pid=ended_pid(), written=2)
    first, count = Spool.read(path).first()
    await (await store.write_batch(first))  # committed, but its huddle ended before it could drop it

    [done] = await write_leftovers(store, folder=path.parent)

    assert (done.outcome, done.written) == ("written", len(ran.events) - 2 - count)
    assert await stored_events(store, ran.finished.session_id) == as_stored(ran.events)
    assert not path.exists()


async def test_a_file_that_is_not_a_spool_is_kept_aside_with_one_line(store: SessionStore, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    path = folder / "5-1-0.jsonl"
    header = SpoolHeader(str(store.path), ended_pid(), HOST)
    folder.mkdir()
    path.write_text(header.line() + "not json\n{}\n")

    [done] = await write_leftovers(store, folder=folder)

    assert done.outcome == "kept" and done.kept == path.with_suffix(".kept") and done.kept.exists()
    assert done.line.startswith("huddle: line 2 of the spool file") and "not tried again" in done.line


async def test_a_header_never_holds_a_password(pg_server: PgServer, tmp_path: Path) -> None:
    name = await pg_server.new_database()
    dsn = pg_server.dsn(name, user="secret", password=SECRET_PASSWORD)
    hidden = (SECRET_PASSWORD, quote(SECRET_PASSWORD, safe=""))
    ran = await run(SimulatedProvider(seed=3, speed=0))
    try:
        async with await PgSessionStore.open(dsn) as store:
            away = Away(store)
            away.down = True
            bus = EventBus()
            recorder = Recorder.attach(away, bus, retry=3600)  # type: ignore[arg-type] - its own file in spool_dir()
            recorder.start()
            for event in ran.events[:5]:
                bus.publish(event)
                await bus.wait_for_room()
            bus.close()
            await until(lambda: recorder.spool.events == 5)
            recorder.stop_waiting()
            with pytest.raises(StoreError):
                await recorder.finish()
            [path] = spool_dir().iterdir()
            text = path.read_text()
            assert SpoolHeader.of_file(path) == SpoolHeader(store.path, os.getpid(), HOST)
            assert store.path.startswith("postgresql://secret@/") and not any(secret in text for secret in hidden)
    finally:
        await pg_server.drop_database(name)
    address = f"postgresql://ana:{quote(SECRET_PASSWORD, safe='')}@db.internal/huddle?password=x{quote(SECRET_PASSWORD)}&sslmode=require"
    in_query = Spool(tmp_path / "q.jsonl", database=address)
    in_query.add(Batch(events=[("s1", 1, 1.0, "session.started", None, "{}")]), 1)
    text = in_query.path.read_text()
    assert in_query.header.database == "postgresql://ana@db.internal/huddle?sslmode=require"
    assert not any(secret in text for secret in hidden) and "password" not in text


async def test_a_session_starting_on_the_database_writes_what_was_left_first(db_path: Path) -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    async with await SessionStore.open(db_path) as store:
        left = spool_dir() / "6-1-0.jsonl"
        await leave(store, ran.events, left, pid=ended_pid())
        live = LiveSession(SessionSpec(task=TASK, policy=APPROVE), SimulatedProvider(seed=1, speed=0),
                           EngineConfig(retry=FAST_RETRY, call_timeout=5), store=store)
        lines: list[str] = []
        live.on_buffering = lines.append

        await live.run()

        assert live.error is None and live.finished is not None
        assert len(lines) == 1 and lines[0].startswith(f"huddle: wrote {len(ran.events):,} events of session ")
        assert not left.exists()
        assert await stored_events(store, ran.finished.session_id) == as_stored(ran.events)
        first = await raw(store, "SELECT min(key) FROM sessions WHERE id = ?", (ran.finished.session_id,))
        then = await raw(store, "SELECT min(key) FROM sessions WHERE id = ?", (live.session_id,))
        assert first[0][0] < then[0][0]  # before the new session recorded

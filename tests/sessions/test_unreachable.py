"""A session whose database goes away keeps running: its events wait in a spool on local
disk, bounded, and are written once the database is back, each once, in order."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.bus import EventBus
from engine.events import EventBase, SessionFinished
from engine.providers.base import ProviderRequest
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec
from sessions import recorder as recorder_module
from sessions.errors import StoreError, StoreUnreachable
from sessions.pg_store import PgSessionStore
from sessions.recorder import Recorder
from sessions.spool import Spool
from sessions.store import Batch, SessionStore
from tests.helpers import FAST_RETRY, ScriptedProvider, orchestrated, plan_of, run
from tests.sessions.helpers import APPROVE, TASK, raw, until
from tests.sessions.pg_server import PgServer, prepare, start_server, stop_server
from tui.recording import LiveSession

@pytest.fixture(scope="module")
def own_server() -> Iterator[PgServer]:
    """A PostgreSQL server of this module's own, which its tests stop and start again (the
    run's shared one is never stopped). Commits wait for the log, so a commit the server
    acknowledged survives an immediate stop."""
    from concurrent.futures import ThreadPoolExecutor

    server = start_server()
    try:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, prepare(server)).result(timeout=60)
        # Again with commits that wait for the log (the shared server's options do not).
        done = server.run("pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", str(server.folder / "data"),
                          "-l", str(server.folder / "server.log"), "-o", _options(server))
        assert done.returncode == 0, done.stderr
        yield server
    finally:
        stop_server(server)


def _options(server: PgServer) -> str:
    return (f"-c listen_addresses='' -k {server.folder} -c fsync=off -c synchronous_commit=on "
            "-c full_page_writes=off -c max_connections=50")


async def stop(server: PgServer) -> None:
    """Stop the server at once, as a crash or a pulled cable would (no goodbye to clients)."""
    done = await asyncio.to_thread(server.run, "pg_ctl", "stop", "-D", str(server.folder / "data"),
                                   "-m", "immediate", "-w")
    assert done.returncode == 0, done.stderr


async def start(server: PgServer) -> None:
    data = server.folder / "data"
    done = await asyncio.to_thread(server.run, "pg_ctl", "start", "-w", "-t", "60", "-D", str(data),
                                   "-l", str(server.folder / "server.log"), "-o", _options(server))
    assert done.returncode == 0, done.stderr


@pytest.fixture
async def dsn(own_server: PgServer) -> AsyncIterator[str]:
    name = await own_server.new_database()
    try:
        yield own_server.dsn(name)
    finally:
        if own_server.run("pg_ctl", "status", "-D", str(own_server.folder / "data")).returncode != 0:
            await start(own_server)  # a test that failed with the server stopped
        await own_server.drop_database(name)


@pytest.fixture
def spool_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spool files go under the test's folder, and the store is tried again every 0.05 s."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(recorder_module, "RETRY_S", 0.05)
    return tmp_path / "cache" / "huddle" / "spool"



class Held:
    """A scripted orchestrator team whose `hold_at`-th call waits until `release` is set."""

    def __init__(self, hold_at: int) -> None:
        self.hold_at = hold_at
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0
        self._script = ScriptedProvider(orchestrated(plan_of(
            ("s1", "researcher", []), ("s2", "coder", ["s1"]), ("s3", "researcher", ["s2"]))))
        self.name = "held"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[Any]:
        self.calls += 1
        if self.calls == self.hold_at:
            self.held.set()
            await self.release.wait()
        async for part in self._script.stream(request):
            yield part


async def test_a_session_goes_on_while_the_server_is_down_and_loses_nothing(
    own_server: PgServer, dsn: str, spool_home: Path
) -> None:
    provider = Held(hold_at=2)
    async with await PgSessionStore.open(dsn) as store:
        spec = SessionSpec(task=TASK, policy=APPROVE, pattern="orchestrator")
        live = LiveSession(spec, provider, EngineConfig(retry=FAST_RETRY, call_timeout=30),  # type: ignore[arg-type]
                           store=store)
        published: list[EventBase] = []
        live.bus.listen(published.append)
        lines: list[str] = []
        live.on_buffering = lines.append
        running = asyncio.ensure_future(live.run())
        await provider.held.wait()  # the plan is made and committed: the session is under way
        await until(lambda: live._recorder is not None and live._recorder.events_written > 3)
        await stop(own_server)

        provider.release.set()  # the session goes on with the server down
        await until(lambda: live.finished is not None)
        assert live.buffering is not None and not running.done()
        assert lines == [live.buffering]
        assert "unreachable" in lines[0] and "the session goes on" in lines[0] and "\n" not in lines[0]
        spooled = list(spool_home.iterdir())
        assert len(spooled) == 1 and stat.S_IMODE(spooled[0].stat().st_mode) == 0o600
        assert spooled[0].read_text().count("\n") >= 1

        await start(own_server)
        await asyncio.wait_for(running, 60)

        assert live.error is None and live.buffering is None
        assert lines[1:] == ["huddle: the session database is back; the events kept meanwhile are written to it"]
        assert not any(spool_home.iterdir())  # caught up: the file is gone
        finished = live.finished
        assert isinstance(finished, SessionFinished) and finished.status == "completed"
        stored = await raw(store, "SELECT seq, kind FROM events WHERE session_id = ? ORDER BY seq", (live.session_id,))
        assert [seq for seq, _ in stored] == list(range(1, len(published) + 1))  # each once, gap-free
        assert [kind for _, kind in stored] == [event.kind for event in published]
        row = await store.get_session(live.session_id)
        assert (row.status, row.calls, row.last_seq) == ("completed", finished.calls, len(published))
        assert (row.tokens_in, row.tokens_out) == (finished.usage.input_tokens, finished.usage.output_tokens)


class Flaky:
    """A SQLite store whose writes fail as a lost server's do while `down`; `cut_commits`
    commits go through but their answer is lost (the batch is stored, the recorder is not told)."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self.down = False
        self.cut_commits = 0
        self.tries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _gone(self) -> StoreUnreachable:
        return StoreUnreachable(f"huddle: lost the connection to the PostgreSQL server at {self._store.path} (test)")

    async def write_batch(self, batch: Batch, *, now: bool = False) -> asyncio.Future[None]:
        self.tries += 1
        if self.down:
            raise self._gone()
        commit = await self._store.write_batch(batch, now=now)
        if not self.cut_commits:
            return commit
        self.cut_commits -= 1

        async def cut() -> None:
            await commit
            self.down = True  # and the server is away for a while after
            raise self._gone()

        return asyncio.ensure_future(cut())

    async def event_rows(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise self._gone()
        return await self._store.event_rows(*args, **kwargs)


async def test_a_batch_whose_commit_answer_was_lost_is_not_written_twice(
    db_path: Path, tmp_path: Path, spool_home: Path
) -> None:
    ran = await run(SimulatedProvider(seed=3, speed=0))
    async with await SessionStore.open(db_path) as sqlite:
        flaky = Flaky(sqlite)
        flaky.cut_commits = 1
        bus_events = ran.events
        bus = EventBus()
        spool = Spool(tmp_path / "spool.jsonl")
        recorder = Recorder.attach(flaky, bus, spool=spool, retry=0.02, max_batch=10)  # type: ignore[arg-type]
        recorder.start()
        for event in bus_events:
            bus.publish(event)
            await bus.wait_for_room()
        bus.close()
        await until(lambda: spool.events == len(bus_events))  # every batch waits, the first in doubt
        assert recorder.buffering and spool.in_doubt and spool.path.read_text().count("\n") == 1 + len(spool) > 3  # its header, a line per batch
        assert len(await raw(sqlite, "SELECT seq FROM events")) == 10  # the first batch was committed after all

        flaky.down = False
        await recorder.finish()

        session_id = bus_events[0].session_id
        stored = await raw(sqlite, "SELECT seq FROM events WHERE session_id = ? ORDER BY seq", (session_id,))
        assert [seq for (seq,) in stored] == [event.seq for event in bus_events]
        assert recorder.events_written == len(bus_events) and not recorder.buffering
        assert not (tmp_path / "spool.jsonl").exists()
        assert (await sqlite.get_session(session_id)).status == ran.finished.status


async def test_a_spool_past_its_bound_stops_recording_with_one_line(db_path: Path, tmp_path: Path) -> None:
    ran = await run(SimulatedProvider(seed=2, speed=0))
    async with await SessionStore.open(db_path) as sqlite:
        flaky = Flaky(sqlite)
        flaky.down = True
        bus = EventBus()
        spool = Spool(tmp_path / "spool.jsonl", max_events=5)
        recorder = Recorder.attach(flaky, bus, spool=spool, retry=0.02, max_batch=2)  # type: ignore[arg-type]
        recorder.start()
        for event in ran.events[:20]:
            bus.publish(event)
            await bus.wait_for_room()
        error = await asyncio.wait_for(recorder.failure, 10)
        with pytest.raises(StoreError) as raised:
            await recorder.finish()

        assert raised.value is error and not isinstance(error, StoreUnreachable)
        message = str(error)
        assert message.startswith("huddle: ") and "\n" not in message and "unreachable for too long" in message
        assert str(spool.path) in message and spool.path.exists()  # what waited is kept, and said where
        assert spool.events <= 5


async def test_a_server_that_comes_back_is_used_again_by_the_same_store(own_server: PgServer, dsn: str) -> None:
    async with await PgSessionStore.open(dsn) as store:
        assert await store.count_sessions() == 0
        await stop(own_server)
        with pytest.raises(StoreUnreachable) as away:
            await store.count_sessions()
        assert "\n" not in str(away.value) and str(away.value).startswith("huddle: ")
        assert not await store.wait_for_change("nobody", 0.05)  # waits its time, does not raise
        await start(own_server)
        assert await store.count_sessions() == 0  # a new connection
        await store.check_writable()
        assert not await store.wait_for_change("nobody", 0.01)  # and a new listener
        assert store._listener is not None and not store._listener.is_closed()


async def test_a_cancel_after_the_end_stops_waiting_and_says_where_the_events_are(
    db_path: Path, spool_home: Path
) -> None:
    async with await SessionStore.open(db_path) as sqlite:
        flaky = Flaky(sqlite)
        flaky.down = True
        live = LiveSession(SessionSpec(task=TASK, policy=APPROVE), SimulatedProvider(seed=1, speed=0),
                           EngineConfig(retry=FAST_RETRY, call_timeout=5), store=flaky)  # type: ignore[arg-type]
        lines: list[str] = []
        live.on_buffering = lines.append
        running = asyncio.ensure_future(live.run())
        await until(lambda: live.finished is not None and live.buffering is not None)
        assert lines == [live.buffering] and not running.done()

        live.cancel()  # the person will not wait for the database
        await asyncio.wait_for(running, 10)

        assert live.finished is not None and live.finished.status == "completed" and not live.cancelled
        message = str(live.error)
        assert message.startswith("huddle: stopped waiting for the session database") and "\n" not in message
        spooled = list(spool_home.iterdir())
        assert len(spooled) == 1 and str(spooled[0]) in message
        assert await sqlite.count_sessions() == 0  # nothing reached it: all of it is in the file

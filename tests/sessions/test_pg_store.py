"""What only the PostgreSQL store has: its schema in a database it shares, logins and
permissions, a server that is down or goes away, and a password that never shows."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from contextlib import suppress
from typing import Any

import asyncpg
import pytest

from sessions import pg_schema
from sessions.decisions import Posted
from sessions.errors import DatabaseLocked, NoDatabase, NotWritable, SchemaTooNew, StoreError
from sessions.pg_errors import Dsn
from sessions.pg_store import PgSessionStore, search_query
from sessions.liveness import HOST, STALE_S
from tests.hostile import HOSTILE
from tests.sessions.helpers import raw, record
from tests.sessions import pg_server as pg_server_module
from tests.sessions.pg_server import SECRET_PASSWORD, PgServer

WRONG = "not-the-pw-0x9f"


def one_line(error: BaseException, dsn: str, *secrets: str) -> str:
    """The error's message, checked: one line, from huddle, naming the database without
    its password (nor any of `secrets`)."""
    message = str(error)
    assert "\n" not in message and message.startswith("huddle: "), message
    assert Dsn.parse(dsn).shown in message, message
    for secret in (SECRET_PASSWORD, WRONG, *secrets):
        assert secret not in message, message
    return message


async def tables(server: PgServer, database: str) -> list[tuple[Any, ...]]:
    """Every table of huddle's schema with its row count, and the schema version rows."""
    admin = await server.admin(database)
    try:
        names = [r[0] for r in await admin.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'huddle' ORDER BY tablename")]
        return [(name, await admin.fetchval(f"SELECT count(*) FROM huddle.{name}")) for name in names] + [
            tuple(r) for r in await admin.fetch("SELECT * FROM huddle.schema_version")
        ]
    finally:
        await admin.close()


async def test_an_empty_database_gets_the_schema_once(pg_server: PgServer) -> None:
    name = await pg_server.new_database(empty=True)
    try:
        dsn = pg_server.dsn(name)
        with pytest.raises(NoDatabase) as missing:  # a reading command makes nothing
            await PgSessionStore.open(dsn, create=False)
        one_line(missing.value, dsn)
        admin = await pg_server.admin(name)
        try:
            assert await admin.fetchval("SELECT to_regnamespace('huddle')") is None
        finally:
            await admin.close()

        async with await PgSessionStore.open(dsn) as store:
            await record(store)
        async with await PgSessionStore.open(dsn, create=False) as store:  # already there: nothing to do
            assert await store.count_sessions() == 1
        assert (await tables(pg_server, name))[-1] == (pg_schema.SCHEMA_VERSION,)
    finally:
        await pg_server.drop_database(name)


async def test_a_newer_schema_is_refused_and_left_untouched(pg_server: PgServer, pg_dsn: str) -> None:
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store)
        await raw(store, "UPDATE sessions SET status = 'running', pid = 999999999 WHERE id = ?", (ran.finished.session_id,))
        await raw(store, "UPDATE schema_version SET version = ?", (pg_schema.SCHEMA_VERSION + 1,))
    name = pg_dsn.partition("@/")[2].partition("?")[0]
    before = await tables(pg_server, name)

    with pytest.raises(SchemaTooNew) as error:
        await PgSessionStore.open(pg_dsn)

    assert "newer huddle" in one_line(error.value, pg_dsn)
    assert await tables(pg_server, name) == before
    admin = await pg_server.admin(name)
    try:  # not even the session of a dead process was marked interrupted
        assert await admin.fetchval("SELECT status FROM huddle.sessions") == "running"
    finally:
        await admin.close()


async def test_a_password_is_used_and_never_shown(pg_server: PgServer, pg_dsn: str) -> None:
    database = pg_dsn.partition("@/")[2].partition("?")[0]
    dsn = pg_server.dsn(database, user="secret", password=SECRET_PASSWORD)
    async with await PgSessionStore.open(dsn) as store:
        await record(store)
        assert SECRET_PASSWORD not in store.path and "secret@" in store.path and store.location == store.path
        with pytest.raises(StoreError) as missing:
            await store.get_session("nosuchsession")
        one_line(missing.value, dsn)


async def test_a_wrong_password_is_one_line_without_it(pg_server: PgServer) -> None:
    dsn = pg_server.dsn("postgres", user="secret", password=WRONG)

    with pytest.raises(StoreError) as error:
        await PgSessionStore.open(dsn)

    assert "refused the login" in one_line(error.value, dsn)


async def test_a_server_that_is_down_is_one_line_without_the_password(tmp_path: Any) -> None:
    dsn = f"postgresql://secret:{WRONG}@/huddle?host={tmp_path}"  # no server listens there

    with pytest.raises(StoreError) as error:
        await PgSessionStore.open(dsn, connect_timeout=5)

    assert "cannot reach the PostgreSQL server" in one_line(error.value, dsn)


async def test_a_database_that_does_not_exist(pg_server: PgServer) -> None:
    dsn = pg_server.dsn("no_such_db", user="secret", password=SECRET_PASSWORD)

    with pytest.raises(StoreError) as error:
        await PgSessionStore.open(dsn)

    assert "does not exist" in one_line(error.value, dsn)


async def test_a_user_without_permission_is_told_what_to_grant(pg_server: PgServer) -> None:
    name = await pg_server.new_database(empty=True)
    try:
        dsn = pg_server.dsn(name, user="reader")
        with pytest.raises(NotWritable) as error:
            await PgSessionStore.open(dsn)
        assert "permission denied" in one_line(error.value, dsn) and "GRANT" in str(error.value)
    finally:
        await pg_server.drop_database(name)


async def test_a_lost_connection_is_one_line(pg_server: PgServer, pg_dsn: str) -> None:
    async with await PgSessionStore.open(pg_dsn) as store:
        await record(store)
        backend = store._db.get_server_pid()
        admin = await pg_server.admin()
        try:  # the server ends the store's connection (as a restart or a network cut would)
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", backend)
        finally:
            await admin.close()

        with pytest.raises(StoreError) as error:
            await store.list_sessions()

        assert "lost the connection" in one_line(error.value, pg_dsn)


async def test_a_table_locked_by_another_program_gives_up_after_the_timeout(pg_dsn: str, pg_server: PgServer) -> None:
    database = pg_dsn.partition("@/")[2].partition("?")[0]
    other = await pg_server.admin(database)
    try:
        async with await PgSessionStore.open(pg_dsn, busy_timeout=0.2) as store:
            async with other.transaction():
                await other.execute("LOCK TABLE huddle.sessions IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                with pytest.raises(DatabaseLocked) as error:
                    await store.check_writable()
                assert time.monotonic() - started < 3
            assert "locked" in one_line(error.value, pg_dsn)
            await store.check_writable()  # the lock let go: writable again
    finally:
        await other.close()


async def test_search_takes_words_not_operators(pg_dsn: str) -> None:
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store, task="Ask O'Brien about the rate-limiter: 50% of C:\\logs & more")
        session_id = ran.finished.session_id
        # Punctuation is not an operator: "!rate" is no NOT, "&" no AND (it is no word at all).
        for words in ["o'brien", "RATE-LIM", "limiter", "c:\\logs", "50%", "rate limiter", "ask O'B", "!rate", "rate & !limiter"]:
            assert [row.id for row in await store.list_sessions(search=words)] == [session_id], words
        for words in ["o'brien zeppelin", "rate | zeppelin", "zeppelin:*"]:
            assert await store.list_sessions(search=words) == [], words
        for words in ["'", "\\", "&", "|", ":*", "()", "<->", "'; DROP TABLE sessions; --"]:
            await store.list_sessions(search=words)  # searched for, never an error
        assert await store.count_sessions() == 1


def test_a_search_query_quotes_every_word_as_a_prefix() -> None:
    assert search_query("  ") is None
    assert search_query("rate LIMIT") == "'rate':* & 'limit':*"
    assert search_query("RÉSUMÉ naïve") == "'resume':* & 'naive':*"
    assert search_query("o'brien a\\b") == "'o''brien':* & 'a\\\\b':*"


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://ana:s3cr%40t@db.example:5433/huddle", "postgresql://ana@db.example:5433/huddle"),
        ("postgres://ana:pa:ss@word@host/db?sslmode=require&password=again", "postgres://ana@host/db?sslmode=require"),
        ("postgresql:///huddle?host=%2Ftmp%2Fx", "postgresql:///huddle?host=%2Ftmp%2Fx"),
    ],
)
def test_a_dsn_is_shown_without_its_password(dsn: str, shown: str) -> None:
    parsed = Dsn.parse(dsn)
    assert parsed.shown == shown
    assert parsed.scrub(f"failed for {dsn}") == "failed for " + dsn.replace("s3cr%40t", "***").replace(
        "pa:ss@word", "***").replace("again", "***")


def test_a_dsn_that_is_not_a_postgresql_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(StoreError) as error:
        Dsn.parse("host=db password=hunter2")
    assert "hunter2" not in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("pid", "host", "heard", "expected"),
    [
        ("dead", "here", 1.0, "interrupted"),  # its process on this machine is gone
        ("parent", "here", 1.0, "waiting"),  # alive, and heard from a moment ago
        ("parent", "elsewhere", STALE_S + 5, "interrupted"),  # not heard from: gone, wherever it ran
        ("parent", "elsewhere", 1.0, "waiting"),
    ],
)
async def test_a_live_session_whose_process_is_gone_is_interrupted(
    pg_dsn: str, pid: str, host: str, heard: float, expected: str
) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pids = {"dead": int(ended.stdout), "parent": os.getppid()}
    hosts = {"here": HOST, "elsewhere": "another-machine"}
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store)
        await raw(
            store, "UPDATE sessions SET status = 'waiting', pid = ?, host = ?, heartbeat = ?, reason = NULL WHERE id = ?",
            (pids[pid], hosts[host], time.time() - heard, ran.finished.session_id),
        )

    async with await PgSessionStore.open(pg_dsn) as store:
        row = await store.get_session(ran.finished.session_id)

    assert row.status == expected
    if expected == "interrupted":
        assert row.reason is not None and f"pid {pids[pid]}" in row.reason


async def test_a_beat_is_written_for_the_sessions_this_process_records(pg_dsn: str) -> None:
    async with await PgSessionStore.open(pg_dsn) as store:
        mine, theirs = (await record(store)).finished.session_id, (await record(store)).finished.session_id
        await raw(store, "UPDATE sessions SET status = 'running', heartbeat = 1.0")
        await raw(store, "UPDATE sessions SET pid = 424242 WHERE id = ?", (theirs,))

        await store.beat([mine, theirs])

        assert (await store.get_session(mine)).heartbeat > time.time() - 60
        assert (await store.get_session(theirs)).heartbeat == 1.0  # another process's session: not ours to say


async def test_a_write_cancelled_as_its_transaction_begins_leaves_the_store_writable(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A heartbeat cancelled while its BEGIN is on the way (as `Recorder.finish` may) is
    the end of that write only: the next one begins a transaction of its own."""
    began, never = asyncio.Event(), asyncio.Event()
    execute = asyncpg.Connection.execute

    async def held_at_begin(self: asyncpg.Connection, query: str, *args: Any, **options: Any) -> Any:
        if query.startswith("BEGIN") and not began.is_set():
            began.set()
            await never.wait()  # cancelled here
        return await execute(self, query, *args, **options)

    async with await PgSessionStore.open(pg_dsn) as store:
        session_id = (await record(store)).finished.session_id
        await raw(store, "UPDATE sessions SET status = 'running', heartbeat = 1.0")
        monkeypatch.setattr(asyncpg.Connection, "execute", held_at_begin)
        beat = asyncio.create_task(store.beat([session_id]))
        await began.wait()
        beat.cancel()
        with pytest.raises(asyncio.CancelledError):
            await beat

        await store.beat([session_id])
        assert (await store.get_session(session_id)).heartbeat > time.time() - 60
        assert (await record(store)).finished.status == "completed"


async def test_text_postgresql_cannot_hold_is_stored_as_a_replacement_character(pg_dsn: str) -> None:
    async with await PgSessionStore.open(pg_dsn) as store:
        ran = await record(store, task=f"nul\x00 and a lone \ud800 surrogate {HOSTILE}")

        row = await store.get_session(ran.finished.session_id)
        assert row.task.startswith("nul\ufffd and a lone \ufffd surrogate ")
        assert await store.load_events(row.id, limit=10_000) == ran.events  # the events themselves, exact
        assert [r.id for r in await store.list_sessions(search="surrogate nul")] == [row.id]
        await store.list_sessions(search="\x00 \ud800")  # searched for, never an error


def test_missing_server_programs_fail_the_tests_saying_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_server_module, "server_bin", lambda: None)

    with pytest.raises(pytest.fail.Exception) as failed:
        pg_server_module.start_server()

    assert "apt-get install postgresql" in str(failed.value) and "\n" not in str(failed.value)


async def test_a_wait_ends_when_another_huddle_changes_the_session(pg_dsn: str) -> None:
    async with await PgSessionStore.open(pg_dsn) as watching, await PgSessionStore.open(pg_dsn) as other:
        assert not await watching.wait_for_change("watched00001", 0)  # listening from now on
        for change in (
            lambda: record(other, session_id="watched00001"),  # events recorded
            lambda: other.post_decision(Posted("watched00001", "e1", "approve", None, None, None, "once", "ana", 1.0)),
            lambda: other.settle_decision("watched00001", "e1", "taken"),
        ):
            waiting = asyncio.create_task(watching.wait_for_change("watched00001", 30))
            elsewhere = asyncio.create_task(watching.wait_for_change("unrelated001", 30))
            started = time.monotonic()
            await change()
            assert await waiting and time.monotonic() - started < 10
            assert not elsewhere.done()  # another session's wait goes on
            elsewhere.cancel()
            with suppress(asyncio.CancelledError):
                await elsewhere
        assert not await watching.wait_for_change("watched00001", 0.05)  # nothing changed: the timeout

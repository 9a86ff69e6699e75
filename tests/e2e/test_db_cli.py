"""`huddle db migrate` and `huddle db copy SRC DST`, through the installed command: a
history copied SQLite → PostgreSQL → SQLite exports the same, a second copy copies
nothing, an old file and an empty server database are brought up to date, a newer schema
is refused untouched, and a server that cannot be reached is one line without the password."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from sessions.migrations import APPLICATION_ID, SCHEMA_VERSION
from sessions.pg_schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from sessions.store import SessionStore
from tests.e2e.test_postgresql_cli import RUN
from tests.e2e.test_sessions_cli import assert_one_line_error, huddle
from tests.sessions.helpers import connect, downgrade, record, snapshot
from tests.sessions.pg_server import SECRET_PASSWORD, PgServer


def exported(database: Path | str, session_id: str) -> dict[str, object]:
    done = huddle("sessions", "export", session_id, "--format", "json", "--db", str(database))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_history_copied_to_postgresql_and_back_exports_the_same(tmp_path: Path, pg_dsn: str) -> None:
    local, back = tmp_path / "local.db", tmp_path / "back.db"
    ran = huddle(*RUN, env={"HUDDLE_DB": str(local)})
    assert ran.returncode == 0, ran.stderr
    [row] = json.loads(huddle("sessions", "list", "--json", "--db", str(local)).stdout)

    there = huddle("db", "copy", str(local), pg_dsn)
    assert there.returncode == 0, there.stderr
    assert there.stdout == f"huddle: copied 1 session ({row['last_seq']:,} events), 0 already there, 0 differ\n"
    again = huddle("db", "copy", str(local), pg_dsn)
    assert (again.returncode, again.stdout) == (0, "huddle: copied 0 sessions (0 events), 1 already there, 0 differ\n")

    home = huddle("db", "copy", pg_dsn, str(back))
    assert home.returncode == 0 and home.stdout.startswith("huddle: copied 1 session ("), home.stderr
    assert exported(back, row["id"]) == exported(pg_dsn, row["id"]) == exported(local, row["id"])


def test_copying_from_a_database_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    done = huddle("db", "copy", str(tmp_path / "none.db"), str(tmp_path / "new.db"))
    assert_one_line_error(done, "there is no session database at")
    assert not (tmp_path / "new.db").exists()


async def test_migrate_brings_an_old_file_up_to_date(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    async with await SessionStore.open(old) as store:
        await record(store)
    downgrade(old, 4)  # as huddle left it at version 4

    done = huddle("db", "migrate", "--db", str(old))
    assert (done.returncode, done.stdout) == (0, f"huddle: {old}: schema 4 → {SCHEMA_VERSION}\n"), done.stderr
    with connect(old) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    again = huddle("db", "migrate", env={"HUDDLE_DB": str(old)})
    assert again.stdout == f"huddle: {old}: already at schema {SCHEMA_VERSION}\n"
    itself = huddle("db", "copy", str(old), str(old))
    assert (itself.returncode, itself.stderr) == (2, f"huddle: {old} is both SRC and DST; name two databases\n")


async def test_migrate_makes_the_tables_in_an_empty_server_database(pg_server: PgServer) -> None:
    name = await pg_server.new_database(empty=True)
    try:
        dsn = pg_server.dsn(name)
        done = huddle("db", "migrate", "--db", dsn)
        assert (done.returncode, done.stdout) == (0, f"huddle: {dsn}: made, schema {PG_SCHEMA_VERSION}\n"), done.stderr
        assert huddle("sessions", "list", "--db", dsn).returncode == 0
        again = huddle("db", "migrate", "--db", dsn)
        assert again.stdout == f"huddle: {dsn}: already at schema {PG_SCHEMA_VERSION}\n"
    finally:
        await pg_server.drop_database(name)


async def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path, pg_dsn: str) -> None:
    newer = tmp_path / "newer.db"
    with connect(newer) as raw:
        raw.execute("CREATE TABLE sessions (id TEXT)")
        raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = snapshot(newer)
    assert_one_line_error(huddle("db", "migrate", "--db", str(newer)), "written by a newer huddle", "left untouched")
    assert snapshot(newer) == before

    import asyncpg

    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute("UPDATE huddle.schema_version SET version = $1", PG_SCHEMA_VERSION + 1)
        assert_one_line_error(huddle("db", "migrate", "--db", pg_dsn), "written by a newer huddle")
        made = huddle("db", "migrate", "--db", str(tmp_path / "any.db"))
        assert made.stdout == f"huddle: {tmp_path / 'any.db'}: made, schema {SCHEMA_VERSION}\n", made.stderr
        assert_one_line_error(huddle("db", "copy", str(tmp_path / "any.db"), pg_dsn), "written by a newer huddle")
        assert await admin.fetchval("SELECT version FROM huddle.schema_version") == PG_SCHEMA_VERSION + 1
    finally:
        await admin.close()


def test_a_server_that_cannot_be_reached_is_one_line_without_the_password(tmp_path: Path) -> None:
    dsn = f"postgresql://secret:{quote(SECRET_PASSWORD, safe='')}@/huddle?host={tmp_path / 'no-server'}"
    assert huddle("db", "migrate", "--db", str(tmp_path / "b.db")).returncode == 0
    for done in (huddle("db", "migrate", "--db", dsn), huddle("db", "copy", dsn, str(tmp_path / "b.db")),
                 huddle("db", "copy", str(tmp_path / "b.db"), dsn)):
        assert_one_line_error(done, "cannot reach the PostgreSQL server at postgresql://secret@/huddle")
        assert SECRET_PASSWORD not in done.stderr and quote(SECRET_PASSWORD, safe="") not in done.stderr

"""A real PostgreSQL server for the tests: started once per test run, a fresh database per test.

`initdb` makes a cluster in a temporary folder and `pg_ctl` starts it listening on a
Unix socket in that folder only (no TCP port), with fsync off: it is thrown away at
the end. PostgreSQL refuses to run as root, so as root the server runs as `nobody`,
owning its folder. Each test gets a database copied from a template that already
holds huddle's tables (copying is faster than migrating), dropped after the test.

Roles: `postgres` (superuser, no password), `secret` (a password: `SECRET_PASSWORD`)
and `reader` (may connect, may not create anything), for the tests of logins and
permissions.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

INSTALL = (
    "PostgreSQL's server programs (initdb, pg_ctl) are needed by the store tests and were not found: "
    "install them (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) "
    "or put their bin folder on PATH"
)
SECRET_PASSWORD = "pw-Zq8'x@/?#:hunter2"
"""The `secret` role's password: URL-special characters on purpose."""
TEMPLATE = "huddle_template"
_NOBODY = 65534


def server_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, from `pg_config --bindir`, or the
    newest under /usr/lib/postgresql (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    if pg_config := shutil.which("pg_config"):
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates.extend(Path(p) for p in reversed(versions))
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "pg_ctl").is_file()), None)


@dataclass
class PgServer:
    """A running throwaway cluster and how to reach it."""

    folder: Path
    bin: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def socket_dir(self) -> str:
        return str(self.folder)

    def dsn(self, database: str = "postgres", *, user: str = "postgres", password: str | None = None) -> str:
        """A `postgresql://` URL for `database` on this server (through its socket)."""
        from urllib.parse import quote

        login = user if password is None else f"{user}:{quote(password, safe='')}"
        return f"postgresql://{login}@/{database}?host={quote(self.socket_dir, safe='')}"

    async def admin(self, database: str = "postgres") -> Any:
        """A superuser connection (asyncpg); close it after use."""
        import asyncpg

        return await asyncpg.connect(self.dsn(database))

    async def new_database(self, *, empty: bool = False) -> str:
        """A fresh database, with huddle's tables (or `empty`): its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        admin = await self.admin()
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {'template0' if empty else TEMPLATE}")
        finally:
            await admin.close()
        return name

    async def drop_database(self, name: str) -> None:
        admin = await self.admin()
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a server program, as `nobody` when we are root (PostgreSQL refuses root)."""
        as_nobody: dict[str, Any] = {"user": _NOBODY, "group": _NOBODY} if os.geteuid() == 0 else {}
        return subprocess.run(
            [str(self.bin / command[0]), *command[1:]],
            capture_output=True, text=True, check=False, cwd=self.folder, timeout=60,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"}, **as_nobody,
        )


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        text = " ".join((done.stderr or done.stdout).split())[-400:]
        pytest.fail(f"{what} failed: {text}", pytrace=False)


def start_server() -> PgServer:
    """Make and start a cluster; `stop_server` ends it and removes its folder."""
    binaries = server_bin()
    if binaries is None:
        pytest.fail(INSTALL, pytrace=False)
    # In /tmp: a Unix socket's path must stay short (about 100 bytes), and `nobody` must reach it.
    folder = Path(tempfile.mkdtemp(prefix="huddle-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    if os.geteuid() == 0:
        os.chown(folder, _NOBODY, _NOBODY)
    server = PgServer(folder, binaries)
    data = folder / "data"
    _check(server.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
                      "--locale=C"), "initdb")
    (data / "pg_hba.conf").write_text("local all secret scram-sha-256\nlocal all all trust\n")
    options = (f"-c listen_addresses='' -k {folder} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=50")
    started = server.run("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l", str(folder / "server.log"),
                         "-o", options)
    if started.returncode != 0:
        log = folder / "server.log"
        tail = " ".join(log.read_text(errors="replace").split()[-60:]) if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {started.stderr.strip()} {tail}", pytrace=False)
    return server


def stop_server(server: PgServer) -> None:
    server.run("pg_ctl", "stop", "-D", str(server.folder / "data"), "-m", "immediate", "-w")
    shutil.rmtree(server.folder, ignore_errors=True)


async def prepare(server: PgServer) -> None:
    """The roles and the template database the tests use."""
    from sessions.pg_store import PgSessionStore

    admin = await server.admin()
    try:
        password = SECRET_PASSWORD.replace("'", "''")
        await admin.execute(f"CREATE ROLE secret LOGIN SUPERUSER PASSWORD '{password}'")
        await admin.execute("CREATE ROLE reader LOGIN")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    async with await PgSessionStore.open(server.dsn(TEMPLATE)):
        pass


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The test run's PostgreSQL server, started on first use (from inside a test's
    running event loop, so its preparation runs on a loop of its own, in a thread)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    server = start_server()
    try:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, prepare(server)).result(timeout=60)
        yield server
    finally:
        stop_server(server)


@pytest.fixture
async def pg_dsn(pg_server: PgServer) -> Any:
    """A fresh database with huddle's tables, for one test: its DSN."""
    name = await pg_server.new_database()
    try:
        yield pg_server.dsn(name)
    finally:
        await pg_server.drop_database(name)

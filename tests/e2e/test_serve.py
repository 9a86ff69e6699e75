"""`huddle serve`, the installed command, on loopback: the app in a real headless Chromium
(its screens read from xterm.js, keys pressed through the DevTools protocol), and every
request without the address's token refused."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.e2e.chromium import Chromium
from tests.e2e.terminal import huddle_command

TASK = "Write the on-call runbook"


@asynccontextmanager
async def serving(db: Path, *args: str) -> AsyncIterator[str]:
    """`huddle --db DB serve --port 0 ARGS` running; the address it printed. On the way
    out it is stopped (SIGTERM) and must end cleanly, its tabs' huddles with it."""
    process = await asyncio.create_subprocess_exec(
        huddle_command(), "--db", str(db), "serve", "--port", "0", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        assert line.startswith("http://127.0.0.1:"), line + (await process.stderr.read()).decode()
        yield line.strip()
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
        assert (await process.stdout.read()).decode() == ""  # the address, once, and nothing else
        assert (await process.stderr.read()).decode() == ""  # loopback: no warning
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def sessions(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute("SELECT task, status FROM sessions").fetchall()


def ended(db: Path) -> list[tuple[str, str | None]]:
    """Each session's status and reason, and its last events' kinds: what a failure shows."""
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("SELECT status, reason FROM sessions").fetchall()
        kinds = [kind for (kind,) in connection.execute("SELECT kind FROM events ORDER BY rowid DESC LIMIT 5")]
    return [*rows, ("last events", ", ".join(reversed(kinds)))]


async def test_the_launch_screen_starts_a_session_in_a_browser(tmp_path):
    db = tmp_path / "served.db"  # not the test's $HUDDLE_DB: --db reaches the tab's huddle
    async with Chromium() as browser:
        async with serving(db) as url:  # stopped with the tab open
            page = await browser.open(url)
            await page.expect(r"huddle · start a session[^]*ctrl\+s Start")
            await page.focus()
            await page.type(TASK)  # the example task is selected: typing replaces it
            await page.expect(TASK)
            await page.press("s", ctrl=True)
            shown = await page.expect(r"Escalation: plan from lead")
            assert "huddle · session " in shown and f"task: {TASK}" in shown
            assert [task for task, _ in sessions(db)] == [TASK]
        # Stopping the server ended the tab's huddle first, which recorded its session as cancelled.
        assert sessions(db) == [(TASK, "cancelled")], ended(db)


async def test_serve_sessions_opens_the_browser_and_replays_by_keys(tmp_path):
    db = tmp_path / "served.db"
    subprocess.run(
        [huddle_command(), "--db", str(db), "run", "--headless", "--speed", "0", "--approve", "approve", TASK],
        check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    async with serving(db, "sessions") as url:
        async with Chromium() as browser:
            page = await browser.open(url)
            shown = await page.expect(r"sessions · 1")
            assert TASK in shown
            await page.focus()
            await page.press("Enter")
            await page.expect(r"recorded session: nothing is called")


async def test_a_tabs_huddle_ends_when_the_server_is_killed(tmp_path):
    """A server killed outright says "quit" to no one: each tab's huddle sees its input end,
    and exits (Textual's web driver alone would leave it running, unseen)."""
    server = await asyncio.create_subprocess_exec(
        huddle_command(), "--db", str(tmp_path / "served.db"), "serve", "--port", "0",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        url = (await asyncio.wait_for(server.stdout.readline(), timeout=30)).decode().strip()
        async with Chromium() as browser:
            page = await browser.open(url)
            await page.expect(r"huddle · start a session")
            tab, = map(int, Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split())
            watch = os.pidfd_open(tab)  # readable once the tab's huddle has exited
            ended: list[int] = []
            try:
                server.kill()
                await server.wait()
                ended, _, _ = await asyncio.to_thread(select.select, [watch], [], [], 20)
                assert ended, "the tab's huddle still runs after its server was killed"
            finally:
                if not ended:
                    signal.pidfd_send_signal(watch, signal.SIGKILL)
                os.close(watch)
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_serve_inbox_opens_the_inbox(tmp_path):
    async with serving(tmp_path / "served.db", "inbox") as url:
        async with Chromium() as browser:
            page = await browser.open(url)
            await page.expect(r"Nothing waits for you\.")


async def test_requests_without_the_token_are_refused(tmp_path):
    async with serving(tmp_path / "served.db") as url:
        parts = urlsplit(url)
        origin, token = f"{parts.scheme}://{parts.netloc}", parts.path.strip("/")
        assert len(token) >= 24
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/ws", "/static/js/textual.js", "/download/x", f"/{token[:-1]}/", f"/{token}x/ws",
                         f"/static/{token}/", f"/{token.swapcase()}/"):
                async with http.get(origin + path, allow_redirects=False) as response:
                    assert response.status == 403, path
                    assert "token" in await response.text()
                    assert response.headers["Referrer-Policy"] == "no-referrer"
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"ws://{parts.netloc}/ws")
            assert refused.value.status == 403
            async with http.get(url) as response:  # with it: the page, its links under the token
                assert response.status == 200
                page = await response.text()
                assert f"ws://{parts.netloc}/{token}/ws" in page and f"/{token}/static/js/textual.js" in page
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
            async with http.get(url + "static/js/textual.js") as response:
                assert response.status == 200
            async with http.get(url.rstrip("/"), allow_redirects=False) as response:
                assert (response.status, response.headers["Location"]) == (308, f"/{token}/")


def test_a_taken_port_or_a_database_that_cannot_be_opened_is_one_line(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [huddle_command(), "--db", str(tmp_path / "a.db"), "serve", "--port", port],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    folder = tmp_path / "a-folder"
    folder.mkdir()
    done = subprocess.run(
        [huddle_command(), "--db", str(folder), "serve", "--port", "0"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert not os.listdir(folder)

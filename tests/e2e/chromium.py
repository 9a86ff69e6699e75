"""Drive Debian's Chromium, headless, over its DevTools protocol (a websocket, through
aiohttp's client): open a page, read what a textual-serve terminal shows, press keys.

No WebDriver and no browser download: the system's `chromium` with a temporary profile,
`--remote-debugging-port=0`, and the handful of protocol commands these tests use.

The terminal's text comes from xterm.js's own buffer (`Terminal.buffer.active`), not from
pixels: textual-serve draws it on a canvas. textual-serve keeps its terminal object
private, so a script run before the page's catches it as it is built (`TAB_HOOK`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import tempfile
from typing import Any

import aiohttp
import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")
"""The browser's command, by the names distributions give it (`HUDDLE_CHROMIUM` first)."""
FLAGS = (
    "--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
    "--no-sandbox",  # the tests may run as root (CI does), where Chromium's sandbox refuses to start
    "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    # Nothing leaves the machine: no update checks, no sync, no QUIC probes.
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
    "--window-size=1600,1000",
)
LISTENING = re.compile(r"DevTools listening on (ws://\S+)")

TAB_HOOK = """
window.__huddleTab = new Promise(resolve => {
  // textual-serve's terminal sets `websocket_url` on itself first thing in its constructor:
  // the setter catches it, and the promise resolves once the constructor has finished.
  Object.defineProperty(Object.prototype, "websocket_url", {
    configurable: true,
    set(value) {
      Object.defineProperty(this, "websocket_url", {value, writable: true, configurable: true, enumerable: true});
      const tab = this;
      queueMicrotask(() => resolve(tab));
    },
  });
});
"""

WAIT_FOR_TEXT = """
async (pattern, timeoutMs) => {
  const screenText = term => {
    const buffer = term.buffer.active, lines = [];
    for (let y = 0; y < term.rows; y++) {
      const line = buffer.getLine(buffer.viewportY + y);
      lines.push(line ? line.translateToString(true) : "");
    }
    return lines.join("\\n");
  };
  const term = (await window.__huddleTab).terminal;
  const wanted = new RegExp(pattern);
  if (wanted.test(screenText(term))) return screenText(term);
  return await new Promise((resolve, reject) => {
    const written = term.onWriteParsed(() => {
      if (!wanted.test(screenText(term))) return;
      clearTimeout(timer); written.dispose(); closed.disconnect(); resolve(screenText(term));
    });
    const giveUp = (why) => {
      clearTimeout(timer); written.dispose(); closed.disconnect();
      reject(new Error(`${why}, and never showed /${pattern}/; it shows:\\n` + screenText(term)));
    };
    const timer = setTimeout(() => giveUp(`waited ${timeoutMs} ms`), timeoutMs);
    // textual-serve marks the page "-closed" when the app in the tab has ended.
    const closed = new MutationObserver(() => {
      if (document.body.classList.contains("-closed")) giveUp("the app in the tab ended");
    });
    closed.observe(document.body, {attributes: true, attributeFilter: ["class"]});
    if (document.body.classList.contains("-closed")) giveUp("the app in the tab had ended");
  });
}
"""
"""A script's function: wait until the terminal's rows match `pattern`, as xterm.js parses
what it is sent (no polling); the rows' text, or an error with them after `timeoutMs`."""


def find_chromium() -> str:
    """The browser's command; the test fails (never skips) when there is none."""
    for name in (os.environ.get("HUDDLE_CHROMIUM", ""), *NAMES):
        if name and (found := shutil.which(name)):
            return found
    pytest.fail(
        "Chromium was not found (looked for $HUDDLE_CHROMIUM, " + ", ".join(NAMES) + "): the browser tests need it; "
        "'make chromium' installs Debian's (apt-get install chromium)", pytrace=False,
    )


class ProtocolError(Exception):
    """A DevTools command that failed, or a page script that threw."""


class Chromium:
    """One headless Chromium and its DevTools connection; `async with` starts and ends it."""

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="huddle-chromium-")
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Chromium:
        self._process = await asyncio.create_subprocess_exec(
            find_chromium(), *FLAGS, f"--user-data-dir={self._profile}", "about:blank",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            address = await asyncio.wait_for(self._devtools_address(), timeout=30)
            self._tasks.append(asyncio.create_task(self._drain_stderr()))
            self._http = aiohttp.ClientSession()
            self._socket = await self._http.ws_connect(address, max_msg_size=0)
            self._tasks.append(asyncio.create_task(self._read()))
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.close()
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), timeout=10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        for task in self._tasks:  # reading on a closed connection and pipe: nothing left to read
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        shutil.rmtree(self._profile, ignore_errors=True)

    async def _devtools_address(self) -> str:
        """The browser's DevTools websocket, from the line Chromium prints when it listens."""
        assert self._process is not None and self._process.stderr is not None
        seen = []
        while line := await self._process.stderr.readline():
            text = line.decode(errors="replace")
            if match := LISTENING.search(text):
                return match.group(1)
            seen.append(text)
        raise ProtocolError("Chromium ended before it listened:\n" + "".join(seen[-20:]))

    async def _drain_stderr(self) -> None:
        """Read on what Chromium prints, so its pipe never fills and blocks it."""
        assert self._process is not None and self._process.stderr is not None
        while await self._process.stderr.read(65536):
            pass

    async def _read(self) -> None:
        """Hand each reply to the command that waits for it (events are not used)."""
        assert self._socket is not None
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            reply = json.loads(message.data)
            if (future := self._waiting.pop(reply.get("id", -1), None)) is not None and not future.done():
                future.set_result(reply)
        for future in self._waiting.values():  # the browser went away
            if not future.done():
                future.set_exception(ProtocolError("the DevTools connection closed"))

    async def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
                   timeout: float = 30) -> dict[str, Any]:
        """One DevTools command (to a page with `session`); its result, or ProtocolError."""
        assert self._socket is not None
        number = next(self._ids)
        self._waiting[number] = future = asyncio.get_running_loop().create_future()
        command: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            command["sessionId"] = session
        await self._socket.send_str(json.dumps(command))
        reply = await asyncio.wait_for(future, timeout=timeout)
        if "error" in reply:
            raise ProtocolError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    async def open(self, url: str) -> Page:
        """A new tab at `url`, with `TAB_HOOK` run before the page's own scripts."""
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        page = Page(self, session)
        await page.send("Page.enable")
        await page.send("Page.addScriptToEvaluateOnNewDocument", {"source": TAB_HOOK})
        await page.send("Page.navigate", {"url": url})
        return page


class Page:
    """One tab: run scripts in it, read its textual-serve terminal, press keys."""

    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30) -> dict[str, Any]:
        return await self.browser.send(method, params, session=self.session, timeout=timeout)

    async def evaluate(self, expression: str, *, timeout: float = 30) -> Any:
        """The value of a script (promises awaited); ProtocolError with its message if it threw."""
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
            timeout=timeout + 5,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise ProtocolError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    async def expect(self, pattern: str, *, timeout: float = 30) -> str:
        """Wait until the terminal shows text matching `pattern` (a JavaScript regular
        expression), as xterm.js writes it; the screen's text. ProtocolError after `timeout`,
        with what the screen showed."""
        call = f"({WAIT_FOR_TEXT})({json.dumps(pattern)}, {int(timeout * 1000)})"
        return await self.evaluate(call, timeout=timeout)

    async def focus(self) -> None:
        """Give the terminal the keyboard, as a click on it would."""
        await self.evaluate("window.__huddleTab.then(tab => tab.terminal.focus())")

    async def type(self, text: str) -> None:
        """Type `text` into the focused terminal."""
        await self.send("Input.insertText", {"text": text})

    async def press(self, key: str, *, ctrl: bool = False) -> None:
        """Press and release one key: a letter (with `ctrl`), or Enter."""
        if key == "Enter":
            down = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}
        else:
            down = {"key": key, "code": f"Key{key.upper()}", "windowsVirtualKeyCode": ord(key.upper())}
            if not ctrl:
                down["text"] = key
        modifiers = 2 if ctrl else 0
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "modifiers": modifiers, **down})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", "modifiers": modifiers, **down})

"""Terminal plumbing for headless runs: output that can be held while a question is
open, and answering escalations at a prompt."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shlex
import sys
import tempfile
from typing import IO, Any

from engine.approvals import ApprovalGate, Decision, DecisionError, answer
from engine.events import DECIDED, Choice, EscalationRequested, EventBase
from engine.formats import one_line
from tui import logs
from tui.code_view import CodeShown, code_of, may_always_allow, sandbox_text
from tui.safe import clean, safe

log = logging.getLogger(__name__)


class Output:
    """Writes to a stream, or holds what is written while a prompt is open."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._held: list[str] | None = None

    def write(self, text: str) -> None:
        if self._held is not None:
            self._held.append(text)
        else:
            self._stream.write(text)
            self._stream.flush()

    def say(self, text: str) -> None:
        """Write now, even while holding (the prompt's own lines)."""
        self._stream.write(text)
        self._stream.flush()

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held:
            self._stream.write("".join(held))
            self._stream.flush()


class LineReader:
    """Reads lines from a terminal without blocking the event loop (or a thread)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    async def readline(self) -> str | None:
        """The next line, without its newline; None at end of input."""
        loop = asyncio.get_running_loop()
        while b"\n" not in self._buffer:
            ready: asyncio.Future[bytes] = loop.create_future()

            def on_readable() -> None:
                if not ready.done():
                    try:
                        ready.set_result(os.read(self._fd, 4096))
                    except OSError as error:  # the terminal went away: raised to the reader
                        ready.set_exception(error)

            loop.add_reader(self._fd, on_readable)
            try:
                chunk = await ready
            finally:
                loop.remove_reader(self._fd)
            if not chunk:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return line.decode(errors="replace")
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")


KEYS = {"approve": "a", "edit": "e", "reject": "r"}
"""The key that takes the choice making each action (Enter takes the one that approves)."""


def code_lines(code: CodeShown, *, colour: bool) -> str:
    """The code of a tool use, every line of it, indented under its label: highlighted
    for a terminal (`colour`), as written otherwise."""
    text = code.code
    if colour:
        from rich.console import Console
        from rich.syntax import Syntax

        shown = io.StringIO()
        console = Console(file=shown, force_terminal=True, color_system="standard", highlight=False, emoji=False, markup=False)
        console.print(Syntax("", code.language, theme="ansi_dark").highlight(code.code), soft_wrap=True, end="")
        text = shown.getvalue()
    return "".join(f"    {line}\n" for line in text.rstrip("\n").split("\n"))


class ConsolePrompter:
    """Asks the person at the terminal about each escalation that needs a human, one at a time."""

    def __init__(self, gate: ApprovalGate, output: Output, reader: LineReader, *, colour: bool = False) -> None:
        """`colour`: the code a tool use would run is highlighted, and an unconfined
        sandbox said in red (a terminal, without NO_COLOR)."""
        self._gate = gate
        self._out = output
        self._reader = reader
        self._colour = colour
        self._queue: asyncio.Queue[EscalationRequested] = asyncio.Queue()

    def feed(self, event: EventBase) -> None:
        if isinstance(event, EscalationRequested) and event.human:
            self._queue.put_nowait(safe(event))  # its payload is shown, and opened in an editor

    async def run(self) -> None:
        while True:
            event = await self._queue.get()
            escalation = self._gate.pending.get(event.escalation_id)
            if escalation is None:
                continue  # decided already (a timeout, or "always allow")
            self._out.hold()
            try:
                await self._ask(event, escalation.future)
            except Exception as error:  # noqa: BLE001 - whatever broke the prompt, the session goes on
                self._give_up(event, error)
            finally:
                self._out.release()

    async def _line(self, prompt: str, decided: asyncio.Future[Any]) -> str | None:
        """A line of input, or None if the escalation was decided some other way first."""
        self._out.say(prompt)
        read = asyncio.ensure_future(self._reader.readline())
        done, _ = await asyncio.wait({read, decided}, return_when=asyncio.FIRST_COMPLETED)
        if read not in done:
            read.cancel()
            self._out.say("\n(decided meanwhile)\n")
            return None
        line = read.result()
        if line is None:
            raise EOFError
        return line.strip()

    def _show_tool(self, event: EscalationRequested) -> None:
        """The tool a tool use is about, its description, the sandbox it would run code in,
        and its whole input (the code as written, for a tool that runs code)."""
        tool = event.tool
        assert tool is not None
        where = f"server {tool.server}" if tool.server else "built in"
        about = tool.description or "(no description)"
        self._out.say(f"    tool: {tool.short_name} ({where})\n" + "".join(f"    {line}\n" for line in about.splitlines()))
        if tool.sandbox is not None:
            line = f"sandbox: {sandbox_text(tool.sandbox)}"
            red = self._colour and not tool.sandbox.isolated
            self._out.say(f"    \x1b[1;31m{line}\x1b[0m\n" if red else f"    {line}\n")
        code = code_of(tool, event.payload)
        if code is None:
            self._out.say("    input:\n" + _indented(event.payload))
            return
        self._out.say(f"    {code.label.lower()}:\n" + code_lines(code, colour=self._colour))
        if code.rest:
            self._out.say("    the rest of the input:\n" + _indented(code.rest))

    async def _ask(self, event: EscalationRequested, decided: asyncio.Future[Any]) -> None:
        if event.tool is not None:
            self._show_tool(event)
        elif event.trigger != "plan" and event.payload is not None:
            self._out.say(_indented(event.payload))
        keys = {KEYS[choice.action]: choice for choice in event.choices}
        offered = "  ".join(f"[{KEYS[choice.action]}] {choice.label}" for choice in event.choices)
        enter = " (enter: a)" if "a" in keys else ""
        kind = event.tool.name if event.tool is not None else event.trigger
        always = may_always_allow(event.tool)  # never for code that would run unconfined
        prompt = f"  {offered}  [A]lways allow {kind}{enter} > " if always else f"  {offered}{enter} > "
        while True:
            try:
                typed = await self._line(prompt, decided)
            except EOFError:
                self._out.say("\n(no more input: rejecting)\n")
                self._resolve(event, Decision("reject", reason="no answer: input closed"))
                return
            if typed is None:
                return
            allowing = typed == "A" and always
            if allowing and event.tool is None:
                self._gate.allow_always(event.trigger)
                return
            choice = None if typed == "A" else keys.get(typed.lower() or "a")
            if choice is None and not allowing:
                self._out.say(f"  please answer one of: {', '.join(keys)}{', or A' if always else ''}\n")
                continue
            try:
                taken = self._take(event, choice, decided) if choice is not None else self._allow_tool(event, decided)
                if await taken:
                    return
            except EOFError:
                self._out.say("\n(no more input: rejecting)\n")
                self._resolve(event, Decision("reject", reason="no answer: input closed"))
                return

    async def _allow_tool(self, event: EscalationRequested, decided: asyncio.Future[Any]) -> bool:
        """Always allow the tool of a tool use, with any input or exactly this one, as the
        person says; False (nothing allowed) to go back to the choices."""
        assert event.tool is not None
        name = event.tool.name
        while True:
            typed = await self._line(f"  always allow {name}: [t] with any input  [i] with exactly this input  (enter: back) > ", decided)
            if typed is None:
                return True
            if not typed:
                return False
            if typed.lower() not in ("t", "i"):
                self._out.say("  please answer t, i, or Enter to go back\n")
                continue
            exact = typed.lower() == "i"
            try:
                self._gate.allow_tool(event.escalation_id, exact=exact)
            except DecisionError as error:
                self._out.say(f"  {clean(str(error))}\n")
                return True
            scope = "with this input" if exact else "with any input"
            self._out.say(f"  {name} {scope} is allowed for the rest of this session\n")
            return True

    async def _take(self, event: EscalationRequested, choice: Choice, decided: asyncio.Future[Any]) -> bool:
        """Answer with `choice`, asking for what it needs; False to go back to the choices."""
        if choice.input == "json":
            return await self._edit(event, choice, decided)
        if choice.input == "none":
            self._resolve(event, answer(choice))
            return True
        if choice.input == "pick":
            self._out.say("".join(f"    {n}. {pick}\n" for n, pick in enumerate(choice.picks, 1)))
        while True:
            typed = await self._line(f"  {choice.label}: {choice.prompt or 'your answer'} > ", decided)
            if typed is None:
                return True
            if choice.input == "pick" and typed.isdigit() and 0 < int(typed) <= len(choice.picks):
                typed = choice.picks[int(typed) - 1]
            try:
                self._gate.resolve(event.escalation_id, answer(choice, typed))
                return True
            except DecisionError as error:
                self._out.say(f"  {clean(str(error))}\n")
                if not typed:  # nothing given where something is needed: back to the choices
                    return False

    async def _edit(self, event: EscalationRequested, choice: Choice, decided: asyncio.Future[Any]) -> bool:
        """Edit the payload in $EDITOR until it validates (or the user gives up). An editor
        that cannot run, or fails, says so, and the choices are offered again."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        fd, path = tempfile.mkstemp(prefix=f"huddle-{event.escalation_id}-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(event.payload, handle, indent=2, ensure_ascii=False)
            while True:
                failed = await run_editor(editor, path)
                if failed is not None:
                    self._out.say(f"  could not edit: {clean(failed)}\n")
                    return False
                with open(path) as handle:
                    text = handle.read()
                try:
                    self._gate.resolve(event.escalation_id, answer(choice, text))
                    return True
                except DecisionError as error:
                    problem = str(error)
                self._out.say(f"  edit rejected: {clean(problem)}\n")
                again = await self._line("  edit again? [Y/n] (your text is kept) > ", decided)
                if again is None or again.lower().startswith("n"):
                    return again is None
        finally:
            os.unlink(path)

    def _give_up(self, event: EscalationRequested, error: Exception) -> None:
        """The prompt failed (the terminal went away, ...): the escalation takes the
        policy's safe default, as an unanswered one does, and the person is told why."""
        action = self._gate.give_up(event.escalation_id, f"the prompt failed ({type(error).__name__})")
        log.error("the prompt for escalation %s failed", event.escalation_id, exc_info=error)
        taken = f"{DECIDED[action]}, the policy's default" if action is not None else "it was decided meanwhile"
        self._out.say(f"\n  could not ask ({type(error).__name__}: {clean(one_line(error))}; {logs.where()}): {taken}\n")

    def _resolve(self, event: EscalationRequested, decision: Decision) -> None:
        try:
            self._gate.resolve(event.escalation_id, decision)
        except DecisionError as error:
            self._out.say(f"  {clean(str(error))}\n")


def _indented(data: Any) -> str:
    """`data` as indented JSON, each line indented under what it belongs to."""
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return "".join(f"    {line}\n" for line in body.splitlines())


async def run_editor(editor: str, path: str) -> str | None:
    """Run the `editor` command line on `path` and wait for it; why it failed, if it did."""
    try:
        command = shlex.split(editor)
    except ValueError as error:
        return f"the editor command {editor!r} cannot be read: {error}"
    if not command:
        return "no editor: set $EDITOR"
    try:
        process = await asyncio.create_subprocess_exec(*command, path)
    except OSError as error:
        return f"the editor {command[0]!r} cannot run: {error.strerror or one_line(error)} (set $EDITOR)"
    status = await process.wait()
    if status != 0:
        return f"the editor {command[0]!r} exited with status {status}, so the edit was not taken"
    return None


def stdin_reader() -> LineReader:
    """A reader for standard input: a terminal, or a pipe of answers. Input that cannot be
    waited on (a file, /dev/null, standard input closed) fails at the first question,
    which then takes the policy's safe default (`ConsolePrompter._give_up`)."""
    return LineReader(sys.stdin.fileno() if sys.stdin is not None else -1)

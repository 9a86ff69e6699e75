"""Hostile text from every source, onto every surface, in a real pseudo-terminal.

Sources: the task on the command line (and pasted into the launch screen), a team
file's name and fields, the user's config, and a model behind a loopback Anthropic
API: its text, its structured reply (a plan, with ids and names it chose), a tool's
output (a file it reads) and its error messages. Surfaces: the launch screen, the
live screen and its dialogs, details, the pattern pane, replay, the browser, the
palette, headless output, `sessions list/show/export` and `huddle teams`.

Each test reads the raw bytes the terminal got: nothing but the control sequences
the app itself writes may be in them (`tests.e2e.screen.APP_SEQUENCES`), and the
words of the hostile text must be on the screen, as written.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w

from tests.e2e.screen import VirtualScreen
from tests.e2e.terminal import Terminal, huddle_command
from tests.fakes.messages_api import MessagesAPI, Reply, Seen, error_reply, text_events, tool_events
from tests.hostile import PIECES, SHORT, unsafe

COLS, ROWS = 200, 50

LINES = "\n".join(
    PIECES[name] for name in (
        "long", "wide", "markup", "csi", "osc0", "osc2", "osc8", "osc52", "dcs", "apc_pm_sos", "c1", "nul_del_bs",
        "cr", "bell", "bidi", "zero_width", "tags", "surrogate", "unterminated", "lone_c1",
    )
)
"""The corpus a line a piece, the words that matter last (panels show the newest lines)."""
TASK = "Review \x9d HIDDEN rm -rf ~ [@click=app.quit]X[/] \x1b]0;T\x07\udcff\n" + LINES.replace(
    PIECES["surrogate"], "").replace("\x00", "")
"""A task as a command line can carry it: an invalid UTF-8 byte, but no NUL and no lone surrogate."""
TEAM_FILE = "[@click=app.quit]x \x1b]0;T\x07 \u202e\x9d.toml"
NOTES = "Tool \x9d HIDDEN rm -rf ~ [@click=app.quit]T[/]\n" + LINES.replace(PIECES["surrogate"], "").replace("\x00", "")
"""The file the researcher reads with its tool (no NUL: that would make it a binary file)."""
FLAT = "Review HIDDEN rm -rf ~ [@click=app.quit]X[/]"
"""The task's first words where it is shown on one line (spaces run together)."""
WORDS = "HIDDEN rm -rf ~ [@click=app.quit]X[/]"
"""Words of the task's first line, wherever it shows."""
STEP = "Research \x9d HIDDEN rm -rf ~ [@click=app.quit]X[/]\x1b]52;c;cm0g\x07"
GHOST = "ghost\x1b]0;T\x07[@click=app.quit]G[/]\u202e"
ERROR = "bad request \x1b]52;c;cm0gLXJmIH4=\x07 \x9d HIDDEN rm -rf ~ [@click=app.quit]E[/]"


def model(agent: str) -> str:
    """Each agent's model (a name a team file chose), which tells the fake API who asks."""
    return f"claude-sonnet-5-5-{agent}\x1b]0;M\x07[@click=app.quit]M[/]\u202e"


def team_file() -> dict:
    return {
        "name": "team \x1b]0;T\x07[@click=app.quit]N[/]",
        "description": "Shared team \x9d HIDDEN rm -rf ~ [@click=app.quit]D[/] \u202e",
        "pattern": "orchestrator",
        "provider": "anthropic",
        "lead": "lead",
        "budgets": {"cost": 50.0},
        "agents": [
            {"name": "lead", "role": "lead \x1b]52;c;cm0g\x07 [@click=app.quit]R[/] \x9d HIDDEN", "model": model("lead")},
            {"name": "researcher", "role": "researcher [b]r[/b]\x1b[2J", "model": model("researcher"), "tools": ["read_file"]},
            {"name": "coder", "role": "coder \u202eredoc", "model": model("coder")},
            {"name": "reviewer", "role": "reviewer \x07\x7f", "model": model("reviewer")},
        ],
    }


def plan(step_id: str = "s1") -> dict:
    """The lead's plan: hostile titles, instructions and names; a worker nobody has."""
    return {
        "steps": [
            {"id": step_id, "title": STEP, "instructions": "Read notes.txt \x1b]0;I\x07[@click=app.quit]I[/]",
             "assigned_to": "researcher", "depends_on": []},
            {"id": "s2", "title": "Build \x1b]0;T\x07 it", "instructions": "Code it.", "assigned_to": "coder", "depends_on": []},
            {"id": "s3", "title": "Haunt \x9d HIDDEN", "instructions": "Boo.", "assigned_to": GHOST, "depends_on": []},
            # (No lone surrogate in a structured reply: pydantic's JSON parser refuses its escape.)
            {"id": "s4", "title": "Review \u202e it", "instructions": LINES.replace(PIECES["surrogate"], ""),
             "assigned_to": "reviewer", "depends_on": ["s1"]},
        ],
        "confidence": 0.9,
    }


def script(seen: Seen) -> Reply:
    body = seen.body
    asked = json.dumps(body["messages"])
    tools = {tool["name"] for tool in body.get("tools", [])}
    if "respond" in tools:  # the plan: first with an id that would file it under a team, then fixed
        return Reply(events=tool_events(plan("s1") if "a/b" in asked else plan("a/b")))
    if "-researcher" in body["model"] and "tool_result" not in asked:
        return Reply(events=tool_events({"path": "notes.txt"}, name="read_file", lead=SHORT))
    if "-coder" in body["model"]:
        return error_reply(400, "invalid_request_error", ERROR)
    return Reply(events=text_events(LINES))


@dataclass
class World:
    """Where the hostile sessions run: a working folder with a file to read, a config
    folder with the hostile team file, the database, and the environment."""

    root: Path
    work: Path
    config: Path
    db: Path
    env: dict[str, str]

    @property
    def team(self) -> Path:
        return self.config / "teams" / TEAM_FILE


def make_world(root: Path, api: MessagesAPI, db: Path | None = None) -> World:
    work, config = root / "work", root / "config"
    (config / "teams").mkdir(parents=True)
    work.mkdir()
    (work / "notes.txt").write_text(NOTES, encoding="utf-8")
    (config / "teams" / TEAM_FILE).write_text(tomli_w.dumps(team_file()), encoding="utf-8")
    env = {
        "HUDDLE_CONFIG_DIR": str(config), "HUDDLE_DB": str(root / "unused.db"), "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": api.base_url,
    }
    return World(root, work, config, db or root / "hostile.db", env)


class Watched(Terminal):
    """A terminal whose every byte also goes to a virtual screen."""

    def __init__(self, args: list[str], world: World, *, env: dict[str, str] | None = None) -> None:
        super().__init__([huddle_command(), "--db", str(world.db), *args], cols=COLS, rows=ROWS,
                         env={**world.env, **(env or {})}, cwd=world.work)
        self.screen = VirtualScreen(COLS, ROWS)
        self._fed = 0

    def _pump(self, timeout: float) -> None:
        super()._pump(timeout)
        self.screen.feed_bytes(self.raw[self._fed :])
        self._fed = len(self.raw)

    def shows(self, *words: str, timeout: float = 20.0) -> None:
        """Wait until each of `words` is on the screen at once."""
        deadline = time.monotonic() + timeout
        while not all(self.screen.shows(w) for w in words):
            if time.monotonic() > deadline or self.process.poll() is not None:
                missing = [w for w in words if not self.screen.shows(w)]
                raise AssertionError(f"{missing} not on screen:\n{self.screen.text}")
            self._pump(0.05)

    def hides(self, words: str, timeout: float = 20.0) -> None:
        """Wait until `words` is no longer on the screen."""
        deadline = time.monotonic() + timeout
        while self.screen.shows(words):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{words!r} still on screen:\n{self.screen.text}")
            self._pump(0.05)

    def click(self, words: str) -> None:
        """Click (mouse button 1, SGR encoding) on the first cell of `words`, once it shows."""
        self.shows(words)
        x, y = self.screen.locate(words)
        self.send(f"\x1b[<0;{x + 1};{y + 1}M\x1b[<0;{x + 1};{y + 1}m")

    def finish(self, timeout: float = 30.0) -> int:
        code = self.wait(timeout)
        assert self.screen.foreign == [], f"foreign sequences reached the terminal: {self.screen.foreign[:10]}"
        return code


def run(world: World, *args: str) -> VirtualScreen:
    """Run a command that prints and exits, in a terminal; what it printed."""
    term = Watched(list(args), world)
    try:
        assert term.finish() == 0, term.screen.printed[-2000:]
    finally:
        term.close()
    return term.screen


@pytest.fixture(scope="module")
def api() -> Iterator[MessagesAPI]:
    with MessagesAPI(script) as server:
        yield server


@pytest.fixture(scope="module")
def recorded(api: MessagesAPI, tmp_path_factory: pytest.TempPathFactory) -> tuple[World, VirtualScreen, str]:
    """A headless session run on the hostile team and task, in a terminal: the world it
    was recorded in, what it printed, and its id."""
    world = make_world(tmp_path_factory.mktemp("hostile"), api)
    term = Watched(["run", "--headless", "--approve", "approve", "--team", str(world.team), TASK], world)
    try:
        # Two steps fail on purpose (the API's error is part of the corpus), so the
        # session completes with failed steps, which exits 1.
        assert term.finish(timeout=60) == 1, term.screen.printed[-3000:]
    finally:
        term.close()
    with sqlite3.connect(world.db) as connection:
        (session_id,) = connection.execute("SELECT id FROM sessions").fetchone()
    return world, term.screen, session_id


# -- printed: headless output and the commands -------------------------------------------------


def test_headless_output_shows_every_word_and_no_foreign_control(recorded):
    world, printed, _ = recorded
    text = printed.printed
    for words in ("task: Review  HIDDEN rm -rf ~ [@click=app.quit]X[/] ]0;T", "Step one  HIDDEN rm -rf ~",
                  "UNTERMINATED still shown", "progress 100%", "[@click=app.quit]quit-app[/]", "lone \ufffd surrogate",
                  "Research  HIDDEN rm -rf ~ [@click=app.quit]X[/]]52;c;cm0g",  # the plan's step title
                  "ghost]0;T[@click=app.quit]G[/]",  # a worker the model made up
                  "bad request ]52;c;cm0gLXJmIH4=  HIDDEN rm -rf ~ [@click=app.quit]E[/]",  # the API's error
                  "claude-sonnet-5-5-lead]0;M[@click=app.quit]M[/]"):  # a model named by the team file
        assert words in text, words
    # A step id that would file the plan under a team that does not exist: refused, the
    # model told why, and the plan it then wrote is the one made, shown and run.
    assert "not 'a/b'" in text and "\n    a/b " not in text and "\n    s4 " in text


def test_sessions_list_show_and_export_print_the_text_without_its_controls(recorded, tmp_path):
    world, _, session_id = recorded
    listed = run(world, "sessions", "list").printed
    assert FLAT in listed

    as_json = run(world, "sessions", "list", "--json").printed
    assert as_json.isascii()  # everything beyond ASCII escaped
    (row,) = json.loads(as_json)
    assert row["task"].startswith("Review  HIDDEN rm -rf ~ [@click=app.quit]X[/] ]0;T\ufffd\n")
    assert unsafe(json.dumps(row, ensure_ascii=False)) == []

    shown = run(world, "sessions", "show", session_id[:8]).printed
    assert "Step one  HIDDEN rm -rf ~" in shown and "ghost]0;T[@click=app.quit]G[/]" in shown

    printed_md = run(world, "sessions", "export", session_id[:8]).printed
    assert "Step one  HIDDEN rm -rf ~" in printed_md
    md, js = tmp_path / "s.md", tmp_path / "s.json"
    run(world, "sessions", "export", session_id[:8], "--format", "md", "-o", str(md))
    run(world, "sessions", "export", session_id[:8], "--format", "json", "-o", str(js))
    document = md.read_text(encoding="utf-8")
    assert unsafe(document) == []
    assert "Step one  HIDDEN rm -rf ~" in document and r"\[@click=app.quit\]quit-app\[/\]" in document
    assert "\n  ```\n  Tool  HIDDEN rm -rf ~ [@click=app.quit]T[/]" in document  # the tool's output, fenced
    raw = js.read_bytes()
    assert raw.isascii() and not any(byte < 0x20 and byte not in b"\n" for byte in raw)
    exported = json.loads(raw)  # lossless: the events as recorded, escaped
    texts = [e.get("text", "") for e in exported["events"] if e["kind"] == "call.finished"]
    assert any("Step one \x9d HIDDEN rm -rf ~" in text for text in texts)


def test_team_commands_show_the_team_file_without_its_controls(recorded):
    world, _, _ = recorded
    listed = run(world, "teams").printed
    assert "[@click=app.quit]x ]0;T " in listed and "Shared team  HIDDEN rm -rf ~ [@click=app.quit]D[/]" in listed
    shown = run(world, "teams", "show", str(world.team)).printed
    assert "lead ]52;c;cm0g [@click=app.quit]R[/]  HIDDEN" in shown and "coder redoc" in shown


# -- on screen: the live session, its dialogs and details ------------------------------------------


def test_the_live_screen_and_its_dialogs_show_the_text_and_nothing_else(api, tmp_path):
    world = make_world(tmp_path, api)
    term = Watched(["run", "--team", str(world.team), TASK], world)
    try:
        term.expect(r"Escalation: plan from lead", timeout=40)
        # The plan it approves, as proposed: each step, the worker nobody has, the instructions.
        term.shows("Research  HIDDEN rm -rf ~ [@click=app.quit]X[/]]52;c;cm0g", "Read notes.txt ]0;I[@click=app.quit]I[/]",
                   "ghost]0;T[@click=app.quit]G[/]", "Haunt  HIDDEN", "s4")
        term.shows(f"task: {FLAT} ]0;T\ufffd")  # the header
        term.send("e")  # the payload to edit, as JSON: no controls in it either
        term.shows('"title": "Research  HIDDEN rm -rf ~ [@click=app.quit]X[/]', "Save edit")
        term.send("\x1b[27u")  # escape (as the keyboard protocol Textual asks for sends it): back to the choices
        term.hides("Save edit")
        term.send("\r")  # approve the plan as proposed (and as shown)
        term.expect(r"Escalation: tool_use", timeout=30)
        term.shows("notes.txt")
        term.send("\r")
        term.expect(r"completed", timeout=40)
        term.shows("Step one  HIDDEN rm -rf ~", "UNTERMINATED still shown")  # streamed replies, the timeline
        term.send("\t")
        term.send("m")  # the focused agent's last reply, as Markdown (its links are not links)
        term.shows("last reply", "escape closes", "HIDDEN rm -rf ~", "link-text")
        term.send("q")
        term.hides("escape closes")
        term.send("i")  # the whole task
        term.shows("escape closes", "Step one  HIDDEN rm -rf ~", "[@click=app.quit]quit-app[/]")
        term.send("q")
        term.hides("escape closes")
        term.send("t")  # the timeline: entries and their details
        for _ in range(12):
            term.send("\x1b[A")  # up
        term.shows("Details · ")
        term.send("q")  # leave the finished session: huddle exits, 1 for its failed steps
        assert term.finish() == 1
    finally:
        term.close()


# -- on screen: the browser, replay, the palette; the launch screen ----------------------------------


def test_the_browser_replay_and_palette_show_the_text_and_nothing_else(recorded):
    world, _, _ = recorded
    term = Watched(["sessions"], world)
    try:
        term.shows("sessions · 1", FLAT, f"task: Review  {WORDS}")  # the title, and the preview's task
        term.send("\r")  # replay
        term.expect(r"replay", timeout=20)
        term.send("\x1b[F")  # end: the session as it finished
        term.shows("Step one  HIDDEN rm -rf ~", "completed")
        term.send("j")  # jump to any entry of the whole timeline
        term.shows("Jump to", "Research  HIDDEN rm -rf ~", "ghost]0;T[@click=app.quit]G[/]")
        term.send("\x10")  # ctrl+p: the palette finds the session by its text
        term.shows("Search for commands")
        term.send("Review")
        term.shows(f"Session: {FLAT}")
        term.send("\x11")  # ctrl+q
        assert term.finish() == 0
    finally:
        term.close()


def test_the_launch_screen_shows_team_files_config_recent_and_pasted_tasks_as_text(api, recorded, tmp_path):
    world = make_world(tmp_path, api, db=recorded[0].db)  # its own config, the recorded sessions
    (world.config / "config.toml").write_text(
        tomli_w.dumps({"prices": {"m\x1b]0;K\x07 [@click=app.quit]K[/]": {"input": "lots", "output": 1}}}),
        encoding="utf-8",
    )
    term = Watched([], world)
    try:
        term.shows("start a session")
        term.shows("[@click=app.quit]K[/]")  # the config's error quotes its key
        # A task pasted in (bracketed). Textual's input parser takes ESC apart even inside a
        # paste, so the paste holds the controls that arrive whole: C1, BEL, bidi.
        term.send("\x1b[200~Pasted \x9d HIDDEN rm -rf ~ [@click=app.quit]P[/]\x07\u202e!\x1b[201~")
        term.shows("Pasted  HIDDEN rm -rf ~ [@click=app.quit]P[/]!")
        term.shows(FLAT)  # tasks run before
        term.click(FLAT)  # one recalled into the task box
        term.shows(f"Review  {WORDS}")
        term.click("orchestrator (preset)")  # the team: a file named to quit huddle when clicked
        term.click("[@click=app.quit]x ]0;T (your team file)")
        term.shows("Shared team  HIDDEN rm -rf ~", "lead (lead) · lead ]52;c;cm0g", "coder · coder redoc",
                   "researcher · researcher [b]r[/b]")
        assert term.process.poll() is None  # still running
        term.send("\x11")  # ctrl+q
        assert term.finish() == 0
    finally:
        term.close()

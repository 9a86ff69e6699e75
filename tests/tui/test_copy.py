"""`y` copies a reply, a payload or a session id: cleaned, to the clipboard, and shown."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, TextArea

from sessions.store import SessionStore
from tests.sessions.helpers import publish
from tests.tui.endings import stopped_partial
from tests.tui.helpers import screen_of, until
from tests.tui.scenes import recorded_session
from tui.app import make_app
from tui.clipboard import copy
from tui.safe import clean
from tui.screens.browser import BrowserScreen
from tui.screens.copied import CopiedScreen
from tui.screens.result import ResultScreen
from tui.widgets.timeline import Timeline

SIZE = (200, 50)
REPLY = "# Limiter\x1b[2J\n\n[@click=app.quit]quit[/]\x07 and \x1b]0;title\x07kept\nlast line"


@pytest.fixture
def events():
    """The recorded session, the coder's last reply full of control characters and markup."""
    events = list(recorded_session())
    index = max(i for i, e in enumerate(events) if e.kind == "call.finished" and e.agent == "coder" and e.structured is None)
    events[index] = events[index].model_copy(update={"text": REPLY})
    return events


def clipboard(app) -> list[str]:
    copied: list[str] = []
    app.copy_to_clipboard = copied.append
    return copied


def notices(app) -> list[tuple[str, str]]:
    return [(str(n.title), str(n.message)) for n in app._notifications]


async def test_y_on_an_agent_panel_copies_its_last_reply_cleaned_and_shows_it(events):
    app = make_app(events=events)
    copied = clipboard(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        screen.focus_agent("coder")
        await pilot.press("y")
        assert copied == [clean(REPLY)]
        assert "\x1b" not in copied[0] and "\x07" not in copied[0] and "[@click=app.quit]quit[/]" in copied[0]
        assert isinstance(app.screen, CopiedScreen)  # several lines: shown in full, to select from
        assert app.screen.query_one(TextArea).text == copied[0]
        assert app.screen.query_one(TextArea).read_only
        assert "coder's last reply" in str(app.screen.query_one("Vertical").border_title)
        await pilot.press("escape")
        assert app.screen is screen


async def test_y_on_a_timeline_entry_copies_its_payload(events):
    app = make_app(events=events)
    copied = clipboard(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        await pilot.press("t")
        timeline = screen.query_one(Timeline)
        plan = next(i for i in range(timeline.option_count) if (timeline.entry_at(i).detail or {}).get("plan"))
        timeline.highlighted = plan
        await pilot.press("y")
        assert json.loads(copied[-1]) == screen.view.plan
        await pilot.press("escape")
        timeline.highlighted = timeline.option_count - 1  # the session's end: its result
        await pilot.press("y")
        assert copied[-1] == screen.view.result


async def test_y_elsewhere_copies_the_session_id_into_a_notice(events):
    app = make_app(events=events)
    copied = clipboard(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        screen.query_one("#details").focus()  # no entry chosen yet
        await pilot.press("y")
        assert copied == ["5e55100a1b2c"]
        assert app.screen is screen  # one short line: a notice is enough
        assert ("Copied the session id", "5e55100a1b2c") in notices(app)


async def test_the_notice_shows_copied_text_plainly():
    app = make_app(start=None)
    copied = clipboard(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        copy(app, "a name", "[b]not bold[/b] \x1b[31mred\x1b[0m")
        await pilot.pause()
        assert copied == ["[b]not bold[/b] red"]
        [notice] = app._notifications
        assert str(notice.message) == "[b]not bold[/b] red" and not notice.markup


async def test_y_in_the_browser_copies_the_session_id_and_in_a_result_the_result(tmp_path):
    store = await SessionStore.open(tmp_path / "copy.db")
    events = stopped_partial("5e55000000c3")
    await publish(store, events)
    app = make_app(store=store, start="browser")
    copied = clipboard(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="rows")
        app.screen.query_one(DataTable).focus()
        await pilot.press("y")
        assert copied == ["5e55000000c3"]
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ResultScreen), what="result")
        await pilot.press("y")
        assert copied[-1] == clean(events[-1].result) and "\x1b" not in copied[-1]
    await store.close()

"""`?` on every screen lists every key of that screen and of the app, a line each."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from textual.binding import Binding
from textual.widgets import OptionList, TextArea

import tui
from engine.policy import ApprovalPolicy
from sessions.store import SessionStore
from tests.sessions.helpers import record
from tests.tui.helpers import app_for, live, screen_of, until
from tests.tui.scenes import recorded_session
from tui.app import HuddleApp, make_app
from tui.screens.approval import ApprovalScreen
from tui.screens.browser import BrowserScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.copied import CopiedScreen
from tui.screens.filter import FilterScreen
from tui.screens.help import HelpScreen
from tui.screens.jump import JumpScreen
from tui.screens.launch import LaunchScreen
from tui.screens.reading import ReadingScreen
from tui.screens.replay import ReplayScreen
from tui.screens.result import ResultScreen
from tui.timeline_filter import TimelineFilter

SIZE = (200, 50)
NAMED = {"slash": "/", "question_mark": "?"}


@pytest.fixture
def events():
    return list(recorded_session())


def declared(screen_type: type) -> list[Binding]:
    """The bindings huddle's own classes declare for a screen (its class and its bases), a
    key a class binds again taking the place of its base's."""
    bindings: dict[str, Binding] = {}
    for cls in reversed(screen_type.__mro__):
        if cls.__module__.startswith("tui.") and "BINDINGS" in vars(cls):
            bindings.update((b.key, b) for b in vars(cls)["BINDINGS"] if isinstance(b, Binding))
    return list(bindings.values())


def declared_descriptions(screen_type: type) -> list[str]:
    return [b.description for b in declared(screen_type)]


def labels(binding: Binding) -> list[str]:
    if binding.key_display:
        return [binding.key_display]
    return [NAMED.get(key.strip(), key.strip()) for key in binding.key.split(",")]


def listed(help_screen: HelpScreen) -> dict[str, dict[str, set[str]]]:
    """What the help shows: group -> description -> keys."""
    options = help_screen.query_one(OptionList)
    groups: dict[str, dict[str, set[str]]] = {}
    group = ""
    for index in range(options.option_count):
        option = options.get_option_at_index(index)
        text = str(option.prompt)
        if option.disabled:
            group = text
            groups[group] = {}
            continue
        keys, what = re.split(r"\s{2,}", text, maxsplit=1)
        groups[group][what.split(" · ")[0]] = set(keys.split(" / "))
    return groups


async def check_help(pilot, key: str = "question_mark") -> None:
    """Open the help over the current screen, check it lists every key, close it again."""
    app = pilot.app
    screen = app.screen
    await pilot.press(key)
    assert isinstance(app.screen, HelpScreen), type(screen)
    shown = listed(app.screen)
    for binding in declared(type(screen)):
        assert set(labels(binding)) <= shown["This screen"].get(binding.description, set()), (type(screen), binding)
    for binding in declared(HuddleApp):
        if binding.priority or not screen.is_modal:  # a dialog stops the app's other keys
            assert set(labels(binding)) <= shown["Everywhere"].get(binding.description, set()), binding
        else:
            assert binding.description not in shown["Everywhere"]
    await pilot.press(key)
    assert app.screen is screen


async def test_every_session_screen_and_dialog_lists_its_keys(events):
    app = make_app(events=events)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await until(pilot, lambda: screen.view.finished, what="events shown")
        await check_help(pilot)
        dialogs = [
            ConfirmScreen("Stop?"), ReadingScreen("Task", "text", markdown=False), ResultScreen(screen.view),
            CopiedScreen("a reply", "two\nlines"), FilterScreen(screen.view.timeline, screen.view.agents, TimelineFilter()),
            JumpScreen(list(screen.view.timeline), 1),
        ]
        for dialog in dialogs:
            await app.push_screen(dialog)
            await pilot.pause()
            await check_help(pilot)
            dialog.dismiss(None)
            await pilot.pause()
            assert app.screen is screen


async def test_the_approval_dialog_lists_its_keys():
    app = app_for(live())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.current is not None, what="dialog")
        await check_help(pilot)


async def test_replay_lists_its_keys_and_the_session_screens(events):
    async def load(after: int, limit: int):
        return events[after : after + limit]

    app = HuddleApp(start=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = ReplayScreen(load, len(events), playing=False)
        await app.push_screen(screen)
        await until(pilot, lambda: screen.replay.complete, what="loaded")
        await check_help(pilot)
        assert {"Play/pause", "Jump to", "Result", "Search"} <= set(declared_descriptions(ReplayScreen))


async def test_browser_and_launch_screen_list_their_keys(tmp_path):
    store = await SessionStore.open(tmp_path / "help.db")
    await record(store, policy=ApprovalPolicy(default="approve"))
    app = make_app(store=store, start="launch")
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press("question_mark")  # typed into the task: the task is being written
        assert isinstance(app.screen, LaunchScreen) and app.screen.query_one("#task", TextArea).text == "?"
        await check_help(pilot, "f1")  # f1 opens the help even there
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, BrowserScreen) and app.screen.rows, what="browser")
        await check_help(pilot)
    await store.close()


def test_every_binding_has_an_id_and_a_description():
    """The bindings are the registry the help reads: each names what it does."""
    classes = []
    for module_info in pkgutil.walk_packages(tui.__path__, "tui."):
        module = importlib.import_module(module_info.name)
        classes += [c for _, c in inspect.getmembers(module, inspect.isclass)
                    if c.__module__ == module.__name__ and "BINDINGS" in vars(c)]
    assert len(classes) >= 12
    for cls in classes:
        for binding in vars(cls)["BINDINGS"]:
            assert isinstance(binding, Binding) and binding.id and binding.description, (cls, binding)


async def test_the_inbox_lists_its_keys(tmp_path):
    from tui.screens.inbox import InboxScreen

    async with await SessionStore.open(tmp_path / "inbox.db") as store:
        app = make_app(store=store, start="inbox")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, InboxScreen) and app.screen.loaded, what="inbox")
            await check_help(pilot)
            assert {"Decide", "Mark", "Approve marked"} <= set(declared_descriptions(InboxScreen))

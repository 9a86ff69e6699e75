"""HelpScreen: the keys of the screen below it, a line each, read from its bindings.

The bindings are the one registry of keys: the screens' key hints, Textual's own
dispatch and this screen all read them, so a key cannot be missing from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Vertical
from textual.content import Content
from textual.dom import DOMNode
from textual.keys import format_key
from textual.screen import ModalScreen, Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


WORDS = {"escape": "escape", "enter": "enter"}
"""Keys shown by name, as the README writes them, where Textual would show "esc" and "⏎"."""


@dataclass(frozen=True)
class KeyLine:
    """One thing a key does, with every key that does it."""

    keys: tuple[str, ...]
    description: str
    tooltip: str


def key_label(binding: Binding) -> str:
    """A key as the user types it: "ctrl+q", "/", "]", "shift+tab"."""
    if binding.key_display:
        return binding.key_display
    modifiers, key = binding.parse_key()
    return "+".join([*modifiers, WORDS.get(key) or format_key(key)])


def key_lines(bindings: BindingsMap, *, only_priority: bool = False) -> list[KeyLine]:
    """The bindings' keys, those with the same action and description on one line, in
    the order they were declared; Textual's system bindings are left out."""
    lines: dict[tuple[str, str], KeyLine] = {}
    for _key, binding in bindings:
        if binding.system or (only_priority and not binding.priority):
            continue
        what = (binding.action, binding.description)
        line = lines.get(what)
        label = key_label(binding)
        if line is None:
            description = binding.description or binding.action
            lines[what] = KeyLine((label,), description[:1].upper() + description[1:], binding.tooltip)
        elif label not in line.keys:
            lines[what] = KeyLine((*line.keys, label), line.description, line.tooltip or binding.tooltip)
    return list(lines.values())


def _bindings(node: DOMNode) -> BindingsMap:
    return node._bindings  # the merged bindings, with the user's keymap applied


def screen_keys(screen: Screen[object], app: App[object]) -> list[tuple[str, list[KeyLine]]]:
    """The keys of `screen`, then those that work everywhere (over a dialog, only the
    app's priority keys do: a dialog stops the others)."""
    return [
        ("This screen", key_lines(_bindings(screen))),
        ("Everywhere", key_lines(_bindings(app), only_priority=screen.is_modal)),
    ]


class HelpScreen(ModalScreen[None]):
    """Lists the keys of the screen it was opened over."""

    CSS_PATH = "help.tcss"

    BINDINGS = [Binding("escape,q", "close", "Close", id="help.close")]

    def __init__(self, over: Screen[object]) -> None:
        super().__init__()
        self._over = over

    def compose(self) -> ComposeResult:
        groups = screen_keys(self._over, self.app)
        width = max((len(" / ".join(line.keys)) for _, lines in groups for line in lines), default=4) + 2
        options: list[Option | None] = []
        for title, lines in groups:
            if options:
                options.append(None)
            options.append(Option(Content.styled(title, "bold $text-accent"), disabled=True))
            for line in lines:
                options.append(Option(Content.assemble(
                    (" / ".join(line.keys).ljust(width), "bold"), line.description,
                    (f" · {line.tooltip}" if line.tooltip else "", "dim"),
                )))
        with Vertical() as box:
            box.border_title = Content(f"Keys · {self._title()}")
            yield OptionList(*options, id="keys")
            yield Static(Content("escape closes"), id="hint")

    def _title(self) -> str:
        """"ReplayScreen" -> "replay"."""
        name = type(self._over).__name__.removesuffix("Screen")
        return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower() or "screen"

    def on_mount(self) -> None:
        keys = self.query_one(OptionList)
        keys.highlighted = next((i for i, option in enumerate(keys.options) if not option.disabled), None)
        keys.focus()

    def action_close(self) -> None:
        self.dismiss(None)


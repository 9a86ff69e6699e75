"""Hostile text: markup, terminal escapes and invisible characters, as a task, a team
file, a model, a tool or a stored session might carry them; and checks that text
shown to a person holds none of it.

`PIECES` names each kind; `HOSTILE` is all of them in one string; `VISIBLE` are
words inside them that must still show, literally, once the controls are gone.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel

PIECES: dict[str, str] = {
    "markup": "[/ [bold]unclosed [@click=app.quit]quit-app[/] [link=x]y[/link]",
    "csi": "\x1b[2J\x1b[H\x1b[31;1mred\x1b[0m\x1b[6n\x1b[c\x1b[21t\x1b[?1049l",
    "osc0": "\x1b]0;pwned-title\x07",
    "osc2": "\x1b]2;pwned-two\x1b\\",
    "osc8": "\x1b]8;;http://evil.example/\x1b\\link-text\x1b]8;;\x1b\\",
    "osc52": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "dcs": "\x1bPq#0;2;0;0;0#0~~\x1b\\",
    "apc_pm_sos": "\x1b_Gf=100;QUFB\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\",
    "c1": "\x9b2J\x9d0;c1-title\x07\x90c1-dcs\x9c\x85\x8d",
    "lone_c1": "Step one \x9d HIDDEN rm -rf ~",
    "unterminated": "before \x1b]0;UNTERMINATED still shown",
    "nul_del_bs": "nul\x00del\x7fbs\x08\x08x",
    "cr": "progress 10%\rprogress 100%\r\n",
    "bell": "ding\x07dong",
    "bidi": "\u202etxt.exe\u202c \u2066isolated\u2069 \u200fmark",
    "zero_width": "pay\u200bpal \U0001f468\u200d\U0001f469\u200d\U0001f467 \ufeffbom \u00adsoft",
    "tags": "tag\U000e0041\U000e0042",
    "surrogate": "lone \ud800 surrogate",
    "wide": "表格 ｗｉｄｅ \U0001f600",
    "long": "long " + "x" * 3000,
}

HOSTILE = " ".join(PIECES.values())
WELL_FORMED = " ".join(text for name, text in PIECES.items() if name != "surrogate")
"""The corpus without its lone surrogate: what UTF-8 (SQLite, a program's source) can hold."""

VISIBLE = (
    "[@click=app.quit]quit-app[/]", "HIDDEN rm -rf ~", "UNTERMINATED still shown", "pwned-title",
    "link-text", "progress 100%", "txt.exe", "表格",
)
"""Words in `HOSTILE` that every place showing it whole must show as written."""

SHORT = "\x1b]0;T\x07[@click=app.quit]X[/] \x9d HIDDEN rm -rf ~ \x1b[2J\u202eok"
"""The corpus in brief, for names, ids and one-line places."""
SHORT_VISIBLE = ("[@click=app.quit]X[/]", "HIDDEN rm -rf ~")

FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ud800-\udfff\U000e0000-\U000e007f]"
)
"""What shown text never holds: C0 but tab and newline, ESC, DEL, C1, bidi controls,
zero-width and other invisible format characters, surrogates, tag characters."""


def unsafe(text: str) -> list[str]:
    """The forbidden characters in `text`, as escapes (empty when it is safe)."""
    return [repr(char) for char in FORBIDDEN.findall(text)]


def strings(value: Any, seen: set[int] | None = None) -> list[str]:
    """Every string inside `value`: containers, pydantic models, dataclasses and plain objects."""
    seen = set() if seen is None else seen
    if isinstance(value, str):
        return [value]
    if isinstance(value, int | float | bool | type(None)) or id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k, seen) + strings(v, seen)]
    if isinstance(value, list | tuple | set | frozenset) or type(value).__name__ == "deque":
        return [s for item in value for s in strings(item, seen)]
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in strings(getattr(value, name), seen)]
    if hasattr(value, "__dict__"):
        return [s for v in vars(value).values() for s in strings(v, seen)]
    return []


def hostile(annotation: Any, text: str = HOSTILE, depth: int = 0) -> Any:
    """A value of the type `annotation` with `text` in every string of it (models built
    without validation, so names and ids may be hostile too; optional parts stop nesting
    a few levels down)."""
    depth += 1
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return hostile(args[0], text, depth)
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        concrete = [a for a in args if a is not type(None)]
        return None if depth > 4 and len(concrete) < len(args) else hostile(concrete[0], text, depth)
    if annotation is str or annotation is typing.Any:
        return text if annotation is str else {text: [text, {"nested": text}]}
    if annotation is bool:
        return False
    if annotation in (int, float):
        return annotation(1)
    if origin in (list, set, frozenset):
        return [hostile(args[0], text, depth)]
    if origin is tuple:
        return (hostile(args[0], text, depth),)
    if origin is dict:
        return {hostile(args[0], text, depth): hostile(args[1], text, depth)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.model_construct(**{  # a number with a default keeps it: it may be bounded
            name: field.default if field.annotation in (int, float) and not field.is_required()
            else hostile(field.annotation, text, depth)
            for name, field in annotation.model_fields.items()
        })
    raise TypeError(f"no hostile value for {annotation!r}")

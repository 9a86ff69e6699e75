"""Untrusted text made safe to show: no terminal escapes, no control characters."""

from __future__ import annotations

import re
import sys

# CSI, OSC, DCS/SOS/PM/APC strings and two-byte escapes, in 7-bit and 8-bit forms.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                     # CSI ... final byte
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC/DCS/SOS/PM/APC ... terminator
  | \x1b[ -/]*[0-~]                                       # other ESC sequences
    """,
    re.VERBOSE | re.DOTALL,
)
# Remaining C0/C1 controls (tab and newline stay), DEL, and bidi overrides that
# can make text read differently from what it is.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` with escape sequences removed and other control characters dropped;
    carriage returns become newlines so nothing can overwrite a line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def clean_data(value: object) -> object:
    """`value` with every string inside it cleaned (for JSON-like payloads)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_data(v) for v in value]
    return value


def clean_line(text: str, width: int | None = None) -> str:
    """Untrusted `text` on one clean line, cut on a word boundary to `width` if given."""
    if width is None:
        return " ".join(clean(text).split())
    from engine.formats import preview  # here: `huddle --help` loads no engine

    return preview(clean(text), width)


def report(message: str) -> None:
    """Write `message` to standard error as one clean line: errors quote paths,
    file contents and settings, which may hold escapes or line breaks."""
    sys.stderr.write(clean_line(message) + "\n")

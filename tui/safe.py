"""The one gate for text huddle did not write.

The task, team files and config, model text and structured replies, names and
ids a model chose, tool output, provider errors and stored sessions are
untrusted. They pass `safe` (a whole event, row or team file) or `clean` (one
string) on their way to a screen, a printed line or an export:

- where events enter the screens (`SessionView.apply`), the transcript
  (`Transcript.feed`, headless runs and `sessions show`), the console prompts
  of headless runs and the Markdown export;
- where session rows are loaded for display (browser, palette, recent tasks,
  `sessions list/show/delete`), where team files are shown (launch screen,
  `huddle teams`), and in error messages (`report`, the app's notifications).

What `clean` does, by rules that never hide text:

- a complete CSI sequence (`ESC [` or U+009B, at most 32 parameter and 4
  intermediate bytes, then its final byte) is removed: it holds numbers and a
  command, never words;
- every other control character is dropped on its own: C0 but tab and
  newline (NUL, BEL, BS...), DEL, ESC, and C1 (U+0080-U+009F, among them the
  OSC/DCS/SOS/PM/APC introducers and ST). What stood between an introducer and
  its terminator stays as text, so an unterminated `ESC ]` or a lone U+009D
  hides nothing after it;
- CR LF, CR, U+2028 and U+2029 become newlines, so nothing overwrites a line;
- bidi controls (embeddings, overrides, isolates, marks) and invisible format
  characters (zero-width space, non-joiner and joiner, word joiner, BOM, soft
  hyphen, invisible operators...) are dropped. The zero-width joiner goes too,
  even inside an emoji sequence: terminals and Textual disagree on the width of
  a joined emoji, which breaks the layout; its emoji stay, side by side;
- tag characters (U+E0000-U+E007F) become U+FFFD: they spell ASCII that a
  model reads and a person cannot see, so they show as visibly replaced;
- lone surrogates (which cannot be written out) become U+FFFD.

Everything else, wide characters and very long lines included, is kept as it is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from typing import Any, TypeVar

T = TypeVar("T")

_FORMAT = (
    "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
)
"""Invisible format characters and bidi controls (Unicode category Cf, but the few
that show as marks, such as U+0600-U+0605)."""

_UNSAFE = re.compile(
    r"(?P<csi>(?:\x1b\[|\x9b)[0-?]{0,32}[ -/]{0,4}[@-~])"
    r"|(?P<newline>\r\n?|[\u2028\u2029])"
    r"|(?P<mark>[\ud800-\udfff\U000e0000-\U000e007f])"
    rf"|[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]"
)
_SUSPECT = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}\u2028\u2029\ud800-\udfff\U000e0000-\U000e007f]")
"""Any character `_UNSAFE` starts a match with: one character class, so text that needs
nothing is told at once (the alternation above is several times slower to search)."""

_PLAIN = frozenset({int, float, bool, type(None)})
MAX_DEPTH = 64
"""How deep `safe` follows nested data; anything deeper is shown as its (cleaned) JSON text."""


def _replacement(match: re.Match[str]) -> str:
    group = match.lastgroup
    return "\n" if group == "newline" else "\ufffd" if group == "mark" else ""


def clean(text: str) -> str:
    """`text` as it may be shown: see the rules above. The same string when it needs nothing."""
    if _SUSPECT.search(text) is None:
        return text
    return _UNSAFE.sub(_replacement, text)


def safe(value: T, _depth: int = 0) -> T:
    """`value` with every string in it cleaned: strings, dict keys and values, lists and
    tuples, pydantic models (events, their plans and payloads, team files) and
    dataclasses (session rows), at any depth. The same object when nothing needed
    cleaning (cheap: this runs on every event); a changed model is rebuilt without
    validation, as the same type."""
    kind = type(value)
    if kind is str:
        return clean(value)  # type: ignore[arg-type,return-value]
    if kind in _PLAIN or isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return clean(value)  # type: ignore[return-value]
    if _depth >= MAX_DEPTH:
        return clean(json.dumps(value, ensure_ascii=False, default=str))  # type: ignore[return-value]
    depth = _depth + 1
    if isinstance(value, dict):
        items, changed = [], False
        for key, item in value.items():
            new_key, new_item = safe(key, depth), safe(item, depth)
            changed = changed or new_key is not key or new_item is not item
            items.append((new_key, new_item))
        return dict(items) if changed else value  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        cleaned = [safe(item, depth) for item in value]
        if all(new is old for new, old in zip(cleaned, value, strict=True)):
            return value
        return kind(cleaned) if kind in (list, tuple) else cleaned  # type: ignore[return-value]
    fields = getattr(kind, "__pydantic_fields__", None)
    if fields is not None:  # a pydantic model: its fields are in its __dict__
        data = value.__dict__
        changes: dict[str, Any] = {}
        for name in fields:
            old = data[name]
            field_kind = type(old)
            if field_kind in _PLAIN:  # most fields of most events: no call needed
                continue
            new = clean(old) if field_kind is str else safe(old, depth)
            if new is not old:
                changes[name] = new
        if not changes:
            return value
        return kind.model_construct(  # type: ignore[attr-defined,no-any-return]
            value.model_fields_set, **({name: data[name] for name in fields} | changes)  # type: ignore[attr-defined]
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: new for f in dataclasses.fields(value) if (new := safe(old := getattr(value, f.name), depth)) is not old
        }
        return dataclasses.replace(value, **changes) if changes else value  # type: ignore[type-var]
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

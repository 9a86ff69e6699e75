"""Copying with `y`: what a reply, a timeline entry or a session gives, and putting it
on the clipboard where the user can see what was copied.

The clipboard is reached through the terminal (OSC 52), which some terminals
ignore, so what was copied is always shown too: a short text in a notice, a
longer one in a screen to select from. Copied text is cleaned of control
characters first; the notice shows it as plain text.
"""

from __future__ import annotations

import json

from textual.app import App

from tui.safe import clean, clean_line
from tui.view import Entry, SessionView

NOTICE_WIDTH = 120
"""Up to this long, on one line, a copied text is shown whole in a notice."""


def entry_payload(entry: Entry, view: SessionView) -> tuple[str, str]:
    """What `y` copies from a timeline entry, and what to call it: its payload as
    JSON, its text (a message, a tool's output, the result), or its line."""
    detail = entry.detail or {}
    if detail.get("plan"):
        plan = view.revisions.get((detail.get("scope", ""), detail.get("revision", view.plan_revision)), view.plan)
        return "the plan", json.dumps(plan or {}, indent=2, ensure_ascii=False, default=str)
    title = clean_line(str(detail.get("title", "")))
    if "data" in detail:
        return title or "the payload", json.dumps(detail["data"], indent=2, ensure_ascii=False, default=str)
    if "text" in detail:
        return title or "the text", str(detail["text"] or "")
    return "the timeline entry", f"{entry.agent} {entry.text}" if entry.agent else entry.text


def copy(app: App[object], what: str, text: str) -> None:
    """Put `text` (cleaned) on the clipboard and show it: in a notice when it is one
    short line, else in a screen it can be selected from."""
    from tui.screens.copied import CopiedScreen

    text = clean(text)
    app.copy_to_clipboard(text)
    if "\n" not in text.strip() and len(text) <= NOTICE_WIDTH:
        app.notify(text.strip() or "(empty)", title=f"Copied {what}", timeout=4, markup=False)
    else:
        app.push_screen(CopiedScreen(what, text))

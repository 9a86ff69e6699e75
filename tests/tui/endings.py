"""Fixed sessions that end in a chosen way, for the result screen's tests and snapshot."""

from __future__ import annotations

from typing import Any

from engine.events import EventBase
from tests.tui.scenes import recorded_session

HOSTILE_RESULT = (
    "# Rate limiter\n\n"
    "Use a **token bucket** per API key; see [the design](app.quit).\n\n"
    "[@click=app.quit]do not click[/] and [bold]not bold[/bold]\x1b[2J\x07 kept\n\n"
    "- 100 requests a minute\n- bursts of 20\n"
)
"""A result with what a model might write to take over a screen: markup, a link
naming an action, escape and control characters."""


def ended(session_id: str = "5e55100a1b2c", **finish: Any) -> list[EventBase]:
    """The recorded session, its last event (session.finished) changed by `finish`, for `session_id`."""
    events = list(recorded_session())
    *body, last = events
    assert last.kind == "session.finished"
    return [e.model_copy(update={"session_id": session_id}) for e in body] + [
        last.model_copy(update={"session_id": session_id, **finish})
    ]


def stopped_partial(session_id: str = "5e55100a1b2c") -> list[EventBase]:
    """Stopped by its budget with one failed step and a partial, hostile result."""
    return ended(session_id, status="stopped", partial=True, reason="cost budget used up ($0.05 of $0.05)",
                 failed_steps=1, result=HOSTILE_RESULT)

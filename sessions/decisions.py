"""Decisions taken away from the process that runs a session, on their way to it through
the store: from the inbox (`huddle inbox`) or a screen attached to the session
(`huddle attach`), on this machine or another one sharing the store.

A decision is posted once per escalation: the first one posted is the one, and whoever
posts a second learns who decided first, and when (`Posted.first`). The process running
the session is the only writer of its events: it picks posted decisions up (`waiting`),
answers its approval gate with them, and settles each (`settle`): "taken", or why not (the
escalation was decided meanwhile at its own screen, an edit that does not validate). The
poster watches the outcome (`posted`). Nothing travels by signals or files on the side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the schema (`CREATE`) is read by every command that opens a database: nothing heavy
    from engine.approvals import Decision
    from engine.event_base import DecisionAction

TAKEN = "taken"
"""The outcome of a posted decision the session took."""
SCOPES = ("once", "always", "tool", "tool-input")
"""What a posted decision covers: this escalation; its trigger from now on ("always
allow"); the tool of a tool use with any input, or with exactly this input."""

COLUMNS = "session_id, escalation_id, action, option, reason, edited, scope, decided_by, decided_at, outcome, settled_at"
CREATE = (
    """
    CREATE TABLE decisions (
        session_id    TEXT NOT NULL,
        escalation_id TEXT NOT NULL,
        action        TEXT NOT NULL,            -- approve, reject, edit
        option        TEXT,                     -- the named choice taken
        reason        TEXT,
        edited        TEXT,                     -- the edited payload, as JSON
        scope         TEXT NOT NULL DEFAULT 'once',
        decided_by    TEXT NOT NULL,            -- user@host, and from where
        decided_at    REAL NOT NULL,
        outcome       TEXT,                     -- NULL until the session picks it up: 'taken', or why not
        settled_at    REAL,
        PRIMARY KEY (session_id, escalation_id)
    )
    """,
    "CREATE INDEX decisions_unsettled ON decisions (session_id) WHERE outcome IS NULL",
)
"""The table, as migration 6 makes it."""


def decider(where: str) -> str:
    """Who decides, and from where: "ana@build-3 in the inbox"."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "someone"
    return f"{user}@{socket.gethostname()} {where}"


@dataclass(frozen=True)
class Posted:
    """A decision posted for a session's escalation, and what became of it."""

    session_id: str
    escalation_id: str
    action: DecisionAction
    option: str | None
    reason: str | None
    edited: Any
    scope: str
    decided_by: str
    decided_at: float
    outcome: str | None = None
    """None until the session picks it up; `TAKEN`, or why it was not."""
    settled_at: float | None = None
    first: bool = True
    """False when another decision was posted for the escalation before this one: this is that one."""

    @classmethod
    def from_db(cls, values: tuple[Any, ...], *, first: bool = True) -> Posted:
        (session_id, escalation_id, action, option, reason, edited, scope, decided_by, decided_at,
         outcome, settled_at) = values
        return cls(
            session_id, escalation_id, action, option, reason, None if edited is None else json.loads(edited),
            scope, decided_by, decided_at, outcome, settled_at, first,
        )

    def values(self) -> tuple[Any, ...]:
        """The row to insert (unsettled)."""
        edited = None if self.edited is None else json.dumps(self.edited, ensure_ascii=False)
        return (self.session_id, self.escalation_id, self.action, self.option, self.reason, edited, self.scope,
                self.decided_by, self.decided_at)

    def decision(self) -> Decision:
        """The decision as the session's approval gate takes it, recorded as this person's."""
        from engine.approvals import Decision

        return Decision(self.action, self.reason, self.edited, by="human", rule=self.decided_by, option=self.option)

"""A session's row: what a list shows without reading events (`sessions.tally` folds events into it)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from engine.events import SessionStarted

RowStatus = Literal["running", "waiting", "completed", "failed", "stopped", "cancelled", "interrupted"]
SESSION_STATES: tuple[str, ...] = get_args(RowStatus)
LIVE_STATES: tuple[str, ...] = ("running", "waiting")
"""A session in one of these is still being recorded, or its recorder died (see `interrupted`)."""

COLUMNS: tuple[str, ...] = (
    "id", "created_at", "updated_at", "task", "title", "pattern", "team", "agents", "provider",
    "models", "seed", "status", "tokens_in", "tokens_out", "cost", "calls", "turns", "duration_s",
    "result", "reason", "partial", "pid", "host", "last_seq", "failed_steps", "skipped_steps", "unpriced",
    "parent_id", "forked_at", "resumes", "heartbeat",
)


@dataclass(frozen=True)
class SessionRow:
    """One recorded session, as listed: no events needed."""

    id: str
    created_at: float
    """When the session started, seconds since the epoch."""
    updated_at: float
    """When its latest recorded event happened."""
    task: str
    title: str
    pattern: str
    team: str
    agents: tuple[str, ...]
    provider: str
    models: tuple[str, ...]
    seed: int | None
    status: RowStatus
    tokens_in: int
    """Tokens the models read, cached or not (`Usage.tokens_in`), as the live panels count them."""
    tokens_out: int
    cost: float
    """What its calls with a price cost (see `unpriced`)."""
    calls: int
    turns: int
    duration_s: float
    result: str | None
    """The final result; None until the session finished."""
    reason: str | None
    """Why it ended the way it did (failed, stopped, cancelled, interrupted)."""
    partial: bool
    pid: int | None
    """The process that recorded it."""
    host: str | None
    last_seq: int
    """The `seq` of its last recorded event; events are gap-free, so also their number."""
    failed_steps: int = 0
    """Steps that failed, as the session finished (0 while it runs)."""
    skipped_steps: int = 0
    """Steps skipped because a step they needed did not get done."""
    unpriced: int = 0
    """Calls (and failed attempts that used tokens) whose model had no price: their cost
    is unknown and not in `cost` (0 for sessions recorded before it was counted)."""
    parent_id: str | None = None
    """The session this one was forked from; None: not a fork."""
    forked_at: int | None = None
    """The seq of the parent's event it was forked at."""
    resumes: int = 0
    """How many times it was resumed (carried on in its own record after it ended)."""
    heartbeat: float | None = None
    """When its recording process last said it was alive (seconds since the epoch, its
    clock): a live session not heard from for a while has lost its process, on any host."""

    @property
    def lineage(self) -> str:
        """Where it comes from, in a few words ("forked from 3dbed46e at #73 · resumed twice"); "" for neither."""
        parts = []
        if self.parent_id is not None:
            parts.append(f"forked from {self.parent_id[:8]} at #{self.forked_at}")
        if self.resumes:
            parts.append("resumed" + ("" if self.resumes == 1 else " twice" if self.resumes == 2 else f" {self.resumes} times"))
        return " · ".join(parts)

    @property
    def outcome(self) -> str:
        """Its status, saying which steps did not get done ("completed with 3 failed steps")."""
        from engine.formats import outcome

        return outcome(self.status, self.failed_steps, self.skipped_steps)

    damaged: tuple[str, ...] = ()
    """Columns whose stored value could not be read (a damaged row): each holds its
    empty value instead, and the rest of the row is as stored."""

    @classmethod
    def from_db(cls, values: tuple[Any, ...]) -> SessionRow:
        """A row from a `SELECT` of `COLUMNS`, in that order. A value that is not what
        its column holds (garbage written by another program, a damaged file) never
        raises: the row comes back with that column empty and named in `damaged`."""
        row: dict[str, Any] = {}
        damaged: list[str] = []
        for column, value in zip(COLUMNS, values, strict=True):
            kind = _KINDS.get(column, "int")
            try:
                row[column] = _READERS[kind](value)
            except (TypeError, ValueError):
                row[column] = _EMPTY[kind]
                damaged.append(column)
        return cls(**row, damaged=tuple(damaged))

    @property
    def agent_count(self) -> int:
        return len(self.agents)

    @property
    def tokens(self) -> int:
        """Tokens in and out."""
        return self.tokens_in + self.tokens_out

    def to_json(self) -> dict[str, Any]:
        """The row as plain JSON values (`damaged` only when it is)."""
        data = asdict(self)
        data["agents"] = list(self.agents)
        data["models"] = list(self.models)
        if self.damaged:
            data["damaged"] = list(self.damaged)
        else:
            del data["damaged"]
        return data


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _names(value: Any) -> tuple[str, ...]:
    names = json.loads(_text(value))
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValueError(value)
    return tuple(names)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    return value


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise TypeError(value)
    return float(value)


def _status(value: Any) -> str:
    if value not in SESSION_STATES:
        raise ValueError(value)
    return value


def _nullable(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


_READERS: dict[str, Callable[[Any], Any]] = {
    "text": _text, "names": _names, "int": _whole, "real": _real, "status": _status,
    "bool": lambda value: bool(_whole(value)), "text?": _nullable(_text), "int?": _nullable(_whole),
    "real?": _nullable(_real),
}
_EMPTY: dict[str, Any] = {
    "text": "", "names": (), "int": 0, "real": 0.0, "status": "interrupted", "bool": False, "text?": None, "int?": None, "real?": None,
}
_KINDS: dict[str, str] = {
    "id": "text", "created_at": "real", "updated_at": "real", "task": "text", "title": "text", "pattern": "text",
    "team": "text", "agents": "names", "provider": "text", "models": "names", "seed": "int?", "status": "status",
    "cost": "real", "duration_s": "real", "result": "text?", "reason": "text?", "partial": "bool", "pid": "int?",
    "host": "text?", "parent_id": "text?", "forked_at": "int?", "heartbeat": "real?",
}
"""How each column is read; every other column is a whole number."""


def started_values(event: SessionStarted, *, pid: int, host: str) -> dict[str, Any]:
    """The new row for a `session.started` event."""
    return {
        "id": event.session_id,
        "created_at": event.ts,
        "updated_at": event.ts,
        "task": event.task,
        "title": event.title,
        "pattern": event.pattern,
        "team": event.team.name,
        "agents": json.dumps([agent.name for agent in event.team.callers()]),  # as many as the panels
        "provider": event.provider,
        "models": json.dumps(event.team.models),
        "seed": event.seed,
        "status": "running",
        "pid": pid,
        "host": host,
        "last_seq": event.seq,
        "parent_id": event.forked_from.session_id if event.forked_from else None,
        "forked_at": event.forked_from.at_seq if event.forked_from else None,
        "heartbeat": time.time(),
    }

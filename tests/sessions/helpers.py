"""Helpers for the store tests: record sessions, build every kind of event, look at the file."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.approvals import ApprovalGate
from engine.bus import EventBus
from engine.events import (
    EVENT_VERSION,
    AgentMessage,
    CallFailed,
    ErrorEvent,
    EventBase,
    Handoff,
    Retry,
    SessionFinished,
    SessionResumed,
    ToolCall,
    ToolResult,
    ToolServer,
)
from engine.notes import TYPED_NOTES, GenericNote
from engine.policy import ApprovalPolicy
from engine.providers.simulated import SimulatedProvider
from engine.session import EngineConfig, SessionSpec, run_session
from sessions.batch_writer import BatchWriter
from sessions.recorder import Recorder
from sessions.store import SessionStore
from tests.helpers import FAST_RETRY, run
from tests.hostile import hostile

TASK = "Design a rate limiter for our public REST API"
APPROVE = ApprovalPolicy(default="approve")


@dataclass
class Recorded:
    finished: SessionFinished
    events: list[EventBase]
    recorder: Recorder


async def record(
    store: SessionStore,
    provider: Any = None,
    *,
    task: str = TASK,
    session_id: str | None = None,
    policy: ApprovalPolicy = APPROVE,
    gate: ApprovalGate | None = None,
    recorder_options: dict[str, Any] | None = None,
    listen: Callable[[EventBase], None] | None = None,
    **spec: Any,
) -> Recorded:
    """Run a session (instant simulated provider by default) with a recorder attached."""
    bus = EventBus()
    events: list[EventBase] = []
    bus.listen(events.append)
    if listen is not None:
        bus.listen(listen)
    recorder = Recorder.attach(store, bus, **(recorder_options or {}))
    recorder.start()
    finished = await run_session(
        SessionSpec(task=task, policy=policy, **spec),
        provider or SimulatedProvider(seed=1, speed=0),
        bus=bus,
        gate=gate or ApprovalGate(policy),
        config=EngineConfig(retry=FAST_RETRY, call_timeout=5),
        session_id=session_id,
    )
    await recorder.finish()
    return Recorded(finished, events, recorder)


async def publish(store: SessionStore, events: list[EventBase], **options: Any) -> Recorder:
    """Feed `events` to a recorder through a bus, as the engine would, and finish it."""
    bus = EventBus()
    recorder = Recorder.attach(store, bus, **options)
    recorder.start()
    for event in events:
        bus.publish(event)
        await bus.wait_for_room()
    await recorder.finish()
    return recorder


async def every_kind(session_id: str = "allkinds0001") -> list[EventBase]:
    """A real session's events plus one hand-made event of each kind it did not
    produce, with awkward content (escapes, bidi marks, emoji, nested payloads,
    tiny floats), renumbered into one gap-free session."""
    ran = await run(SimulatedProvider(seed=4, speed=0))
    base = dict(session_id=session_id, seq=0, ts=1_800_000_000.123456789, span_id="root/x", parent_span_id="root")
    odd = "café \u202e gnp.exe \x1b[2J [/] `code` ![img](http://x) 😀 \\ \"q\"\n"
    extra: list[EventBase] = [
        CallFailed(
            **base, agent="coder", call_key="root/x#coder#1", attempt=1, error_type="rate_limit", error=odd, final=False
        ),
        Retry(**base, agent="coder", call_key="root/x#coder#1", attempt=2, delay_s=1e-7, reason=odd, retry_after_s=2.5),
        ToolCall(**base, agent="coder", tool_use_id="tu1", tool="search", input={"q": odd, "n": [1, 2.5, None, True]}),
        ToolResult(**base, agent="coder", tool_use_id="tu1", tool="search", output=odd, is_error=True),
        ToolServer(**base, server="git", status="lost", tools=("git.status", odd), message=odd),
        Handoff(
            **base, agent="coder", from_agent="coder", to_agent="reviewer", contract="patch",
            payload={"diff": odd, "files": ["a.py"]}, confidence=0.42, verdict="low_confidence", error=odd,
        ),
        AgentMessage(**base, agent="coder", from_agent="coder", to_agent=None, text=odd),
        *(
            note.model_validate({**hostile(note, odd).model_dump(), **base, "v": EVENT_VERSION, "agent": "coder"})
            for note in TYPED_NOTES
        ),
        GenericNote(**base, topic="round", text=odd, data={"scores": {"a": 0.1, "b": 1e300}}),
        ErrorEvent(**base, agent="ghost", error_type="unknown_agent", message=odd, fatal=False, step_id="s9"),
        SessionResumed(
            **base, after_seq=0, previous_status="interrupted", previous_reason=odd, calls=3, decisions=1,
            worked_s=1e-7, pid=4242,
        ),
    ]
    produced = {event.kind for event in ran.events}
    events = ran.events[:-1] + [e for e in extra if e.kind not in produced] + ran.events[-1:]
    return [
        event.model_copy(update={"session_id": session_id, "seq": seq}) for seq, event in enumerate(events, start=1)
    ]


UNDO_STEPS: dict[int, tuple[str, ...]] = {
    4: ("ALTER TABLE sessions DROP COLUMN unpriced",),
    5: ("DROP INDEX sessions_by_parent", *(f"ALTER TABLE sessions DROP COLUMN {c}" for c in ("parent_id", "forked_at", "resumes"))),
    6: ("DROP TABLE decisions", *(f"DROP INDEX {i}" for i in ("events_asked", "events_decided", "events_resumed"))),
    7: ("ALTER TABLE sessions DROP COLUMN heartbeat",),
    8: ("DROP INDEX sessions_unindexed", "DROP TRIGGER search_documents", "ALTER TABLE sessions DROP COLUMN indexed_seq"),
}
"""What each schema step since 3 added (`sessions.migrations`), undone newest first."""


def downgrade(path: Path, version: int) -> None:
    """Leave the SQLite file at `path` as a huddle of schema `version` (3 or later) left it."""
    with connect(path) as raw:
        for step in sorted(UNDO_STEPS, reverse=True):
            if step > version:
                for statement in UNDO_STEPS[step]:
                    raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {version}")


def writer_setup(monkeypatch: Any, setup: Callable[[Path], list[str]]) -> None:
    """Make the recorder's writer process (started at its first batch) run `setup(path)`'s
    statements on its connection to the SQLite file at `path` as it opens it."""
    start = BatchWriter._start

    def started(writer: BatchWriter, loop: Any) -> None:
        writer.setup = setup(writer._path)
        start(writer, loop)

    monkeypatch.setattr(BatchWriter, "_start", started)


def nearly_full(monkeypatch: Any, spare_pages: int) -> None:
    """Let the recorder's connection to a SQLite file (made at its first batch) grow the file
    by only `spare_pages` more pages: a later big write gets SQLITE_FULL, as on a full disk."""

    def limited(path: Path) -> list[str]:
        with connect(path) as raw:
            pages = raw.execute("PRAGMA page_count").fetchone()[0]
        return [f"PRAGMA max_page_count = {pages + spare_pages}"]

    writer_setup(monkeypatch, limited)


async def fill_disk(store: SessionStore, monkeypatch: Any, spare_pages: int) -> None:
    """`nearly_full` for a store that has recorded already: its recorder's connection is
    made again, and limited, at the next batch."""
    await store._writer.close()
    nearly_full(monkeypatch, spare_pages)


async def pg_connect(dsn: str) -> Any:
    """A plain asyncpg connection to the PostgreSQL database `dsn`, as another program's,
    with huddle's tables (the `huddle` schema) in reach; close it after use."""
    import asyncpg

    from sessions.pg_schema import SCHEMA

    return await asyncpg.connect(dsn, server_settings={"search_path": SCHEMA})


async def raw(store: Any, sql: str, *rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` (`?` marks its parameters) outside `store`, as another program would,
    once per row of parameters (once without any when none are given), each run its own
    transaction; the rows the last run returned. Works on either backend: the SQLite
    file, or the PostgreSQL database (its tables in the `huddle` schema)."""
    runs = rows or ((),)
    if isinstance(store, SessionStore):
        with connect(store.path) as db:
            found: list[Any] = []
            for parameters in runs:
                found = db.execute(sql, tuple(parameters)).fetchall()
            return [tuple(row) for row in found]
    marks = itertools.count(1)
    sql = re.sub(r"\?", lambda _: f"${next(marks)}", sql)
    db = await pg_connect(store.path)
    try:
        for parameters in runs:
            found = await db.fetch(sql, *parameters)
        return [tuple(row) for row in found]
    finally:
        await db.close()


async def search_documents(store: Any, session_id: str | None = None) -> int:
    """How many search documents the store holds (of one session, or of all), once those
    it is writing are written."""
    await store._documents_written()
    if session_id is None:
        return (await raw(store, "SELECT count(*) FROM search"))[0][0]
    of_session = (  # SQLite's documents are a rowid range per session (`search.document_range`)
        "rowid >> 32 = (SELECT key FROM sessions WHERE id = ?)" if isinstance(store, SessionStore) else "session_id = ?"
    )
    return (await raw(store, f"SELECT count(*) FROM search WHERE {of_session}", (session_id,)))[0][0]


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection (each statement its own transaction), as another
    program would open the file; closed when the block ends."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    """The file's bytes, its modification time and what is beside it."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


@contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as an ordinary user. Root ignores permission bits, so a test of
    'no write permission' run as root drops its effective uid to nobody for the
    block (the real uid stays 0, which lets it come back)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait, looking every 10 ms, until `check()` is true."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)

"""The database schema, as numbered upgrade steps.

A new database is built by running every step from 1; an older one runs the
steps it lacks. All pending steps run in one transaction together with the
new `PRAGMA user_version`, so an upgrade either happens whole or not at all.
A database whose version is higher than `SCHEMA_VERSION` was written by a
newer huddle and is refused before anything is written (see `store.py`).

Never edit a step that has shipped: add a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions import decisions

APPLICATION_ID = 0x48554444
"""`PRAGMA application_id`: "HUDD", marks the file as huddle's."""

_DOCUMENT = """CASE e.kind WHEN 'session.started' THEN json_extract(e.data, '$.task')
                            WHEN 'call.finished' THEN json_extract(e.data, '$.text')
                            ELSE json_extract(e.data, '$.result') END"""
"""An event's search document (migration 8's trigger): its task, reply or result."""
SEARCH_ROWID_SHIFT = 32
"""A search document's rowid is `(session key << 32) | seq` of the event it came from,
so a session's documents are one rowid range: found, and deleted, without a scan."""


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "sessions, one row each, and their events, stored whole",
        (
            """
            CREATE TABLE sessions (
                key         INTEGER PRIMARY KEY,
                id          TEXT NOT NULL UNIQUE,
                created_at  REAL NOT NULL,
                updated_at  REAL NOT NULL,
                task        TEXT NOT NULL,
                title       TEXT NOT NULL,
                pattern     TEXT NOT NULL,
                team        TEXT NOT NULL,
                agents      TEXT NOT NULL,           -- JSON array of agent names
                provider    TEXT NOT NULL,
                models      TEXT NOT NULL,           -- JSON array of model names
                seed        INTEGER,
                status      TEXT NOT NULL,           -- running, waiting, completed, failed, stopped, cancelled, interrupted
                tokens_in   INTEGER NOT NULL DEFAULT 0,
                tokens_out  INTEGER NOT NULL DEFAULT 0,
                cost        REAL NOT NULL DEFAULT 0,
                calls       INTEGER NOT NULL DEFAULT 0,
                turns       INTEGER NOT NULL DEFAULT 0,
                duration_s  REAL NOT NULL DEFAULT 0,
                result      TEXT,
                reason      TEXT,
                partial     INTEGER NOT NULL DEFAULT 0,
                pid         INTEGER,                 -- the recording process, to tell a dead one
                host        TEXT,                    -- ... on this machine from a live one elsewhere
                last_seq    INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX sessions_by_time ON sessions (created_at)",
            "CREATE INDEX sessions_by_status ON sessions (status, created_at)",
            """
            CREATE TABLE events (
                session_id  TEXT NOT NULL,
                seq         INTEGER NOT NULL,
                ts          REAL NOT NULL,
                kind        TEXT NOT NULL,
                agent       TEXT,
                data        TEXT NOT NULL,           -- the event as JSON, whole: it is the replay
                PRIMARY KEY (session_id, seq)
            )
            """,
        ),
    ),
    Migration(
        2,
        "full-text search over tasks, agent replies and results",
        (
            "CREATE VIRTUAL TABLE search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')",
            f"""
            INSERT INTO search (rowid, body)
            SELECT (s.key << {SEARCH_ROWID_SHIFT}) | e.seq,
                   CASE e.kind
                       WHEN 'session.started' THEN json_extract(e.data, '$.task')
                       WHEN 'call.finished' THEN json_extract(e.data, '$.text')
                       ELSE json_extract(e.data, '$.result')
                   END
            FROM events AS e JOIN sessions AS s ON s.id = e.session_id
            WHERE e.kind IN ('session.started', 'call.finished', 'session.finished')
            """,
        ),
    ),
    Migration(
        3,
        "how many steps of a finished session failed or were skipped (0 for sessions recorded before)",
        (
            "ALTER TABLE sessions ADD COLUMN failed_steps INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE sessions ADD COLUMN skipped_steps INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        4,
        "how many calls had no price, their cost unknown and not in `cost` (0 for sessions recorded before)",
        ("ALTER TABLE sessions ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0",),
    ),
    Migration(
        5,
        "lineage: the session a fork came from and the seq it was forked at, and how often a session was resumed",
        (
            "ALTER TABLE sessions ADD COLUMN parent_id TEXT",
            "ALTER TABLE sessions ADD COLUMN forked_at INTEGER",
            "ALTER TABLE sessions ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0",
            """
            UPDATE sessions SET resumes = (
                SELECT count(*) FROM events AS e WHERE e.session_id = sessions.id AND e.kind = 'session.resumed'
            )
            """,
            "CREATE INDEX sessions_by_parent ON sessions (parent_id)",
        ),
    ),
    Migration(
        6,
        "decisions taken away from a session's process (the inbox, an attached screen), on their way to it, "
        "and what finds the escalations waiting for them without reading every event",
        (
            *decisions.CREATE,
            # Partial: only the rare rows of these kinds are indexed, so recording stays as fast.
            "CREATE INDEX events_asked ON events (session_id, seq) WHERE kind = 'escalation.requested'",
            "CREATE INDEX events_decided ON events (session_id, seq) WHERE kind = 'escalation.resolved'",
            "CREATE INDEX events_resumed ON events (session_id, seq) WHERE kind = 'session.resumed'",
        ),
    ),
    Migration(
        7,
        "a heartbeat the recording process writes, so a session whose process is gone is found on any host",
        (
            "ALTER TABLE sessions ADD COLUMN heartbeat REAL",
            "UPDATE sessions SET heartbeat = updated_at",
        ),
    ),
    Migration(
        8,
        "how far a session's search documents are written (its events are committed first, its documents "
        "just after), so those a process that ended in between did not write are written from its events",
        (
            "ALTER TABLE sessions ADD COLUMN indexed_seq INTEGER NOT NULL DEFAULT 0",
            "UPDATE sessions SET indexed_seq = last_seq",
            "CREATE INDEX sessions_unindexed ON sessions (key) WHERE indexed_seq < last_seq",
            # Moving indexed_seq on writes the documents of the events it passes, in one statement.
            f"""
            CREATE TRIGGER search_documents AFTER UPDATE OF indexed_seq ON sessions
            WHEN new.indexed_seq > old.indexed_seq
            BEGIN
                INSERT INTO search (rowid, body)
                SELECT (new.key << {SEARCH_ROWID_SHIFT}) | e.seq, {_DOCUMENT}
                FROM events AS e
                WHERE e.session_id = new.id AND e.seq > old.indexed_seq AND e.seq <= new.indexed_seq
                  AND e.kind IN ('session.started', 'call.finished', 'session.finished')
                  AND coalesce({_DOCUMENT}, '') != '';
            END
            """,
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def pending(current: int) -> tuple[Migration, ...]:
    """The steps a database at version `current` still needs, in order."""
    return tuple(step for step in MIGRATIONS if step.version > current)

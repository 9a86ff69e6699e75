"""The PostgreSQL schema, as numbered upgrade steps (the SQLite one is `sessions.migrations`).

Every table lives in a schema of its own, `huddle`, so a database another program
also uses keeps its tables apart from ours. `huddle.schema_version` holds the
version in its one row. A new database is built by running every step from 1; an
older one runs the steps it lacks. All pending steps run in one transaction, under
an advisory lock, together with the new version, so an upgrade happens whole or not
at all and two huddles upgrading at once take turns. A database whose version is
higher than `SCHEMA_VERSION` was written by a newer huddle and is refused before
anything is written (see `pg_store.py`).

Never edit a step that has shipped: add a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions.migrations import APPLICATION_ID, Migration

SCHEMA = "huddle"
"""The PostgreSQL schema (namespace) holding every huddle table."""
MIGRATION_LOCK = APPLICATION_ID
"""The advisory lock key two huddles upgrading the same database take turns on."""
SEARCH_CONFIG = "simple"
"""The text search configuration: lower-cased words, no stemming and no stop words,
like SQLite's unicode61 tokenizer (so "did it" and word prefixes are found)."""

VERSION_TABLE = f"""
    CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (
        version integer NOT NULL
    )
"""
"""Made before the steps run (it holds how many of them have)."""


@dataclass(frozen=True)
class PgMigration(Migration):
    """A step that may also make every search document again from the events, after its
    statements: what SQL alone cannot do, as the text is folded in Python (`sessions.pg_search`)."""

    reindex: bool = False


PG_MIGRATIONS: tuple[PgMigration, ...] = (
    PgMigration(
        1,
        "sessions, their events stored whole, full-text search, and decisions on their way to a session",
        (
            """
            CREATE TABLE sessions (
                key           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id            text COLLATE "C" NOT NULL UNIQUE,  -- byte order, as SQLite: prefixes sort together
                created_at    double precision NOT NULL,
                updated_at    double precision NOT NULL,
                task          text NOT NULL,
                title         text NOT NULL,
                pattern       text NOT NULL,
                team          text NOT NULL,
                agents        text NOT NULL,         -- JSON array of agent names
                provider      text NOT NULL,
                models        text NOT NULL,         -- JSON array of model names
                seed          bigint,
                status        text NOT NULL,         -- running, waiting, completed, failed, stopped, cancelled, interrupted
                tokens_in     bigint NOT NULL DEFAULT 0,
                tokens_out    bigint NOT NULL DEFAULT 0,
                cost          double precision NOT NULL DEFAULT 0,
                calls         bigint NOT NULL DEFAULT 0,
                turns         bigint NOT NULL DEFAULT 0,
                duration_s    double precision NOT NULL DEFAULT 0,
                result        text,
                reason        text,
                partial       integer NOT NULL DEFAULT 0,
                pid           integer,               -- the recording process
                host          text,                  -- ... and the machine it runs on
                last_seq      bigint NOT NULL DEFAULT 0,
                failed_steps  integer NOT NULL DEFAULT 0,
                skipped_steps integer NOT NULL DEFAULT 0,
                unpriced      integer NOT NULL DEFAULT 0,
                parent_id     text,
                forked_at     bigint,
                resumes       integer NOT NULL DEFAULT 0,
                heartbeat     double precision       -- when the recording process last said it was alive
            )
            """,
            "CREATE INDEX sessions_by_time ON sessions (created_at)",
            "CREATE INDEX sessions_by_status ON sessions (status, created_at)",
            "CREATE INDEX sessions_by_parent ON sessions (parent_id)",
            """
            CREATE TABLE events (
                session_id  text NOT NULL,
                seq         bigint NOT NULL,
                ts          double precision NOT NULL,
                kind        text NOT NULL,
                agent       text,
                data        text NOT NULL,           -- the event as JSON text, whole and as written: it is the replay
                PRIMARY KEY (session_id, seq)
            )
            """,
            # Partial: only the rare rows of these kinds are indexed, so recording stays as fast.
            "CREATE INDEX events_asked ON events (session_id, seq) WHERE kind = 'escalation.requested'",
            "CREATE INDEX events_decided ON events (session_id, seq) WHERE kind = 'escalation.resolved'",
            "CREATE INDEX events_resumed ON events (session_id, seq) WHERE kind = 'session.resumed'",
            """
            CREATE TABLE search (
                session_id  text NOT NULL,
                seq         bigint NOT NULL,         -- the event the text came from
                document    tsvector NOT NULL,
                PRIMARY KEY (session_id, seq)
            )
            """,
            "CREATE INDEX search_documents ON search USING gin (document)",
            """
            CREATE TABLE decisions (
                session_id    text NOT NULL,
                escalation_id text NOT NULL,
                action        text NOT NULL,           -- approve, reject, edit
                option        text,                    -- the named choice taken
                reason        text,
                edited        text,                    -- the edited payload, as JSON
                scope         text NOT NULL DEFAULT 'once',
                decided_by    text NOT NULL,           -- user@host, and from where
                decided_at    double precision NOT NULL,
                outcome       text,                    -- NULL until the session picks it up: 'taken', or why not
                settled_at    double precision,
                PRIMARY KEY (session_id, escalation_id)
            )
            """,
            "CREATE INDEX decisions_unsettled ON decisions (session_id) WHERE outcome IS NULL",
        ),
    ),
    PgMigration(
        2,
        "search documents folded as SQLite folds them (accents of Latin letters and case ignored, whatever "
        "the server's locale), and cut to what a tsvector holds: every document is made again from its event",
        ("DELETE FROM search",),
        reindex=True,
    ),
    PgMigration(
        3,
        "how far a session's search documents are written (its events are committed first, its documents "
        "just after, on a connection of their own), so those a process that ended in between did not write "
        "are written from its events",
        (
            "ALTER TABLE sessions ADD COLUMN indexed_seq bigint NOT NULL DEFAULT 0",
            "UPDATE sessions SET indexed_seq = last_seq",
            "CREATE INDEX sessions_unindexed ON sessions (key) WHERE indexed_seq < last_seq",
        ),
    ),
)

SCHEMA_VERSION = PG_MIGRATIONS[-1].version


def pending(current: int) -> tuple[PgMigration, ...]:
    """The steps a database at version `current` still needs, in order."""
    return tuple(step for step in PG_MIGRATIONS if step.version > current)

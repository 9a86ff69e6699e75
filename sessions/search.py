"""Full-text search: what the user types, as an FTS5 query over tasks, replies and results."""

from __future__ import annotations

from sessions.migrations import SEARCH_ROWID_SHIFT

SESSION_KEYS_MATCHING = f"SELECT rowid >> {SEARCH_ROWID_SHIFT} FROM search WHERE search MATCH ?"
"""The session keys with a document matching the query parameter."""
SEARCHED: dict[str, str] = {"session.started": "task", "call.finished": "text", "session.finished": "result"}
"""The kinds whose text the search index holds, and the field holding it (on SQLite, the
trigger of migration 8 writes the same documents from the stored events)."""
UNINDEXED = "s.indexed_seq < s.last_seq AND s.status NOT IN ('running', 'waiting')"
"""Sessions (`s`) no longer recorded whose last search documents were not written: their
process ended, or failed to write them, after it committed their events (`batch_writer`)."""
INDEX_AGAIN = f"UPDATE sessions AS s SET indexed_seq = last_seq WHERE {UNINDEXED}"
"""Write the search documents those sessions lack (migration 8's trigger, from their events)."""


def match_query(text: str) -> str | None:
    """An FTS5 query for `text`: every word must appear, each as a prefix ("limit"
    finds "limiter"). Words are quoted, so FTS5 operators and punctuation typed by
    the user are searched for, never interpreted. None when there is nothing to search."""
    words = text.split()
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def document_range(key: int) -> tuple[int, int]:
    """The first and last rowid a session's search documents can have."""
    low = key << SEARCH_ROWID_SHIFT
    return low, low | ((1 << SEARCH_ROWID_SHIFT) - 1)

"""Full-text search: what the user types, as an FTS5 query over tasks, replies and results."""

from __future__ import annotations

from sessions.migrations import SEARCH_ROWID_SHIFT

SESSION_KEYS_MATCHING = f"SELECT rowid >> {SEARCH_ROWID_SHIFT} FROM search WHERE search MATCH ?"
"""The session keys with a document matching the query parameter."""


def match_query(text: str) -> str | None:
    """An FTS5 query for `text`: every word must appear, each as a prefix ("limit"
    finds "limiter"). Words are quoted, so FTS5 operators and punctuation typed by
    the user are searched for, never interpreted. None when there is nothing to search."""
    words = text.split()
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def document_rowid(key: int, seq: int) -> int:
    """The rowid of the search document made from event `seq` of the session with row `key`."""
    return (key << SEARCH_ROWID_SHIFT) | seq


def document_range(key: int) -> tuple[int, int]:
    """The first and last rowid a session's search documents can have."""
    low = key << SEARCH_ROWID_SHIFT
    return low, low | ((1 << SEARCH_ROWID_SHIFT) - 1)

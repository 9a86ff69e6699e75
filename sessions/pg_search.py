"""What text becomes before PostgreSQL's text search sees it: accents and case folded as
SQLite's search folds them, and a document cut to what a `tsvector` can hold.

SQLite's index (FTS5, `unicode61 remove_diacritics 2`) ignores the accents of Latin
letters and folds case itself. PostgreSQL's `unaccent` is an extension a managed server
may not allow, and its `lower` leaves every non-ASCII letter alone in a database whose
locale is C. So huddle folds in Python, the same function on both sides: the text whose
`tsvector` is stored and the words searched for. The events keep the text as written;
only the index holds the folded words.

A `tsvector` holds at most 1 MB (its words, and a position for each time one occurs):
a longer one makes the write fail, and with it the recorder's whole batch. PostgreSQL
also leaves out of the index, unsaid, any word longer than 2 KB. `document` cuts every
document to fit (see there), so a reply of any length is recorded.
"""

from __future__ import annotations

import re
import unicodedata

DOCUMENT_BYTES = 128 * 1024
"""The most UTF-8 bytes of a document PostgreSQL indexes. Its `tsvector` is at most about
seven times as large (each word, each part of a hyphenated word or address PostgreSQL
also indexes, and their positions), so it stays under the 1 MB a `tsvector` holds."""
WORD_CHARS = 500
"""The longest run of text without a space that is indexed whole: a longer one (a base64
blob, a minified line) is indexed by its first `WORD_CHARS` characters. At most 2,000 bytes
in UTF-8, within the 2,047 PostgreSQL indexes of a word."""

_LATIN_ACCENTS = re.compile("(?<=[A-Za-z\u00c0-\u024f\u1e00-\u1eff])[\u0300-\u036f]+")
"""Combining accents (U+0300 to U+036F) on a Latin letter: what SQLite's `remove_diacritics 2`
takes away. Accents on other letters stay (a Greek tonos, the breve of a Cyrillic й), as there."""
_LONG_WORD = re.compile(rf"\S{{{WORD_CHARS + 1}}}")
"""Found in text that has a word longer than `WORD_CHARS`."""


def fold(text: str) -> str:
    """`text` as the index sees it: lower case, and Latin letters without their accents
    ("RÉSUMÉ" is "resume"; ł, ø and ß are letters of their own and stay, as in SQLite), the
    rest as it was (in NFC)."""
    if text.isascii():
        return text.lower()
    bare = _LATIN_ACCENTS.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", bare.lower())


def document(text: str) -> str:
    """The text PostgreSQL indexes for a search document: `text` folded, and, when it would
    not fit, cut to fit.

    A run of text without a space longer than `WORD_CHARS` is cut to its first
    `WORD_CHARS` characters (a search for its start still finds it). A document longer
    than `DOCUMENT_BYTES` is indexed by its distinct words, in the order they first
    appear, up to `DOCUMENT_BYTES` of them: a long reply is found by any word of its
    first part, and by the words further on as long as they are not too many, since each
    word counts once however often it is repeated. A word first seen past that point is
    not found in it (SQLite's search, which has no such limit, finds it).
    """
    folded = fold(text)
    if len(folded.encode()) <= DOCUMENT_BYTES and _LONG_WORD.search(folded) is None:
        return folded
    kept: list[str] = []
    size = 0
    for word in dict.fromkeys(word[:WORD_CHARS] for word in folded.split()):
        size += len(word.encode()) + 1
        if size > DOCUMENT_BYTES:
            break
        kept.append(word)
    return " ".join(kept)

"""What only PostgreSQL's search needs: text folded in Python, documents cut to what a
`tsvector` holds, and the upgrade that makes the documents of an older database again."""

from __future__ import annotations

import pytest

from sessions import pg_indexer, pg_schema, pg_store
from sessions.pg_search import DOCUMENT_BYTES, WORD_CHARS, document, fold
from sessions.pg_store import PgSessionStore
from tests.sessions.helpers import raw, record, search_documents
from tests.sessions.pg_server import PgServer
from tests.sessions.test_search_text import distinct_words, replying


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Rate LIMIT", "rate limit"),
        ("RÉSUMÉ naïve Dvořák", "resume naive dvorak"),
        ("cafe\u0301", "cafe"),  # decomposed, as macOS writes it
        ("Łódź Ærø straße İstanbul", "łodz ærø straße istanbul"),  # letters of their own stay, as in SQLite
        ("ΩΜΈΓΑ Йод 한국어", "ωμέγα йод 한국어"),  # accents of other scripts stay; Hangul stays composed
    ],
)
def test_fold_lowers_case_and_takes_accents_off_latin_letters(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_a_document_that_fits_is_only_folded() -> None:
    text = "Ask O'Brien about the RATE-limiter: 50% & more " * 100
    assert document(text) == fold(text)


def test_a_long_document_keeps_its_distinct_words_in_order_up_to_the_limit() -> None:
    words = distinct_words(100_000, seed=3)
    kept = document("Opening " + " ".join(words) + " closing").split()
    assert kept[:3] == ["opening", *words[:2]]
    assert sum(len(word.encode()) + 1 for word in kept) - 1 <= DOCUMENT_BYTES
    assert len(kept) > 10_000 and "closing" not in kept  # the start, as much as fits

    repeated = document(("alpha beta " * 200_000) + "omega")  # 2 MB of three words: all of them
    assert repeated == "alpha beta omega"


def test_a_long_word_is_cut_to_its_start() -> None:
    blob = "QUJD" * 25_000
    assert document(f"see {blob} end") == f"see {blob[:WORD_CHARS].lower()} end"
    assert document("é" * 3000) == "e" * WORD_CHARS


async def test_the_worst_documents_fit_a_tsvector(pg_dsn: str) -> None:
    """Text made to give PostgreSQL's parser the most words and positions per byte."""
    worst = {
        "one-letter words": " ".join("abcdefghijklmnopqrstuvwxyz"[i % 26] for i in range(400_000)),
        "hyphenated": " ".join(f"a{i}-b{i}-c{i}" for i in range(200_000)),
        "addresses": " ".join(f"http://h{i}.io/p{i}/q x{i}@m{i}.io" for i in range(100_000)),
        "numbers": " ".join(f"{i}.{i}e-{i % 9}" for i in range(300_000)),
        "non-latin": " ".join(f"ж{i}ы 字{i}" for i in range(200_000)),
        "one word": "x" * 3_000_000,
    }
    async with await PgSessionStore.open(pg_dsn) as store:
        for name, text in worst.items():
            body = document(text)
            size = (await raw(store, "SELECT pg_column_size(to_tsvector('simple', ?))", (body,)))[0][0]
            assert 0 < size < 1_048_575, name


async def _nothing(*_: object) -> None:
    pass


async def test_an_older_database_is_upgraded_and_its_documents_made_again(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    name = await pg_server.new_database(empty=True)
    dsn = pg_server.dsn(name)
    try:
        with monkeypatch.context() as version_1:  # the huddle of schema version 1: documents as written, unfolded
            version_1.setattr(pg_schema, "PG_MIGRATIONS", pg_schema.PG_MIGRATIONS[:1])
            version_1.setattr(pg_store, "SCHEMA_VERSION", 1)
            version_1.setattr(pg_store, "document", lambda text: text)
            # ... and no `indexed_seq` yet: its documents were written, whatever went before
            version_1.setattr(pg_indexer, "INSERT_DOCUMENTS",
                              pg_indexer.INSERT_DOCUMENTS.replace("indexed_seq = $2", "$2::bigint IS NOT NULL"))
            version_1.setattr(pg_indexer, "MOVE_ON", "UPDATE sessions SET id = id WHERE id = $1 AND $2::bigint < $3::bigint")
            version_1.setattr(PgSessionStore, "_index_again", _nothing)
            async with await PgSessionStore.open(dsn) as old:
                cv = await record(old, replying("Attached: my RÉSUMÉ"), task="Review a CV")
                plain = await record(old, task="Design a rate limiter")
                documents = await search_documents(old)
                assert await raw(old, "SELECT version FROM schema_version") == [(1,)]
                assert [r.id for r in await old.list_sessions(search="RÉSUMÉ")] == []  # not found before
                await raw(old, "INSERT INTO events VALUES (?, 999, 0, 'call.finished', 'x', '{damaged')",
                          (plain.finished.session_id,))

        monkeypatch.setattr(pg_store, "REINDEX_PAGE", 2)  # made again a few at a time, as a large database is
        async with await PgSessionStore.open(dsn) as store:
            assert store.schema_found == 1
            assert await raw(store, "SELECT version FROM schema_version") == [(pg_schema.SCHEMA_VERSION,)]
            assert await search_documents(store) == documents  # every one made again; the damaged event has none
            cv_id = cv.finished.session_id
            for words in ("resume", "RESUME", "résumé", "review cv"):
                assert [r.id for r in await store.list_sessions(search=words)] == [cv_id], words
            assert [r.id for r in await store.list_sessions(search="RATE limiter")] == [plain.finished.session_id]
    finally:
        await pg_server.drop_database(name)

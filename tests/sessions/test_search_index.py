"""A SQLite session's search documents are written just after its events are committed, off
the path the recorder waits on; those a process did not get to write are written from the
events when the database is next opened, and a search in the recording process always
finds what it recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.providers.simulated import SimulatedProvider
from sessions.listing import quick_listing
from sessions.store import SessionStore
from tests.sessions.helpers import connect, record, writer_setup

pytestmark = pytest.mark.sqlite_only  # PostgreSQL writes a batch's documents with its events

TASK = "Plan the quarterly fjord survey"
NO_DOCUMENTS = """
    CREATE TEMP TRIGGER no_documents BEFORE UPDATE OF indexed_seq ON main.sessions WHEN {when}
    BEGIN SELECT RAISE(ABORT, 'documents not written'); END
"""
"""Run by the writer process as it connects: its search documents fail `when` that holds."""


def documents(path: Path) -> int:
    with connect(path) as raw:
        return raw.execute("SELECT count(*) FROM search").fetchone()[0]


def indexed(path: Path) -> list[tuple[int, int]]:
    with connect(path) as raw:
        return raw.execute("SELECT indexed_seq, last_seq FROM sessions").fetchall()


async def test_a_search_in_the_recording_process_finds_what_it_just_recorded(db_path: Path) -> None:
    async with await SessionStore.open(db_path) as store:
        for count, word in enumerate(("Quokka", "Narwhal", "Axolotl"), start=1):
            ran = await record(store, SimulatedProvider(seed=count, speed=0), task=f"{TASK} with {word}")
            [found] = await store.list_sessions(search=f"fjord {word}")  # at once, no waiting
            assert found.id == ran.finished.session_id
            assert await store.count_sessions(search="fjord") == count
    assert all(done == last for done, last in indexed(db_path))


async def test_documents_a_process_did_not_write_are_written_when_the_database_is_next_opened(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await SessionStore.open(db_path) as store:
        earlier = await record(store, task="An earlier session about glaciers")
    with monkeypatch.context() as ended:  # as if the process ended after each commit of events
        writer_setup(ended, lambda _: [NO_DOCUMENTS.format(when="1")])
        async with await SessionStore.open(db_path) as store:
            ran = await record(store, task=TASK)
    [(behind, last)] = [row for row in indexed(db_path) if row[0] != row[1]]
    assert behind == 0 and last == len(ran.events)
    before = documents(db_path)
    assert quick_listing(db_path, limit=5) is None  # listing leaves it to the store, which writes them

    async with await SessionStore.open(db_path) as store:
        [found] = await store.list_sessions(search="fjord survey")
        assert found.id == ran.finished.session_id
        [other] = await store.list_sessions(search="glaciers")
        assert other.id == earlier.finished.session_id
    assert all(done == last for done, last in indexed(db_path))
    written = documents(db_path) - before
    assert written == sum(e.kind in ("session.started", "call.finished", "session.finished") for e in ran.events)
    assert quick_listing(db_path, limit=5) is not None


async def test_a_batch_whose_documents_failed_leaves_the_later_ones_to_the_next_open(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first batch's documents are lost; the later ones wait behind them.
    writer_setup(monkeypatch, lambda _: [NO_DOCUMENTS.format(when="old.indexed_seq = 0")])
    async with await SessionStore.open(db_path) as store:
        ran = await record(store, SimulatedProvider(seed=1, speed=20), task=TASK, recorder_options={"interval": 0.01})
        assert ran.recorder.batches > 1
    assert indexed(db_path) == [(0, len(ran.events))]
    monkeypatch.undo()

    async with await SessionStore.open(db_path) as store:  # every document once: none was written twice
        assert (await store.list_sessions(search="fjord"))[0].id == ran.finished.session_id
    assert documents(db_path) == sum(
        e.kind in ("session.started", "call.finished", "session.finished") for e in ran.events
    )

"""Search finds the same sessions on either store: accents and case ignored, and replies too
long for PostgreSQL's text search (a 3 MB reply, a 100 KB word) recorded whole and found by
the words they start with."""

from __future__ import annotations

import random
import string

from engine.events import CallFinished
from sessions.store import SessionStore
from tests.helpers import ScriptedProvider, orchestrated, plan_of
from tests.sessions.helpers import record

PLAN = plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))


def replying(researcher: str, coder: str = "coder did it") -> ScriptedProvider:
    """The researcher and the coder answer with these; the lead's synthesis is the result."""
    replies = {"researcher": researcher, "coder": coder}
    return ScriptedProvider(orchestrated(PLAN, answer=lambda r: replies.get(r.agent, f"{r.agent} did it")))


def distinct_words(count: int, seed: int) -> list[str]:
    """`count` made-up words, almost all different: the worst text for an index's size."""
    chosen = random.Random(seed)
    return ["".join(chosen.choices(string.ascii_lowercase, k=chosen.randint(4, 10))) for _ in range(count)]


async def searched(store: SessionStore, words: str) -> set[str]:
    return {row.id for row in await store.list_sessions(search=words)}


async def test_accents_and_case_are_ignored_on_both_sides(store: SessionStore) -> None:
    cv = await record(store, replying("Attached: my Résumé, a naïve draft from Łódź, Dvořák playing"),
                      task="Review a CV")
    plain = await record(store, task="Write a RESUME parser")
    decomposed = await record(store, replying("cafe\u0301 au lait"), task="Order coffee")  # é as e + U+0301
    greek = await record(store, replying("Ωμέγα and Привет"), task="Translate")
    cv_id, plain_id = cv.finished.session_id, plain.finished.session_id

    for words in ("resume", "RESUME", "résumé", "RÉSUMÉ", "Resu"):
        assert await searched(store, words) == {cv_id, plain_id}, words
    for words in ("naive", "NAÏVE", "łodz draft", "ŁÓDŹ", "dvorak", "DVOŘÁK"):
        assert await searched(store, words) == {cv_id}, words
    for words in ("cafe", "café", "CAFÉ"):
        assert await searched(store, words) == {decomposed.finished.session_id}, words
    for words in ("ΩΜΈΓΑ", "ωμέγα", "привет", "ПРИВЕТ"):  # case folded in every script, whatever the server's locale
        assert await searched(store, words) == {greek.finished.session_id}, words
    assert await searched(store, "resume łódź") == {cv_id}
    assert await searched(store, "resumes") == set()

    stored = [e for e in await store.load_events(cv_id, limit=10_000) if isinstance(e, CallFinished)]
    assert any("my Résumé, a naïve draft from Łódź" in e.text for e in stored)  # the text as written, not as folded


async def test_a_long_reply_and_a_long_word_are_recorded_and_found_by_their_start(store: SessionStore) -> None:
    long_reply = "zeppelinfirst " + " ".join(distinct_words(400_000, seed=7))
    assert len(long_reply) > 3_000_000
    blob = "".join(random.Random(8).choices(string.ascii_letters + string.digits, k=100_000))  # one unbroken word
    ran = await record(store, replying(long_reply, f"payload {blob} kayakend"), task="Summarise the archive")
    session_id = ran.finished.session_id

    row = await store.get_session(session_id)
    assert row.status == "completed" and row.last_seq == ran.finished.seq  # every batch recorded
    texts = {e.agent: e.text for e in await store.load_events(session_id, limit=10_000) if isinstance(e, CallFinished)}
    assert texts["researcher"] == long_reply and texts["coder"] == f"payload {blob} kayakend"  # whole, as written
    for words in ("zeppelinfirst", long_reply.split()[1], "payload", blob[:40], blob[:40].upper(), "kayakend"):
        assert await searched(store, words) == {session_id}, words

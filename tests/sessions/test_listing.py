"""Listing, filtering, searching, ids by prefix and deleting, all from session rows."""

from __future__ import annotations

import sqlite3

import pytest

from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from sessions.errors import AmbiguousId, SessionBusy, SessionNotFound
from sessions.store import SessionStore
from tests.helpers import ScriptedProvider, orchestrated, plan_of
from tests.sessions.helpers import connect, raw, record, search_documents

PLAN = plan_of(("s1", "researcher", []), ("s2", "coder", ["s1"]))


def scripted(words: dict[str, str]) -> ScriptedProvider:
    """Each agent answers with its own line; the lead's synthesis is the result."""
    return ScriptedProvider(orchestrated(PLAN, answer=lambda r: words.get(r.agent, f"{r.agent} did it")))


async def test_rows_hold_what_a_list_needs(store: SessionStore) -> None:
    ran = await record(store, SimulatedProvider(seed=2, speed=0), task="Migrate billing to PostgreSQL")
    finished = ran.finished

    [row] = await store.list_sessions()

    assert row.id == finished.session_id and row.status == "completed"
    assert row.task == "Migrate billing to PostgreSQL" and row.title == "Migrate billing to PostgreSQL"
    assert row.pattern == "orchestrator" and row.team == "orchestrator"
    assert row.agents == ("lead", "researcher", "coder", "reviewer") and row.agent_count == 4
    assert row.provider == "simulated" and row.models == ("claude-opus-5-5", "claude-sonnet-5-5")
    assert (row.tokens_in, row.tokens_out) == (finished.usage.tokens_in, finished.usage.output_tokens)
    assert row.cost == finished.cost and row.calls == finished.calls and row.turns == finished.turns
    assert row.duration_s == finished.duration_s and row.result == finished.result
    assert row.created_at == ran.events[0].ts and row.updated_at == ran.events[-1].ts
    assert row.last_seq == len(ran.events)


async def test_newest_first_with_paging_and_filters(store: SessionStore) -> None:
    done = await record(store, task="first: completed")
    stopped = await record(store, task="second: stopped", policy=ApprovalPolicy(default="reject"))
    failed = await record(store, SimulatedProvider(seed=1, speed=0, faults=parse_faults("overload")), task="third: failed")
    ids = [r.finished.session_id for r in (failed, stopped, done)]

    assert [row.id for row in await store.list_sessions()] == ids
    assert [row.id for row in await store.list_sessions(limit=2)] == ids[:2]
    assert [row.id for row in await store.list_sessions(limit=2, offset=2)] == ids[2:]
    assert [row.status for row in await store.list_sessions()] == ["failed", "stopped", "completed"]
    assert [row.id for row in await store.list_sessions(status="stopped")] == [stopped.finished.session_id]
    assert await store.count_sessions() == 3 and await store.count_sessions(status="failed") == 1
    assert len(await store.list_sessions(pattern="orchestrator")) == 3
    assert await store.list_sessions(pattern="debate") == [] and await store.count_sessions(pattern="debate") == 0


async def test_search_matches_task_agent_output_and_result(store: SessionStore) -> None:
    zeppelin = await record(store, scripted({"researcher": "Airships: the zeppelin fleet of 1936."}), task="Plan a trip")
    kayak = await record(store, scripted({"lead": "Final answer: rent kayaks."}), task="Weekend on the lake")
    billing = await record(store, task="Migrate the billing service to PostgreSQL")

    assert [r.id for r in await store.list_sessions(search="postgresql")] == [billing.finished.session_id]  # task
    assert [r.id for r in await store.list_sessions(search="ZEPPELIN")] == [zeppelin.finished.session_id]  # agent reply
    assert [r.id for r in await store.list_sessions(search="kayaks")] == [kayak.finished.session_id]  # the result
    assert [r.id for r in await store.list_sessions(search="zepp")] == [zeppelin.finished.session_id]  # a prefix
    assert [r.id for r in await store.list_sessions(search="zeppelin lake")] == []  # every word must match
    assert len(await store.list_sessions(search="did it")) == 2  # the two scripted teams
    assert await store.count_sessions(search="zeppelin") == 1
    assert len(await store.list_sessions(search="   ")) == 3  # nothing to search for: no filter
    # What users type is searched for, never run as FTS5 syntax.
    for text in ['"', "zeppelin OR kayaks", "NEAR(a b)", "*", "a:b", "-x", "'; DROP TABLE sessions; --"]:
        await store.list_sessions(search=text)
    assert await store.list_sessions(search="zeppelin OR kayaks") == []


@pytest.mark.sqlite_only  # SQLite's authorizer sees which tables a statement reads
async def test_listing_never_reads_events(store: SessionStore) -> None:
    await record(store, task="Migrate billing to PostgreSQL")
    await record(store, policy=ApprovalPolicy(default="reject"))
    read: set[str] = set()

    def watch(action: int, table: str | None, *_: object) -> int:
        if action == sqlite3.SQLITE_READ and table:
            read.add(table)
        return sqlite3.SQLITE_OK

    await store._db.set_authorizer(watch)
    rows = await store.list_sessions()
    await store.list_sessions(search="billing", status="completed", pattern="orchestrator", limit=5)
    await store.count_sessions(search="billing")
    await store.short_ids([row.id for row in rows])
    await store.get_session(rows[0].id[:6])
    await store._db.set_authorizer(None)

    assert "sessions" in read and "events" not in read
    # And the rows stand alone: with every event gone, the list says the same.
    with connect(store.path) as raw:
        raw.execute("DELETE FROM events")
    assert await store.list_sessions() == rows


async def test_ids_resolve_by_unique_prefix(store: SessionStore) -> None:
    for session_id in ("abc111111111", "abc222222222", "abd333333333", "abd3333333339"):
        await record(store, session_id=session_id)

    assert (await store.get_session("abc1")).id == "abc111111111"
    assert (await store.get_session(" abc2 ")).id == "abc222222222"
    assert (await store.get_session("abd333333333")).id == "abd333333333"  # exact, though a longer id shares it
    with pytest.raises(AmbiguousId) as ambiguous:
        await store.get_session("abc")
    assert "abc111111111" in str(ambiguous.value) and "abc222222222" in str(ambiguous.value)
    with pytest.raises(AmbiguousId):
        await store.get_session("abd3")
    for missing in ("zzz", "abc3", ""):
        with pytest.raises(SessionNotFound) as error:
            await store.get_session(missing)
        assert "huddle sessions list" in str(error.value) and "\n" not in str(error.value)


async def test_short_ids_are_unique_prefixes(store: SessionStore) -> None:
    for session_id in ("abc11111111x", "abc11111111y", "f00000000000"):
        await record(store, session_id=session_id)

    short = await store.short_ids(["abc11111111x", "abc11111111y", "f00000000000"])

    assert short == {"abc11111111x": "abc11111111x", "abc11111111y": "abc11111111y", "f00000000000": "f0000000"}
    for session_id, prefix in short.items():
        assert (await store.get_session(prefix)).id == session_id


async def test_delete_removes_the_session_its_events_and_its_search_documents(store: SessionStore) -> None:
    kept = await record(store, task="Keep the zeppelin notes")
    gone = await record(store, task="Forget the zeppelin notes")
    gone_id = gone.finished.session_id

    deleted = await store.delete_session(gone_id)

    assert deleted.id == gone_id
    assert [row.id for row in await store.list_sessions(search="zeppelin")] == [kept.finished.session_id]
    assert await store.event_count(gone_id) == 0
    assert await store.event_count(kept.finished.session_id) == len(kept.events)
    documents, kept_documents = await search_documents(store), await search_documents(store, kept.finished.session_id)
    assert documents == kept_documents > 0
    with pytest.raises(SessionNotFound):
        await store.delete_session(gone_id)


async def test_a_session_still_being_recorded_cannot_be_deleted(store: SessionStore) -> None:
    ran = await record(store)
    # as if this process were still recording it
    await raw(store, "UPDATE sessions SET status = 'running' WHERE id = ?", (ran.finished.session_id,))

    with pytest.raises(SessionBusy):
        await store.delete_session(ran.finished.session_id)
    assert await store.event_count(ran.finished.session_id) == len(ran.events)


async def _varied_rows(store: SessionStore, count: int) -> None:
    """`count` rows with values that differ and tie, inserted oldest first."""
    import json
    import random

    rng = random.Random(7)
    rows = []
    for i in range(count):
        agents = json.dumps([f"a{n}" for n in range(rng.randint(1, 4))])
        rows.append((f"{i:012x}", 1.7e9 + rng.randint(0, 5) * 60, 1.7e9, f"task {i}",
                     rng.choice(["alpha", "Beta", "gamma", "Delta"]), rng.choice(["review", "mesh", "auction"]),
                     agents, rng.choice(["completed", "failed", "stopped"]), rng.randint(0, 3) * 100,
                     rng.randint(0, 2) * 10, rng.choice([0.0, 0.5, 1.25]), rng.choice([3.0, 42.0])))
    await raw(
        store,
        "INSERT INTO sessions (id, created_at, updated_at, task, title, pattern, team, agents, provider,"
        " models, status, tokens_in, tokens_out, cost, duration_s)"
        " VALUES (?, ?, ?, ?, ?, ?, 'default', ?, 'simulated', '[]', ?, ?, ?, ?, ?)",
        *rows,
    )


@pytest.mark.parametrize("descending", [True, False])
async def test_every_sort_key_orders_rows_and_pages_alike(store: SessionStore, descending: bool) -> None:
    from sessions.store import SORT_KEYS

    await _varied_rows(store, 30)
    recorded = {row.id: index for index, row in enumerate(sorted(await store.list_sessions(limit=100), key=lambda r: r.id))}
    for order_by in SORT_KEYS:
        whole = await store.list_sessions(order_by=order_by, descending=descending, limit=100)

        def value(row, order_by=order_by):
            found = getattr(row, order_by)
            return found.lower() if isinstance(found, str) else found

        # Ties keep the order they were recorded in (in the same direction), so it is one total order.
        expected = sorted(whole, key=lambda row: (value(row), recorded[row.id]), reverse=descending)
        assert [row.id for row in whole] == [row.id for row in expected], order_by
        assert len({value(row) for row in whole}) > 1, order_by  # the rows do differ by it
        paged = [row for offset in range(0, 30, 7)
                 for row in await store.list_sessions(order_by=order_by, descending=descending, limit=7, offset=offset)]
        assert [row.id for row in paged] == [row.id for row in whole], order_by


async def test_only_known_sort_keys_reach_the_query(store: SessionStore) -> None:
    await record(store, task="Migrate billing to PostgreSQL")
    for wanted in ("task", "cost; DROP TABLE sessions", "created_at DESC", ""):
        with pytest.raises(ValueError, match="cannot list sessions by"):
            await store.list_sessions(order_by=wanted)
    assert await store.count_sessions() == 1

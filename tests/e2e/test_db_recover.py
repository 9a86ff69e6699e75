"""`huddle db recover`, through the installed command: the events a huddle that ended left
waiting for a database are written to it, one line saying so; a second run has nothing left
to write; events whose place is taken are kept, one line saying where (exit status 1)."""

from __future__ import annotations

from pathlib import Path

from engine.events import event_to_json
from engine.providers.simulated import SimulatedProvider
from sessions.opening import open_store
from sessions.spool import spool_dir
from tests.e2e.test_sessions_cli import huddle
from tests.helpers import run
from tests.sessions.helpers import raw
from tests.sessions.test_leftovers import as_stored, ended_pid, leave, stored_events


async def test_recover_writes_what_was_left_and_keeps_what_clashes(database: Path | str) -> None:
    first, second = await run(SimulatedProvider(seed=3, speed=0)), await run(SimulatedProvider(seed=4, speed=0))
    async with await open_store(database) as store:
        shown = str(store.path)
        nothing = huddle("db", "recover", "--db", str(database))
        assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, f"huddle: nothing left to write to {shown}\n", "")

        left = spool_dir() / "7-1-0.jsonl"
        await leave(store, first.events, left, pid=ended_pid(), written=3)
        done = huddle("db", "recover", "--db", str(database))
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert done.stdout.startswith(f"huddle: wrote {len(first.events) - 3:,} events of session {first.finished.session_id} to {shown}; ")
        assert done.stdout.count("\n") == 1 and not left.exists()
        assert await stored_events(store, first.finished.session_id) == as_stored(first.events)
        again = huddle("db", "recover", "--db", str(database))
        assert again.stdout == f"huddle: nothing left to write to {shown}\n"

        clashing = spool_dir() / "8-1-0.jsonl"
        session_id = second.finished.session_id
        await leave(store, second.events, clashing, pid=ended_pid(), written=3)
        other = second.events[3].model_copy(update={"ts": second.events[3].ts + 60})
        await raw(store, "INSERT INTO events (session_id, seq, ts, kind, agent, data) VALUES (?, ?, ?, ?, ?, ?)",
                  (session_id, other.seq, other.ts, other.kind, other.agent, event_to_json(other)))
        kept = huddle("db", "recover", "--db", str(database))
        assert (kept.returncode, kept.stdout) == (1, "")
        assert kept.stderr == (
            f"huddle: {len(second.events) - 3:,} events of session {session_id} were not written to {shown}: its "
            "record there has other events in their place (it was resumed without them); they are kept in "
            f"{clashing.with_suffix('.kept')}\n"
        )
        assert clashing.with_suffix(".kept").exists() and not clashing.exists()

"""A recorded session keeps what its live screen showed: the steps that did not get done
(on its row, in the list and the export), and the tokens of attempts that failed."""

from __future__ import annotations

from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from sessions.export import write_markdown
from sessions.store import SessionStore
from tests.sessions.helpers import record
from tui.safe import safe
from tui.sessions_cli import table
from tui.transcript import Transcript

FAULTY = "mid_stream@coder"
"""The coder's replies always break off: its first subtask fails, the ones after it are skipped."""


async def test_the_row_list_transcript_and_export_say_which_steps_did_not_get_done(store: SessionStore) -> None:
    ran = await record(store, SimulatedProvider(seed=3, speed=0, faults=parse_faults(FAULTY)), seed=3)
    finished = ran.finished
    assert finished.status == "completed" and finished.failed_steps == 1 and finished.skipped_steps == 2
    said = "completed with 1 failed and 2 skipped steps"

    row = await store.get_session(finished.session_id)
    assert (row.failed_steps, row.skipped_steps, row.outcome) == (1, 2, said)
    [listed] = await store.list_sessions()
    assert listed.outcome == said
    assert "completed, 3 not done" in table([listed], {})[1]

    lines: list[str] = []
    transcript = Transcript(lines.append)
    async for event in store.iter_events(row.id):
        transcript.feed(safe(event))
    printed = "".join(lines).rstrip("\n").splitlines()
    assert printed[-1] == f"session {said}"  # the last line says it
    assert any(line.startswith(f"══ result ({said})") for line in printed)

    chunks: list[str] = []
    await write_markdown(row, store.iter_events(row.id), chunks.append, gate=safe)
    document = "".join(chunks)
    assert f"| Status | {said} |" in document and f"## Result ({said})" in document


async def test_tokens_of_failed_attempts_are_on_the_row_and_in_the_export(store: SessionStore) -> None:
    ran = await record(store, SimulatedProvider(seed=3, speed=0, faults=parse_faults(FAULTY)), seed=3)
    failed = [e for e in ran.events if e.kind == "call.failed" and e.usage.total]
    assert failed  # a stream that broke off had reported what it read
    finished = ran.finished
    row = await store.get_session(finished.session_id)
    assert (row.tokens_in, row.tokens_out) == (finished.usage.tokens_in, finished.usage.output_tokens)
    calls = [e for e in ran.events if e.kind == "call.finished"]
    assert row.tokens_in == sum(e.usage.tokens_in for e in calls) + sum(e.usage.tokens_in for e in failed)

    chunks: list[str] = []
    await write_markdown(row, store.iter_events(row.id), chunks.append, gate=safe)
    document = "".join(chunks)
    assert "(used " in document and "tokens in / " in document
    coder_in = sum(e.usage.tokens_in for e in calls + failed if e.agent == "coder")
    assert "| coder | " in document and f"| {coder_in:,} |" in document

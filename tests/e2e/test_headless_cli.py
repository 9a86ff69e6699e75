"""The installed `huddle run --headless`, end to end, as a user runs it."""

from __future__ import annotations

import re
import subprocess

from tests.e2e.terminal import Terminal, huddle_command

TASK = "Design a rate limiter for our public REST API"


def huddle(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [huddle_command(), *args], capture_output=True, text=True, timeout=60,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def test_completed_session_prints_plan_steps_result_and_exits_0():
    done = huddle("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "approve", TASK)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "session" in out and "orchestrator" in out and "simulated" in out
    assert "▤ lead plan: 4 steps\n" in out
    assert "▶ researcher s1: Research " in out and "researcher │" in out
    assert "✓ lead approved by policy" in out
    assert "result (completed)" in out
    assert "tokens in" in out and "$" in out
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_rejecting_policy_stops_and_exits_1():
    done = huddle("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "reject", TASK)
    assert done.returncode == 1
    assert "✗ lead rejected by policy" in done.stdout
    assert "stopped: plan rejected" in done.stdout


def test_without_a_terminal_the_default_is_reject():
    done = huddle("run", "--headless", "--speed", "0", TASK)
    assert done.returncode == 1
    assert "policy: default=reject" in done.stdout


def test_a_failing_provider_fails_the_session_with_exit_1():
    done = huddle("run", "--headless", "--speed", "0", "--approve", "approve", "--faults", "overload", TASK)
    assert done.returncode == 1
    assert "result (failed" in done.stdout
    assert "overloaded" in done.stdout


def test_task_from_standard_input():
    done = huddle("run", "--headless", "--speed", "0", "--approve", "approve", "-", stdin="Migrate billing to PostgreSQL\n")
    assert done.returncode == 0
    assert "task: Migrate billing to PostgreSQL" in done.stdout


def test_usage_errors_are_one_line_and_exit_2():
    for args, message in [
        (("run", "--headless", "--pattern", "nope", "x"), "unknown pattern 'nope'"),
        (("run", "--headless", "--faults", "meteor", "x"), "unknown fault 'meteor'"),
        (("run", "--headless", "--max-cost", "-1", "x"), "must be more than zero"),
        (("run", "--headless", "--approve", "maybe", "x"), "invalid choice"),
    ]:
        done = huddle(*args)
        assert done.returncode == 2, args
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stdout == ""


def test_patterns_lists_each_with_a_description():
    done = huddle("patterns")
    assert done.returncode == 0
    assert "orchestrator" in done.stdout and "use when:" in done.stdout


def test_asking_at_the_terminal_approves_on_enter():
    term = Terminal([huddle_command(), "run", "--headless", "--speed", "0", "--seed", "2", TASK])
    try:
        term.expect(r"\[a\] Approve  \[e\] Edit  \[r\] Reject")
        term.send("\r")
        term.expect(r"approved by human")
        term.expect(r"result \(completed\)")
        assert term.wait() == 0
    finally:
        term.close()


def test_rejecting_at_the_terminal_sends_the_reason_back():
    term = Terminal([huddle_command(), "run", "--headless", "--speed", "0", "--seed", "2", TASK])
    try:
        term.expect(r"\[a\] Approve")
        term.send("r\r")
        term.expect(r"reason")
        term.send("add a load test step\r")
        term.expect(r"rejected by human.*add a load test step")
        term.expect(r"plan revision 1: ")
        term.expect(r"\[a\] Approve", timeout=20)
        term.send("a\r")
        term.expect(r"result \(completed\)")
        assert term.wait() == 0
    finally:
        term.close()


def test_answers_can_come_through_a_pipe():
    done = huddle("run", "--headless", "--speed", "0", "--seed", "2", "--approve", "ask", TASK, stdin="a\n")
    assert done.returncode == 0, done.stderr
    assert re.search(r"✓ lead +approved by human", done.stdout)


def test_asked_with_input_that_cannot_be_read_each_question_takes_the_safe_default():
    done = huddle("run", "--headless", "--speed", "0", "--seed", "2", "--approve", "ask", TASK)  # stdin: /dev/null
    assert done.returncode == 1
    log = re.search(r"could not ask \(PermissionError: .*; details in (\S+)\): rejected, the policy's default", done.stdout)
    assert log is not None, done.stdout
    assert "rejected by policy (policy: timeout_default=reject): no decision: the prompt failed" in done.stdout
    assert "the prompt for escalation e1 failed" in open(log.group(1)).read()


def test_an_editor_that_cannot_run_says_so_and_the_question_is_asked_again():
    term = Terminal([huddle_command(), "run", "--headless", "--speed", "0", "--seed", "2", TASK],
                    env={"EDITOR": "/nonexistent/editor", "VISUAL": ""})
    try:
        term.expect(r"\[a\] Approve  \[e\] Edit  \[r\] Reject")
        term.send("e\r")
        term.expect(r"could not edit: the editor '/nonexistent/editor' cannot run")
        term.expect(r"\[a\] Approve  \[e\] Edit  \[r\] Reject")
        term.send("a\r")
        term.expect(r"result \(completed\)")
        assert term.wait() == 0
    finally:
        term.close()

"""The installed `huddle run --headless`, end to end, as a user runs it."""

from __future__ import annotations

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
    assert "plan by lead" in out
    assert "▶ s1" in out and "researcher │" in out
    assert "✓ approved by policy" in out
    assert "result (completed)" in out
    assert "tokens in" in out and "$" in out
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_rejecting_policy_stops_and_exits_1():
    done = huddle("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "reject", TASK)
    assert done.returncode == 1
    assert "✗ rejected by policy" in done.stdout
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
        term.expect(r"plan \(revision 1\)")
        term.expect(r"\[a\] Approve", timeout=20)
        term.send("a\r")
        term.expect(r"result \(completed\)")
        assert term.wait() == 0
    finally:
        term.close()

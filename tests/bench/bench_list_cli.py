"""`huddle sessions list` against a bare interpreter (issue 18).

Workload: a SQLite store of 10,000 finished sessions (with their search documents,
built as `bench_store` builds its big store), listed by the installed `huddle`
command as a subprocess: the newest 20, as a user types it, and a full-text search.
The baseline is `python -c pass` with the same interpreter. Both run with their
bytecode compiled once beforehand (into a scratch folder, so the tree stays as it is),
as an installed huddle has it; each case runs `ROUNDS` times, alternating, and the
medians are compared.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.bench_store import SESSIONS, many_sessions
from tests.bench.report import Report

ROUNDS = 15
TARGET = 3.0
"""`huddle sessions list` may take at most this many times as long as `python -c pass`."""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds one run of `command` took, and what it printed; a failed run stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def medians(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, float]:
    """Milliseconds, the median of `ROUNDS` runs of each command, run in turn."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # compile the bytecode, warm the file cache
        timed(command, env)
    for _ in range(ROUNDS):
        for name, command in commands.items():
            times[name].append(timed(command, env)[0])
    return {name: statistics.median(runs) * 1000 for name, runs in times.items()}


def main() -> bool:
    report = Report()
    huddle = Path(sys.executable).with_name("huddle")
    if not huddle.exists():
        print(f"  no {huddle}: install huddle into this environment (make) to run this benchmark")
        return False
    with tempfile.TemporaryDirectory(prefix="huddle-bench-") as scratch:
        folder = Path(scratch)
        path = folder / "many.db"
        many_sessions(path, SESSIONS)
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env |= {"PYTHONPYCACHEPREFIX": str(folder / "bytecode"), "HUDDLE_CONFIG_DIR": str(folder / "config")}
        listing = [str(huddle), "sessions", "list", "--db", str(path)]
        commands = {
            "list": listing,
            "search": [*listing, "--search", "part 42", "--json"],
            "bare": [sys.executable, "-c", "pass"],
        }
        _, printed = timed(listing, env)
        lines = printed.splitlines()
        assert len(lines) == 22 and lines[-1].startswith(f"(20 of {SESSIONS:,} sessions"), printed
        taken = medians(commands, env)
    workload = f"newest 20 of {SESSIONS:,} sessions"
    report.figure(f"huddle sessions list ({workload}), median of {ROUNDS}", taken["list"], "ms")
    report.figure(f"  with --search 'part 42' --json, median of {ROUNDS}", taken["search"], "ms")
    report.figure(f"python -c pass, median of {ROUNDS}", taken["bare"], "ms")
    report.target(f"sessions list ({workload}) / python -c pass", taken["list"] / taken["bare"], TARGET, unit="x")
    return report.ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

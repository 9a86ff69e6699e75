"""The installed `huddle` sending traces, end to end: `run --headless --otlp`,
OTEL_EXPORTER_OTLP_ENDPOINT, `sessions export --format otlp`, and a receiver that is down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.terminal import huddle_command
from tests.fakes.otlp_receiver import OtlpReceiver, Received, dead_endpoint

TASK = "Design a rate limiter for our public REST API"


def huddle(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [huddle_command(), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )


def session_id(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.split("recorded as ", 1)[1].split()[0]


def tree(spans: list[Received]) -> set[tuple[str, str, str, int, int]]:
    return {(s.span_id, s.parent_span_id, s.name, s.start_ns, s.end_ns) for s in spans}


def test_run_headless_otlp_sends_the_session_and_export_sends_the_same_trace():
    with OtlpReceiver() as receiver:
        done = huddle("run", "--headless", "--speed", "0", "--seed", "1", "--approve", "approve", "--otlp", receiver.endpoint, TASK)
        assert done.returncode == 0, done.stderr
        live = list(receiver.spans)
        sent = huddle("sessions", "export", session_id(done), "--format", "otlp", "--endpoint", receiver.endpoint)
    assert "trace" not in done.stderr.replace("recorded as", "")  # nothing went wrong, nothing said
    (root,) = [span for span in live if not span.parent_span_id]
    ids = {span.span_id for span in live}
    assert all(span.parent_span_id in ids for span in live if span is not root)
    assert root.name == "invoke_workflow orchestrator" and root.attributes["huddle.session.status"] == "completed"
    chats = [span for span in live if span.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == root.attributes["huddle.calls"]
    assert sum(span.attributes["gen_ai.usage.input_tokens"] for span in chats) == root.attributes["gen_ai.usage.input_tokens"]
    assert sum(span.attributes["gen_ai.usage.output_tokens"] for span in chats) == root.attributes["gen_ai.usage.output_tokens"]
    plan = [attributes for span in live for name, _, attributes in span.events if name == "huddle.escalation.requested"]
    assert [attributes["huddle.escalation.trigger"] for attributes in plan] == ["plan"]
    assert b"rate limiter" not in b"".join(receiver.bodies)  # no content without the opt-in

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == f"sent {len(live)} spans of session {session_id(done)} to {receiver.endpoint}/v1/traces\n"
    assert tree(receiver.spans[len(live):]) == tree(live)


def test_the_environment_names_the_receiver_and_opts_in_to_content():
    with OtlpReceiver() as receiver:
        done = huddle("run", "--headless", "--speed", "0", "--approve", "approve", TASK,
                      OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
    assert done.returncode == 0, done.stderr
    assert receiver.spans and b"rate limiter" in b"".join(receiver.bodies)


def test_a_receiver_that_is_down_is_one_line_and_the_session_completes():
    endpoint = dead_endpoint()
    done = huddle("run", "--headless", "--speed", "0", "--approve", "approve", "--otlp", endpoint, TASK,
                  OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert done.returncode == 0
    lines = done.stderr.splitlines()
    said = [line for line in lines if "trace" in line]
    assert said == [f"huddle: the session's trace could not be sent to {endpoint}/v1/traces (connection refused); "
                    "the session goes on without it"]
    assert "Traceback" not in done.stderr and "result (completed)" in done.stdout

    export = huddle("sessions", "export", session_id(done), "--format", "otlp", "--endpoint", endpoint,
                    OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert export.returncode == 1 and export.stdout == ""
    assert export.stderr == f"huddle: the trace could not be sent to {endpoint}/v1/traces (connection refused)\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--otlp", "localhost:4318"), "huddle: error: --otlp: 'localhost:4318' is not an http:// or https:// address"),
])
def test_a_bad_endpoint_is_a_usage_error(args: tuple[str, ...], message: str):
    done = huddle("run", "--headless", "--speed", "0", *args, TASK)
    assert done.returncode == 2 and done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1


def test_export_otlp_needs_an_endpoint():
    done = huddle("run", "--headless", "--speed", "0", "--approve", "approve", TASK)
    export = huddle("sessions", "export", session_id(done), "--format", "otlp")
    assert export.returncode == 2
    assert export.stderr == "huddle: error: --format otlp needs --endpoint URL (or OTEL_EXPORTER_OTLP_ENDPOINT set)\n"


def test_a_run_without_otlp_never_imports_opentelemetry(tmp_path: Path):
    modules = tmp_path / "modules.txt"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(modules)!r}, 'w').write(' '.join(sys.modules)))\n"
        "from tui.cli import main\n"
        f"sys.exit(main(['run', '--headless', '--speed', '0', '--approve', 'approve', {TASK!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    loaded = modules.read_text().split()
    assert "engine.session" in loaded
    assert not [name for name in loaded if name.startswith("opentelemetry")]


def test_a_resumed_session_goes_on_in_the_same_trace_and_a_fork_links_to_it():
    with OtlpReceiver() as receiver:
        first = huddle("run", "--headless", "--speed", "0", "--approve", "reject", "--otlp", receiver.endpoint, TASK)
        sent = len(receiver.spans)
        resumed = huddle("resume", session_id(first), "--headless", "--speed", "0", "--otlp", receiver.endpoint)
        forked = huddle("fork", session_id(first), "--at", "3", "--headless", "--speed", "0", "--approve", "approve",
                        "--otlp", receiver.endpoint)
    assert sent and resumed.stdout and forked.returncode == 0, (resumed.stderr, forked.stderr)
    (root,) = [span for span in receiver.spans[:sent] if not span.parent_span_id]
    again = [span for span in receiver.spans[sent:] if span.trace_id == root.trace_id]
    (run,) = [span for span in again if span.name == "invoke_workflow orchestrator"]
    assert run.parent_span_id == root.span_id and run.attributes["huddle.resumed"] is True
    (fork,) = [span for span in receiver.spans if not span.parent_span_id and span.trace_id != root.trace_id]
    assert fork.links == [(root.trace_id, root.span_id)]


def test_a_bad_export_endpoint_names_the_option_it_came_from():
    done = huddle("run", "--headless", "--speed", "0", "--approve", "approve", TASK)
    export = huddle("sessions", "export", session_id(done), "--format", "otlp", "--endpoint", "localhost:4318")
    assert export.returncode == 2
    assert export.stderr.startswith("huddle: error: --endpoint: 'localhost:4318' is not an http:// or https:// address")

"""Code tools in a session: asked about with their sandbox shown, refused uses never run,
a run stopped at its limit lets the session go on, resume answers from the record, and
the simulated coder runs a check. These run code under bubblewrap."""

from __future__ import annotations

import asyncio

import pytest

from engine import patterns
from engine.agents import AgentSpec, TeamSpec
from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.bus import EventBus
from engine.narration import narrate
from engine.policy import ApprovalPolicy
from engine.providers.base import ToolUse
from engine.providers.simulated import SimulatedProvider
from engine.run.record import Record
from engine.sandbox.settings import SandboxSettings
from engine.session import EngineConfig, SessionSpec, run_session
from engine.state import SessionState
from tests.helpers import FAST_RETRY, ScriptedProvider, pattern_info, run

pytestmark = pytest.mark.usefixtures("code_sandbox")

TEAM = TeamSpec(agents=(AgentSpec(name="coder", role="python developer", tools=("run_python", "run_shell")),))
COUNTING = "import pathlib\nruns = pathlib.Path('runs.txt')\nruns.write_text(runs.read_text() + 'ran\\n' if runs.exists() else 'ran\\n')\nprint(6*7)"


@pytest.fixture
def one_call(monkeypatch):
    async def one(ctx, task):
        return await ctx.call("coder", task)

    monkeypatch.setitem(patterns.PATTERNS, "one-call", pattern_info("one-call", one, lambda: TEAM))


def running(code: str, *, then: str = "Done."):
    """A script: run `code` once, then answer `then`."""

    def script(request):
        if any(m.tool_results for m in request.messages):
            return then
        return ToolUse("toolu_code", "run_python", {"code": code})

    return script


def config(project, tmp_path, **more):
    return EngineConfig(retry=FAST_RETRY, call_timeout=5, tool_root=project, scratch=tmp_path / "scratch" / "one", **more)


async def test_a_refused_use_never_runs(one_call, project, tmp_path):
    policy = ApprovalPolicy(default="approve", tools={"run_python": "reject"})
    ran = await run(ScriptedProvider(running(COUNTING)), pattern="one-call", policy=policy, config=config(project, tmp_path))
    assert ran.finished.status == "completed"
    (result,) = ran.of("tool.result")
    assert result.is_error and result.output.startswith("this use of run_python was refused")
    assert not (tmp_path / "scratch").exists()  # nothing ran: not even the folder was made


async def test_the_dialog_is_told_the_sandbox_and_code_run_unconfined_cannot_be_always_allowed(one_call, project, tmp_path):
    for backend, isolated in (("auto", True), ("none", False)):
        gate = ApprovalGate(ApprovalPolicy(default="ask"))
        session = asyncio.create_task(run(
            provider := ScriptedProvider(running("print(6*7)")), pattern="one-call", gate=gate, policy=gate.policy,
            config=config(project, tmp_path / backend), sandbox=SandboxSettings(backend=backend, wall_s=9),
        ))
        while not gate.pending:  # the session asks, or its end says why it did not
            assert not session.done(), session.result()
            await asyncio.sleep(0.01)
        ((escalation_id, escalation),) = gate.pending.items()
        shown = escalation.tool.sandbox
        assert (shown.backend, shown.isolated, shown.limits["wall_s"]) == (("bubblewrap" if isolated else "none"), isolated, 9.0)
        if isolated:
            gate.allow_tool(escalation_id, exact=False)
        else:
            with pytest.raises(DecisionError, match="runs code unconfined"):
                gate.allow_tool(escalation_id, exact=False)
            gate.resolve(escalation_id, Decision("approve"))
        ran = await session
        assert ran.finished.result == "Done."
        (result,) = ran.of("tool.result")
        assert not result.is_error and "[stdout]\n42" in result.output
        (back,) = provider.requests[1].messages[-1].tool_results  # to the model, as data
        assert back.output.startswith("<agent_output") and "[stdout]\n42" in back.output


async def test_an_endless_loop_is_stopped_at_its_time_limit_and_the_session_goes_on(one_call, project, tmp_path):
    ran = await run(
        ScriptedProvider(running("while True:\n    pass", then="Too slow; answering anyway.")), pattern="one-call",
        config=config(project, tmp_path), sandbox=SandboxSettings(wall_s=1),
    )
    assert ran.finished.status == "completed" and ran.finished.result.startswith("Too slow; answering anyway.")
    (result,) = ran.of("tool.result")
    assert result.is_error and result.output.startswith("stopped: it ran past its time limit (1 s)")
    line = narrate(SessionState(), result)
    assert line is not None and line.text.startswith("run_python → stopped: it ran past its time limit (1 s)")
    assert line.tone == "error"


async def test_a_resume_answers_a_code_run_from_the_record_and_never_runs_it_again(one_call, project, tmp_path):
    provider = ScriptedProvider(running(COUNTING))
    first = await run(provider, pattern="one-call", config=config(project, tmp_path))
    scratch = tmp_path / "scratch" / "one"
    assert (scratch / "runs.txt").read_text() == "ran\n"
    # the process died after the code ran, before the model answered: resume from there
    cut = next(i for i, e in enumerate(first.events) if e.kind == "tool.result")
    events = first.events[:cut + 1]
    bus, resumed = EventBus(), []
    bus.listen(resumed.append)
    again = ScriptedProvider(running(COUNTING, then="Answered after the resume."))
    spec = SessionSpec(task="Design a rate limiter for our public REST API", pattern="one-call",
                       policy=ApprovalPolicy(default="approve"))
    finished = await run_session(spec, again, bus=bus, resume=Record.from_events(events), config=config(project, tmp_path))
    assert finished.status == "completed" and finished.result.startswith("Answered after the resume.")
    (result,) = [e for e in resumed if e.kind == "tool.result"]
    assert result.recorded and "[stdout]\n42" in result.output
    assert (scratch / "runs.txt").read_text() == "ran\n"  # not run a second time
    assert not [e for e in resumed if e.kind == "escalation.requested"]


async def test_the_simulated_coder_runs_a_check_in_the_sandbox(one_call, project, tmp_path):
    ran = await run(SimulatedProvider(seed=3, speed=1000), pattern="one-call", config=config(project, tmp_path))
    assert ran.finished.status == "completed"
    (call,) = ran.of("tool.call")
    (result,) = ran.of("tool.result")
    assert call.tool == "run_python" and "print(" in call.input["code"]
    assert not result.is_error and result.output.startswith("exit status 0")

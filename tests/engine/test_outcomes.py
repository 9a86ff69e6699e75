"""A session whose steps did not all get done says so: on its `session.finished`, in its
status wherever it is shown, and in the final answer the lead is asked to write."""

from __future__ import annotations

import contextlib

from engine.events import SessionFinished, Usage
from engine.formats import outcome
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.engine.patterns.test_mesh import answer_prompt, mesh_script
from tests.helpers import ScriptedProvider, orchestrated, pattern_info, plan_of, run

FOUR = plan_of(("s1", "researcher", []), ("s2", "coder", []), ("s3", "coder", ["s2"]), ("s4", "reviewer", ["s3"]))


def test_the_outcome_names_the_steps_that_did_not_get_done():
    assert outcome("completed") == "completed"
    assert outcome("completed", 1) == "completed with 1 failed step"
    assert outcome("completed", 3) == "completed with 3 failed steps"
    assert outcome("completed", 0, 2) == "completed with 2 skipped steps"
    assert outcome("completed", 1, 2) == "completed with 1 failed and 2 skipped steps"
    assert outcome("stopped", 1, 0) == "stopped with 1 failed step"
    assert outcome("completed", 1, 2, short=True) == "completed, 3 not done"
    assert outcome("completed", 3, short=True) == "completed, 3 failed"
    assert outcome("completed", 0, 1, short=True) == "completed, 1 skipped"
    assert outcome("completed", 1_200, short=True) == "completed, 1,200 failed"


async def test_failed_and_skipped_steps_are_counted_on_the_finished_session():
    def answer(request):
        if request.agent == "coder":
            return ProviderError("bad_request", "the coder cannot", retryable=False)
        return f"{request.agent} did it"

    ran = await run(ScriptedProvider(orchestrated(FOUR, answer=answer)))
    assert ran.finished.status == "completed"
    assert (ran.finished.failed_steps, ran.finished.skipped_steps) == (1, 2)  # s2 failed; s3, s4 need it


async def test_a_session_whose_steps_all_got_done_counts_none():
    ran = await run(ScriptedProvider(orchestrated(FOUR)))
    assert (ran.finished.status, ran.finished.failed_steps, ran.finished.skipped_steps) == ("completed", 0, 0)


async def test_a_step_counts_by_how_it_ended_last(monkeypatch):
    """A step tried again under the same id and done the second time is done, not failed."""
    from engine import patterns
    from engine.guards import StepFailed

    async def twice(ctx, task):
        try:
            async with ctx.step("coder", "s1", "first try"):
                raise StepFailed("not yet")
        except StepFailed:
            pass
        async with ctx.step("coder", "s1", "second try") as step:
            step.output = "done"
        with contextlib.suppress(StepFailed):
            async with ctx.step("coder", "s2", "never"):
                raise StepFailed("no")
        return "done"

    monkeypatch.setitem(patterns.PATTERNS, "twice", pattern_info("twice", twice))
    ran = await run(ScriptedProvider(lambda request: "ok"), pattern="twice")
    assert [e.status for e in ran.of("step.finished")] == ["error", "done", "error"]
    assert (ran.finished.failed_steps, ran.finished.skipped_steps) == (1, 0)


async def test_old_records_without_the_counts_still_read():
    data = {
        "session_id": "old", "seq": 9, "ts": 1.0, "status": "completed", "result": "r", "usage": Usage(),
        "cost": 0.0, "calls": 1, "turns": 1, "duration_s": 1.0,
    }
    finished = SessionFinished.model_validate(data)
    assert (finished.failed_steps, finished.skipped_steps) == (0, 0)


async def test_the_lead_is_told_which_subtasks_did_not_finish_and_does_not_claim_the_work_is_done():
    """The synthesis prompt lists what failed or was skipped; the simulated lead, told so,
    says its answer is incomplete instead of calling the work done."""
    ran = await run(SimulatedProvider(seed=3, speed=0, faults=parse_faults("mid_stream@coder")), seed=3)
    synthesis = [e for e in ran.of("call.started") if e.span_id.endswith("synthesis")][-1]
    assert "did not finish" in synthesis.prompt and "not complete" in synthesis.prompt
    assert "s2 (coder" in synthesis.prompt and "skipped" in synthesis.prompt
    assert ran.finished.failed_steps >= 1
    result = ran.finished.result
    assert "This answer is incomplete" in result and "### Not done" in result
    assert "in good shape" not in result and "Everything else is ready" not in result


async def test_a_discussion_summary_is_told_who_could_not_contribute():
    def answer(request):
        if request.tool is not None:
            return {"consensus": True, "agreement": 0.9, "open_points": [], "summary": "agreed"}
        if request.agent == "sre":
            return ProviderError("bad_request", "no voice today", retryable=False)
        return f"{request.agent} says so"

    ran = await run(ScriptedProvider(answer), pattern="discussion")
    summary = [e for e in ran.of("call.started") if e.span_id.endswith("summary")][-1]
    assert "did not finish" in summary.prompt and "round 1: sre (no voice today)" in summary.prompt
    assert ran.finished.failed_steps == 1


async def test_a_mesh_answer_is_told_which_requests_for_help_got_no_answer():
    def broken(request):
        if request.agent == "dba":
            return ProviderError("bad_request", "the dba is out", retryable=False)
        return None

    provider = ScriptedProvider(mesh_script({"architect": ["databases"]}, answer=broken))
    ran = await run(provider, pattern="mesh")
    prompt = answer_prompt(provider, "architect")
    assert "did not finish" in prompt and "databases from dba: the dba is out" in prompt
    assert ran.finished.failed_steps == 1

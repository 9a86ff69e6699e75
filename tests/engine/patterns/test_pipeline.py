"""Sequential pipeline: stage order, what each stage sees, contracts, fallbacks, escalations, stops."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.approvals import ApprovalGate, Decision, DecisionError
from engine.budgets import Limits
from engine.notes import PipelineNote, StageNote
from engine.patterns import get_pattern
from engine.patterns.pipeline import RESEARCH_NOTES
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import ScriptedProvider, labels, run

STAGES = ["researcher", "writer", "editor", "fact_checker"]
NOTES = {"summary": "quotas per client", "key_findings": ["FINDING-1"], "sources": ["RFC 6585"], "confidence": 0.9}
DRAFT = {"title": "Draft", "type": "object", "properties": {"draft": {"type": "string"}}, "required": ["draft"]}


def staged(replies=None, *, failing=()):
    """A script: `replies[agent]` for structured replies (NOTES by default), text for the rest;
    a failing agent's call fails for good."""
    replies = replies or {}

    def script(request):
        if request.agent in failing:
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        if request.tool is not None:
            return replies.get(request.agent, NOTES)
        return f"{request.agent} output"

    return script


def answering(gate, decide):
    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            asyncio.get_running_loop().call_soon(gate.resolve, event.escalation_id, decide(event))

    return hook


def prompts(provider):
    """The last prompt each agent got."""
    return {r.agent: r.messages[-1].text for r in provider.requests}


def stage_notes(ran):
    return [(n.stage, n.by, n.status, n.verdict) for n in ran.of(StageNote)]


async def test_stages_run_in_order_each_on_the_previous_output():
    provider = ScriptedProvider(staged(), delay=0.01)
    ran = await run(provider, pattern="pipeline", task="Explain rate limiting for API-TASK-MARKER")

    assert ran.finished.status == "completed"
    assert ran.finished.result == "fact_checker output"
    started = [(e.step_id, e.seq) for e in ran.of("step.started")]
    finished = {e.step_id: e.seq for e in ran.of("step.finished")}
    assert [s for s, _ in started] == ["stage1", "stage2", "stage3", "stage4"]
    for (before, _), (after, seq) in zip(started, started[1:]):
        assert finished[before] < seq  # no stage starts before the one before it is done
    assert [r.agent for r in provider.requests] == STAGES

    seen = prompts(provider)
    assert all("API-TASK-MARKER" in seen[stage] for stage in STAGES)  # include_original by default
    writer = seen["writer"]
    assert writer.index('<agent_output source="researcher"') < writer.index("FINDING-1")
    assert '<agent_output source="writer"' in seen["editor"] and "FINDING-1" not in seen["editor"]
    assert '<agent_output source="editor"' in seen["fact_checker"]

    [pipeline] = ran.of(PipelineNote)
    assert (pipeline.stages, pipeline.include_original, pipeline.contracts, pipeline.fallbacks) == (
        STAGES, True, {"researcher": "ResearchNotes"}, {"researcher": "senior_researcher"})
    assert stage_notes(ran) == [
        ("researcher", "researcher", "done", "accepted"), ("writer", "writer", "done", None),
        ("editor", "editor", "done", None), ("fact_checker", "fact_checker", "done", None),
    ]


async def test_a_contract_stage_is_asked_for_its_schema_and_handed_on_under_the_contract():
    provider = ScriptedProvider(staged())
    ran = await run(provider, pattern="pipeline")

    researcher = provider.requests[0]
    assert researcher.tool is not None and researcher.tool.input_schema == RESEARCH_NOTES
    assert all(r.tool is None for r in provider.requests[1:])
    [handoff] = ran.of("handoff")
    assert (handoff.from_agent, handoff.to_agent, handoff.contract) == ("researcher", "writer", "ResearchNotes")
    assert handoff.verdict == "accepted" and handoff.payload == NOTES
    writer = prompts(provider)["writer"]
    assert json.dumps(NOTES, indent=2) in writer.split('<agent_output source="researcher" step="stage1"', 1)[1]


async def test_without_the_original_later_stages_see_only_the_previous_output():
    provider = ScriptedProvider(staged())
    await run(provider, pattern="pipeline", task="SECRET-TASK-TEXT on quotas", options={"include_original": False})

    seen = prompts(provider)
    assert "SECRET-TASK-TEXT" in seen["researcher"]
    assert all("SECRET-TASK-TEXT" not in seen[stage] for stage in STAGES[1:])
    assert '<agent_output source="writer"' in seen["editor"]


async def test_explicit_stages_run_in_the_order_given():
    provider = ScriptedProvider(staged())
    ran = await run(provider, pattern="pipeline", options={"stages": ["editor", "writer"]})
    assert [r.agent for r in provider.requests] == ["editor", "writer"]
    assert ran.finished.result == "writer output"
    assert not ran.of("handoff")  # the preset contract is for a stage that is not in this pipeline


async def test_invalid_output_goes_to_the_stage_fallback():
    provider = ScriptedProvider(staged({"researcher": {"summary": "no findings"}, "senior_researcher": NOTES}))
    ran = await run(provider, pattern="pipeline")

    failed = [e for e in ran.of("call.failed") if e.agent == "researcher"]
    assert len(failed) == 3 and failed[-1].final and "key_findings" in failed[-1].error
    outcome = {e.step_id: e.status for e in ran.of("step.finished")}
    assert outcome["stage1"] == "error" and outcome["stage1-fallback"] == "done"
    assert stage_notes(ran)[:2] == [
        ("researcher", "researcher", "failed", "invalid"), ("researcher", "senior_researcher", "done", "accepted"),
    ]
    assert '<agent_output source="senior_researcher"' in prompts(provider)["writer"]
    assert "standing in for researcher" in prompts(provider)["senior_researcher"]
    assert ran.finished.status == "completed"


async def test_malformed_output_fault_is_redone_by_the_fallback():
    provider = SimulatedProvider(seed=3, speed=0, faults=parse_faults("malformed@researcher"))
    ran = await run(provider, pattern="pipeline")

    assert [e.step_id for e in ran.of("step.started")] == ["stage1", "stage1-fallback", "stage2", "stage3", "stage4"]
    assert ran.of("handoff")[-1].from_agent == "senior_researcher"
    assert ran.finished.status == "completed"


def _invalid_writer_options():
    return {"contracts": {"writer": {"schema": DRAFT}}, "fallbacks": {}}


async def test_invalid_output_without_fallback_escalates_and_approval_passes_the_previous_output_on():
    provider = ScriptedProvider(staged({"writer": {"wrong": 1}}))
    ran = await run(provider, pattern="pipeline", options=_invalid_writer_options())

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "invalid_output" and escalation.options == ["approve", "edit", "reject"]
    assert labels(escalation)["approve"] == "Skip writer: pass researcher's output on"
    assert escalation.payload["error"].startswith("no valid Draft") and escalation.payload["schema"] == DRAFT
    assert ("writer", None, "skipped", "invalid") in stage_notes(ran)
    assert '<agent_output source="researcher"' in prompts(provider)["editor"]
    assert ran.finished.status == "completed"


async def test_skipping_the_first_stage_starts_the_next_from_the_task():
    provider = ScriptedProvider(staged({"researcher": {"summary": "no findings"}}))
    ran = await run(provider, pattern="pipeline", task="TASK-MARKER", options={"fallbacks": {}})

    assert labels(ran.of("escalation.requested")[0])["approve"] == "Skip researcher: the next stage starts from the task"
    writer = prompts(provider)["writer"]
    assert "<agent_output" not in writer and "Start the work from the task." in writer and "TASK-MARKER" in writer
    assert ran.finished.status == "completed"


async def test_a_structured_last_stage_hands_its_output_to_the_result():
    provider = ScriptedProvider(staged({"editor": {"draft": "FINAL"}}))
    ran = await run(provider, pattern="pipeline",
                    options={"stages": ["writer", "editor"], "contracts": {"editor": {"schema": DRAFT}}})
    assert ran.finished.result == '```json\n{\n  "draft": "FINAL"\n}\n```'
    assert ran.of("handoff")[0].to_agent == "result"


async def test_an_edit_becomes_the_stage_output_and_a_bad_edit_is_refused():
    provider = ScriptedProvider(staged({"writer": {"wrong": 1}}))
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    refused = []

    def hook(event):
        if event.kind == "escalation.requested" and event.human:
            with pytest.raises(DecisionError) as error:
                gate.resolve(event.escalation_id, Decision("edit", edited={"draft": 7}))
            refused.append(str(error.value))
            asyncio.get_running_loop().call_soon(
                gate.resolve, event.escalation_id, Decision("edit", edited={"draft": "HUMAN-DRAFT"})
            )

    ran = await run(provider, pattern="pipeline", gate=gate, policy=gate.policy,
                    options=_invalid_writer_options(), on_event=hook)
    assert refused and "draft" in refused[0]
    assert "HUMAN-DRAFT" in prompts(provider)["editor"]
    assert ("writer", None, "edited", "accepted") in stage_notes(ran)
    assert ran.of("handoff")[-1].payload == {"draft": "HUMAN-DRAFT"}
    assert ran.finished.status == "completed"


async def test_a_person_written_output_is_not_asked_about_its_confidence():
    sure = {**DRAFT, "properties": {**DRAFT["properties"], "confidence": {"type": "number"}}}
    provider = ScriptedProvider(staged({"writer": {"wrong": 1}}))
    gate = ApprovalGate(ApprovalPolicy(default="ask"))
    edit = Decision("edit", edited={"draft": "HUMAN-DRAFT", "confidence": 0.1})
    ran = await run(provider, pattern="pipeline", gate=gate, policy=gate.policy, on_event=answering(gate, lambda e: edit),
                    options={"contracts": {"writer": {"schema": sure, "min_confidence": 0.8}}, "fallbacks": {}})

    assert [e.trigger for e in ran.of("escalation.requested")] == ["invalid_output"]
    [handoff] = ran.of("handoff")
    assert handoff.verdict == "accepted" and handoff.confidence == 0.1
    assert ran.finished.status == "completed"


async def test_rejecting_invalid_output_stops_with_what_is_done():
    provider = ScriptedProvider(staged({"writer": {"wrong": 1}}))
    ran = await run(provider, pattern="pipeline", options=_invalid_writer_options(),
                    policy=ApprovalPolicy(default="reject"))

    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "broke contract Draft" in ran.finished.reason
    assert "stage 1 · researcher" in ran.finished.result
    assert [r.agent for r in provider.requests][-1] == "writer"


async def test_low_confidence_handoff_escalates_and_approval_goes_on():
    provider = ScriptedProvider(staged({"researcher": {**NOTES, "confidence": 0.5}}))
    ran = await run(provider, pattern="pipeline")

    [escalation] = ran.of("escalation.requested")
    assert escalation.trigger == "low_confidence" and "asks for 70%" in escalation.reason
    assert [h.verdict for h in ran.of("handoff")] == ["low_confidence", "accepted"]
    assert ran.finished.status == "completed"


async def test_a_rejected_low_confidence_handoff_goes_to_the_fallback():
    provider = ScriptedProvider(staged({"researcher": {**NOTES, "confidence": 0.5}, "senior_researcher": NOTES}))
    ran = await run(provider, pattern="pipeline", policy=ApprovalPolicy(default="reject"))

    assert stage_notes(ran)[:2] == [
        ("researcher", "researcher", "failed", "rejected"), ("researcher", "senior_researcher", "done", "accepted"),
    ]
    assert ran.finished.status == "completed"


async def test_a_rejected_low_confidence_handoff_without_fallback_stops():
    provider = ScriptedProvider(staged({"researcher": {**NOTES, "confidence": 0.5}}))
    ran = await run(provider, pattern="pipeline", policy=ApprovalPolicy(default="reject"), options={"fallbacks": {}})

    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "low-confidence handoff rejected" in ran.finished.reason
    assert [r.agent for r in provider.requests] == ["researcher"]


async def test_a_failed_call_goes_to_the_fallback():
    provider = ScriptedProvider(staged(failing=("researcher",)))
    ran = await run(provider, pattern="pipeline")
    assert stage_notes(ran)[0] == ("researcher", "researcher", "failed", None)
    assert ran.finished.status == "completed"


async def test_a_failed_call_without_fallback_fails_with_the_finished_stages():
    provider = ScriptedProvider(staged(failing=("editor",)))
    ran = await run(provider, pattern="pipeline")

    assert ran.finished.status == "failed" and ran.finished.partial
    assert "invalid API key" in ran.finished.reason
    assert "stage 1 · researcher" in ran.finished.result and "writer output" in ran.finished.result
    assert "fact_checker" not in [r.agent for r in provider.requests]


async def test_turn_budget_stops_with_a_partial_result():
    provider = ScriptedProvider(staged())
    ran = await run(provider, pattern="pipeline", policy=ApprovalPolicy(default="reject"), limits=Limits(turns=2))

    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "turns budget" in ran.finished.reason
    assert "stage 2 · writer" in ran.finished.result
    assert [e.step_id for e in ran.of("step.started")] == ["stage1", "stage2"]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"stages": ["researcher", "ghost"]}, "stage 'ghost' is not an agent on the team"),
        ({"fallbacks": {"writer": "nobody"}}, "fallback 'nobody' for 'writer' is not an agent"),
        ({"contracts": {"ghost": {"schema": DRAFT}}}, "contract for 'ghost', which is not a stage"),
    ],
)
async def test_options_that_do_not_fit_the_team_fail_with_the_reason(options, problem):
    ran = await run(ScriptedProvider(staged()), pattern="pipeline", options=options)
    assert ran.finished.status == "failed"
    assert problem in ran.finished.reason


def test_a_contract_must_be_a_valid_object_schema():
    info = get_pattern("pipeline")
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        info.parse_options({"contracts": {"writer": {"schema": {"type": "nonsense"}}}})
    with pytest.raises(ValueError, match="must describe an object"):
        info.parse_options({"contracts": {"writer": {"schema": {"type": "string"}}}})
    parsed = info.parse_options({"contracts": {"writer": {"schema": DRAFT, "min_confidence": 0.8}}})
    assert parsed.contracts["writer"].output_schema == DRAFT


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_default_demo_completes(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="pipeline", seed=seed)
    assert ran.finished.status == "completed"
    assert [e.step_id for e in ran.of("step.finished") if e.status == "done"] == ["stage1", "stage2", "stage3", "stage4"]
    assert ran.of("handoff")[0].verdict == "accepted"
    assert ran.finished.result.startswith("## ")


def test_headless_cli_runs_the_pipeline_pattern(capsys):
    from tui.cli import main

    code = main(["run", "--headless", "--pattern", "pipeline", "--approve", "approve", "--speed", "0", "--seed", "2",
                 "Write a short guide to API rate limits"])
    out = capsys.readouterr().out
    assert code == 0
    assert "· researcher stage: 1/4 researcher: done" in out and "· fact_checker stage: 4/4 fact_checker: done" in out
    assert "result (completed)" in out

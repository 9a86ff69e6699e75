"""Parallel fan-out: splitting, the concurrency limit, failed parts, synthesis, and stops."""

from __future__ import annotations

import pytest

from engine.budgets import Limits
from engine.notes import ChunkNote, FanoutNote, SynthesisNote
from engine.patterns import get_pattern
from engine.patterns.fanout import group, split_task
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from engine.providers.faults import parse_faults
from engine.providers.simulated import SimulatedProvider
from tests.helpers import ScriptedProvider, fields_of, run

WORKERS = ["security", "performance", "usability", "cost"]
SIX = [f"PART-{n} text" for n in range(1, 7)]


def worked(*, failing=()):
    """A script: each agent writes "<agent> on <its part>"; a failing agent's call fails for good."""

    def script(request):
        if request.agent in failing:
            return ProviderError("auth", "invalid API key", retryable=False, status=401)
        text = request.messages[-1].text
        part = next((word for word in text.split() if word.startswith("PART-")), "the task")
        return f"{request.agent} on {part}"

    return script


def most_at_once(ran) -> int:
    """The most parts running at the same time, from step events in seq order."""
    running = peak = 0
    for event in sorted(ran.events, key=lambda e: e.seq):
        if event.kind in ("step.started", "step.finished") and event.step_id.startswith("c"):
            running += 1 if event.kind == "step.started" else -1
            peak = max(peak, running)
    return peak


def chunk_notes(ran):
    return {n.index: n for n in ran.of(ChunkNote)}


# -- splitting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "header", "parts"),
    [
        ("Review these functions:\n\n- parse()\n- render()\n* save()", "Review these functions:",
         ["parse()", "render()", "save()"]),
        ("1. migrate users\n2) migrate orders\n3. migrate invoices", "",
         ["migrate users", "migrate orders", "migrate invoices"]),
        ("- first item\n  continues here\n- second item\nThen rank them.", "Then rank them.",
         ["first item continues here", "second item"]),
        ("Summarise each document:\n---\nDoc A body\n\nmore of A\n---\nDoc B body", "Summarise each document:",
         ["Doc A body\n\nmore of A", "Doc B body"]),
        ("First question?\n\nSecond question?\n\nThird question?", "",
         ["First question?", "Second question?", "Third question?"]),
        ("Translate these:\n\nHello there.\n\nGoodbye now.", "Translate these:", ["Hello there.", "Goodbye now."]),
        ("Design a rate limiter: quotas, bursts, errors.", "", ["Design a rate limiter: quotas, bursts, errors."]),
    ],
)
def test_split_task_finds_sections_list_items_and_paragraphs(task, header, parts):
    assert split_task(task) == (header, parts)


def test_group_keeps_order_and_evens_out_sizes():
    grouped = group([str(n) for n in range(10)], 4)
    assert grouped == ["0\n\n1\n\n2", "3\n\n4\n\n5", "6\n\n7", "8\n\n9"]
    assert group(["a", "b"], 4) == ["a", "b"]


# -- running ------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 2, 6])
async def test_no_more_than_concurrency_parts_run_at_once_and_they_do_overlap(concurrency):
    provider = ScriptedProvider(worked(), delay=0.02)
    ran = await run(provider, pattern="fanout", options={"chunks": SIX, "concurrency": concurrency})

    assert ran.finished.status == "completed"
    assert most_at_once(ran) == concurrency
    last_part = max(e.seq for e in ran.of("step.finished") if e.step_id.startswith("c"))
    synthesis = next(e for e in ran.of("step.started") if e.step_id == "synthesis")
    assert synthesis.seq > last_part
    assert synthesis.depends_on == [f"c{n}" for n in range(1, 7)]


async def test_parts_are_dealt_round_robin_and_each_worker_sees_only_its_part():
    provider = ScriptedProvider(worked())
    task = "Summarise each document:\n---\nPART-1 alpha\n---\nPART-2 beta\n---\nPART-3 gamma\n---\nPART-4 delta\n---\nPART-5 eps"
    ran = await run(provider, pattern="fanout", task=task)

    started = sorted(ran.of("step.started"), key=lambda e: e.step_id)
    assert [(e.step_id, e.assigned_to) for e in started if e.step_id != "synthesis"] == [
        ("c1", "security"), ("c2", "performance"), ("c3", "usability"), ("c4", "cost"), ("c5", "security"),
    ]
    [fanout] = [fields_of(n) for n in ran.of(FanoutNote)]
    assert fanout == {"mode": "chunks", "chunks": 5, "concurrency": 3, "workers": WORKERS,
                      "synthesizer": "synthesizer"}
    prompts = [r.messages[-1].text for r in provider.requests if r.agent == "performance"]
    assert len(prompts) == 1
    assert "PART-2 beta" in prompts[0] and "PART-1" not in prompts[0] and "PART-3" not in prompts[0]
    assert "Instructions for every part: Summarise each document:" in prompts[0]


async def test_perspectives_each_get_the_whole_task_and_the_synthesiser_gets_every_output_as_data():
    provider = ScriptedProvider(worked())
    ran = await run(provider, pattern="fanout", task="Choose a queue for our order events")

    assert [n.mode for n in ran.of(FanoutNote)] == ["perspectives"]
    workers = [r for r in provider.requests if r.agent != "synthesizer"]
    assert sorted(r.agent for r in workers) == sorted(WORKERS)
    for request in workers:
        assert "Choose a queue for our order events" in request.messages[-1].text
        assert "perspective as the team's" in request.messages[-1].text
    synthesis = next(r for r in provider.requests if r.agent == "synthesizer").messages[-1].text
    for worker in WORKERS:
        assert f'<agent_output source="{worker}"' in synthesis and f"{worker} on the task" in synthesis
    assert "Do not list the outputs one after another" in synthesis
    assert ran.finished.result == "synthesizer on the task"


async def test_a_failed_part_is_an_error_result_and_the_synthesis_is_told_what_is_missing():
    provider = ScriptedProvider(worked(failing=("performance",)))
    ran = await run(provider, pattern="fanout", options={"chunks": SIX[:4]})

    assert ran.finished.status == "completed"
    notes = chunk_notes(ran)
    assert notes[2].status == "error" and "invalid API key" in (notes[2].error or "")
    assert [notes[n].status for n in (1, 3, 4)] == ["done"] * 3
    assert next(e for e in ran.of("step.finished") if e.step_id == "c2").status == "error"
    [synthesis_note] = [fields_of(n) for n in ran.of(SynthesisNote)]
    assert synthesis_note == {"synthesizer": "synthesizer", "inputs": 3, "missing": [2]}
    prompt = next(r for r in provider.requests if r.agent == "synthesizer").messages[-1].text
    assert "did not finish" in prompt and "part 2 (performance" in prompt
    assert '<agent_output source="performance"' not in prompt


async def test_overload_fault_on_one_worker_leaves_the_others_to_be_merged():
    provider = SimulatedProvider(seed=3, speed=0, faults=parse_faults("overload@security"))
    ran = await run(provider, pattern="fanout")

    assert len([e for e in ran.of("call.failed") if e.agent == "security"]) == 4  # every retry
    assert chunk_notes(ran)[1].status == "error"
    assert ran.finished.status == "completed"


async def test_rate_limits_are_retried_and_every_part_finishes():
    provider = SimulatedProvider(seed=8, speed=0, faults=parse_faults("rate_limit:0.3"))
    ran = await run(provider, pattern="fanout")
    assert ran.of("retry")
    assert all(n.status == "done" for n in chunk_notes(ran).values())
    assert ran.finished.status == "completed"


async def test_every_part_failing_stops_without_a_synthesis():
    provider = ScriptedProvider(worked(failing=tuple(WORKERS)))
    ran = await run(provider, pattern="fanout", options={"chunks": SIX[:3]})
    assert ran.finished.status == "failed"
    assert "all 3 parts failed" in ran.finished.reason
    assert not [r for r in provider.requests if r.agent == "synthesizer"]


async def test_the_circuit_breaker_stops_the_fan_out():
    provider = ScriptedProvider(worked(failing=tuple(WORKERS)))
    ran = await run(provider, pattern="fanout", options={"chunks": SIX, "concurrency": 1})
    assert ran.finished.status == "failed"
    assert "circuit breaker open after 4 failed calls" in ran.finished.reason
    assert len(ran.of("step.started")) == 4  # parts 5 and 6 never started
    assert not [r for r in provider.requests if r.agent == "synthesizer"]


async def test_a_failed_synthesis_fails_the_session_keeping_the_parts():
    provider = ScriptedProvider(worked(failing=("synthesizer",)))
    ran = await run(provider, pattern="fanout", options={"chunks": SIX[:2]})
    assert ran.finished.status == "failed" and ran.finished.partial
    assert "security on PART-1" in ran.finished.result and "performance on PART-2" in ran.finished.result


async def test_more_items_than_max_chunks_are_grouped():
    provider = ScriptedProvider(worked())
    task = "Check each link:\n" + "\n".join(f"- PART-{n}" for n in range(1, 11))
    ran = await run(provider, pattern="fanout", task=task, options={"max_chunks": 3})
    steps = [e.step_id for e in ran.of("step.started")]
    assert sorted(steps) == ["c1", "c2", "c3", "synthesis"]
    first = next(r for r in provider.requests if r.agent == "security").messages[-1].text
    assert all(f"PART-{n}\n" in first or f"PART-{n}\n\n" in first for n in (1, 2, 3)) and "PART-5" not in first


async def test_a_chosen_synthesizer_merges_and_does_no_part():
    provider = ScriptedProvider(worked())
    ran = await run(provider, pattern="fanout", options={"synthesizer": "cost", "chunks": SIX[:3]})
    assert {e.assigned_to for e in ran.of("step.started") if e.step_id != "synthesis"} == {
        "synthesizer", "security", "performance"}
    assert [r.agent for r in provider.requests].count("cost") == 1
    assert ran.finished.result.startswith("cost on")


async def test_an_unknown_synthesizer_fails_with_the_reason():
    ran = await run(ScriptedProvider(worked()), pattern="fanout", options={"synthesizer": "nobody"})
    assert ran.finished.status == "failed"
    assert "synthesizer 'nobody' is not an agent" in ran.finished.reason


def test_options_refuse_chunks_in_perspectives_mode():
    info = get_pattern("fanout")
    with pytest.raises(ValueError, match="chunks are given, but mode is perspectives"):
        info.parse_options({"mode": "perspectives", "chunks": ["a"]})
    with pytest.raises(ValueError, match="concurrency"):
        info.parse_options({"concurrency": 0})


async def test_turn_budget_stops_with_the_finished_parts():
    provider = ScriptedProvider(worked())
    ran = await run(provider, pattern="fanout", options={"chunks": SIX, "concurrency": 1},
                    policy=ApprovalPolicy(default="reject"), limits=Limits(turns=2))

    assert ran.finished.status == "stopped" and ran.finished.partial
    assert "turns budget" in ran.finished.reason
    assert "security on PART-1" in ran.finished.result and "performance on PART-2" in ran.finished.result
    assert len(ran.of("step.started")) == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_default_demo_completes_with_four_perspectives(seed):
    ran = await run(SimulatedProvider(seed=seed, speed=0), pattern="fanout", seed=seed)
    assert ran.finished.status == "completed"
    assert len(chunk_notes(ran)) == 4
    assert ran.finished.result.startswith("## ")
    assert "What each part contributed" in ran.finished.result


def test_headless_cli_runs_the_fanout_pattern(capsys):
    from tui.cli import main

    code = main(["run", "--headless", "--pattern", "fanout", "--approve", "approve", "--speed", "0", "--seed", "2",
                 "Review these endpoints:\n- GET /orders\n- POST /orders\n- DELETE /orders/{id}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "· synthesizer fanout: 3 parts over security, performance, usability" in out
    assert "· synthesizer synthesis: synthesizer merges 3 of 3 results" in out
    assert "result (completed)" in out

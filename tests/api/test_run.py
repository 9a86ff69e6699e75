"""`huddle.run()`: a team defined in code runs any pattern to its end; mistakes are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

import huddle
from sessions.opening import open_store
from tests.api.helpers import TASK, team
from tests.fakes.chat_completions import ChatCompletionsAPI, simulated_reply


@pytest.mark.parametrize("pattern", ["orchestrator", "review"])
async def test_a_team_defined_in_code_runs_a_pattern_to_its_end(pattern):
    result = await huddle.run(TASK, team=team(), pattern=pattern)
    assert isinstance(result, huddle.events.SessionFinished)
    assert result.status == "completed" and not result.partial
    assert result.result.strip() and result.calls >= 2
    assert result.usage.total > 0 and result.cost > 0
    assert len(result.session_id) == 12


async def test_two_patterns_make_different_sessions_of_the_same_team():
    async with huddle.Session(TASK, team=team(), pattern="orchestrator", policy="approve") as planned:
        kinds = [event.kind async for event in planned]
    async with huddle.Session(TASK, team=team(), pattern="review", policy="approve") as reviewed:
        review_kinds = [event.kind async for event in reviewed]
    assert "plan.made" in kinds and "plan.made" not in review_kinds
    assert "pattern.review" in review_kinds


async def test_the_same_seed_and_task_give_the_same_result():
    first = await huddle.run(TASK, team=team(), seed=7)
    again = await huddle.run(TASK, team=team(), seed=7)
    other = await huddle.run(TASK, team=team(), seed=8)
    assert first.result == again.result and first.session_id != again.session_id
    assert other.result != first.result


async def test_no_team_runs_the_patterns_preset_team():
    async with huddle.Session(TASK, pattern="discussion", policy="approve") as session:
        started = [event async for event in session][0]
    assert isinstance(started, huddle.events.SessionStarted)
    assert started.team.name == "discussion" and started.provider == "simulated"


async def test_a_recorded_session_is_in_the_database_huddle_sessions_shows(session_database: Path):
    result = await huddle.run(TASK, team=team(), record=True)
    async with await open_store(session_database, create=False) as store:
        row = await store.get_session(result.session_id)
        assert (row.status, row.pattern) == ("completed", "orchestrator")
        assert await store.event_count(result.session_id) > 10


async def test_a_session_is_recorded_in_the_database_it_names(tmp_path: Path):
    db = tmp_path / "mine.db"
    result = await huddle.run(TASK, team=team(), pattern="review", record=db)
    async with await open_store(db, create=False) as store:
        assert (await store.get_session(result.session_id)).status == "completed"


async def test_budgets_and_a_rejecting_policy_end_a_session_with_a_partial_result():
    policy = huddle.ApprovalPolicy(default="approve", triggers={"budget": "reject"})
    stopped = await huddle.run(TASK, team=team(), limits=huddle.Limits(tokens=50), policy=policy)
    assert stopped.status == "stopped" and stopped.partial and "tokens" in (stopped.reason or "")
    refused = await huddle.run(TASK, team=team(), policy="reject")
    assert refused.status == "stopped" and "plan rejected" in (refused.reason or "")


async def test_openai_is_one_keyword_away(monkeypatch):
    key = "sk-test-api-0123456789abcdef"
    with ChatCompletionsAPI(simulated_reply(team(), TASK)) as api:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        async with huddle.Session(TASK, team=team(), provider="openai", policy="approve") as session:
            events = [event async for event in session]
    finished = events[-1]
    assert isinstance(finished, huddle.events.SessionFinished) and finished.status == "completed", finished.reason
    assert len(api.requests) == len([e for e in events if e.kind == "call.started"]) >= 3
    assert {r.body["model"] for r in api.requests} == {"gpt-5-mini"}
    assert events[0].provider == "openai"
    assert key not in "".join(event.model_dump_json() for event in events)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"pattern": "nope"}, "unknown pattern 'nope'; choose from orchestrator"),
        ({"options": {"rounds": 3}}, "orchestrator options: rounds: Extra inputs are not permitted"),
        ({"provider": "anthropic"}, "provider 'anthropic': no API key: set ANTHROPIC_API_KEY"),
        ({"provider": "bedrock"}, "unknown provider 'bedrock'"),
        ({"policy": "maybe"}, "policy 'maybe': give 'ask', 'approve', 'reject' or an ApprovalPolicy"),
        ({"policy": "ask"}, "run() has nobody to answer escalations"),
        ({"policy": huddle.ApprovalPolicy(default="approve", triggers={"plan": "ask"})}, "nobody to answer"),
        ({"speed": -1}, "speed must be zero or more"),
        ({"record": ""}, "record: give True"),
    ],
)
async def test_a_mistake_is_one_line_before_anything_runs(arguments, words, session_database: Path):
    with pytest.raises(ValueError) as raised:
        await huddle.run(TASK, team=team(), **arguments)
    assert words in str(raised.value) and "\n" not in str(raised.value)
    assert not session_database.exists()


async def test_a_policy_with_a_timeout_needs_nobody():
    policy = huddle.ApprovalPolicy(default="ask", timeout_s=0.01, timeout_default="approve")
    result = await huddle.run(TASK, team=team(), policy=policy)
    assert result.status == "completed"


def test_an_agent_defined_in_code_is_checked_as_a_team_file_is():
    with pytest.raises(ValueError, match="must start with a lowercase letter"):
        huddle.Agent(name="Lead", role="planner")
    with pytest.raises(ValueError, match="lead 'boss' is not one of the agents"):
        huddle.Team(lead="boss", agents=[huddle.Agent(name="lead", role="planner")])


async def test_the_users_config_is_read_as_the_command_line_reads_it(user_config: Path):
    user_config.mkdir()
    (user_config / "config.toml").write_text('[prices."claude-sonnet-5-5"]\ninput = 0\noutput = 0\n')
    assert {agent.model for agent in team().agents} == {"claude-sonnet-5-5"}
    free = await huddle.run(TASK, team=team())
    assert free.cost == 0 and free.usage.total > 0 and free.unpriced == 0
    (user_config / "config.toml").write_text("[prices\n")
    with pytest.raises(ValueError, match=r"config\.toml: not valid TOML") as raised:
        await huddle.run(TASK, team=team())
    assert "\n" not in str(raised.value)


async def test_a_session_from_python_sends_its_trace_where_the_environment_says(monkeypatch):
    from tests.fakes.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        result = await huddle.run(TASK, team=team())
        names = {span.name for span in receiver.spans}
    assert result.status == "completed"
    assert any(name.startswith("invoke_agent") for name in names) and any(name.startswith("chat") for name in names)

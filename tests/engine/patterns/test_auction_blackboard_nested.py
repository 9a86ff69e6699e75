"""Auction and blackboard as member teams: scoped step ids, the step's inputs as data,
and a pattern's own stop failing only its step."""

from __future__ import annotations

from engine.agents import AgentSpec, TeamSpec
from engine.notes import StallNote
from engine.policy import ApprovalPolicy
from engine.providers.base import ProviderError
from tests.helpers import ScriptedProvider, plan_of, run

RESEARCH = '<agent_output source="researcher" step="s1"'
BROKEN = ProviderError("auth", "invalid API key", retryable=False, status=401)


def market(name: str, *, bidders: bool = True) -> AgentSpec:
    """A member team running the auction: `<name>-auctioneer` and bidders `<name>-a`, `<name>-b`."""
    agents = [AgentSpec(name=f"{name}-auctioneer", role="auctioneer")]
    if bidders:
        agents += [AgentSpec(name=f"{name}-a", role="engineer"), AgentSpec(name=f"{name}-b", role="writer")]
    team = TeamSpec(name=name, lead=f"{name}-auctioneer", agents=tuple(agents))
    return AgentSpec(name=name, role="a market of bidders", pattern="auction", team=team)


def board(name: str) -> AgentSpec:
    """A member team on a blackboard: `<name>-x` and `<name>-y` write their own keys, its lead the goal."""
    team = TeamSpec(name=name, lead=f"{name}-lead", agents=(
        AgentSpec(name=f"{name}-lead", role="lead"),
        AgentSpec(name=f"{name}-x", role="analyst"),
        AgentSpec(name=f"{name}-y", role="critic"),
    ))
    return AgentSpec(name=name, role="a team on a blackboard", pattern="blackboard", team=team)


def org(*members: AgentSpec) -> TeamSpec:
    return TeamSpec(name="org", lead="lead", agents=(
        AgentSpec(name="lead", role="lead"), AgentSpec(name="researcher", role="researcher"), *members,
    ))


def script(*, declining: str = "", failing: str = ""):
    """The lead plans s1 (researcher) and one step per member team after it; auctioneers
    split into one lot; bidders whose name starts with `declining` decline; `failing`
    fails for good; everyone else answers "<agent> did it"."""

    def reply(request):
        agent = request.agent
        if agent == failing:
            return BROKEN
        if request.tool is None:
            return f"{agent} did it"
        if agent == "lead":
            return reply.plan
        if agent.endswith("-auctioneer"):
            return {"lots": [{"title": "All of it", "instructions": "do the subtask"}]}
        willing = not (declining and agent.startswith(declining))
        return {"willing": willing, "capability": 0.8 if agent.endswith("-a") else 0.5,
                "cost_estimate": 0.01, "rationale": "because"}

    return reply


def scripted(team: TeamSpec, **kwargs) -> ScriptedProvider:
    reply = script(**kwargs)
    members = [agent.name for agent in team.agents if agent.team is not None]
    reply.plan = plan_of(("s1", "researcher", []), *((f"s{i}", m, ["s1"]) for i, m in enumerate(members, 2)))
    return ScriptedProvider(reply)


def requests_of(provider: ScriptedProvider, agent: str, structured: bool | None = None) -> list[str]:
    return [r.messages[-1].text for r in provider.requests
            if r.agent == agent and (structured is None or (r.tool is not None) == structured)]


async def test_two_auctions_and_a_blackboard_nested_have_unique_scoped_step_ids():
    team = org(market("buyers"), market("sellers"), board("board"))
    ran = await run(scripted(team), pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    started = [e.step_id for e in ran.of("step.started")]
    assert len(started) == len(set(started))
    assert {"s2/buyers/lot1", "s3/sellers/lot1"} <= set(started)
    assert {"s4/board/c1:board-x", "s4/board/c1:board-y", "s4/board/c2:board-lead"} <= set(started)
    finished = {e.step_id: e.status for e in ran.of("step.finished")}
    assert all(status == "done" for status in finished.values()) and set(finished) == set(started)
    # Each model call names the scoped step it works on.
    work = next(e for e in ran.of("call.started") if e.agent == "buyers-a" and e.step_id)
    assert work.step_id == "s2/buyers/lot1"
    lead_call = next(e for e in ran.of("call.started") if e.agent == "board-lead")
    assert lead_call.step_id == "s4/board/c2:board-lead"


async def test_the_steps_inputs_reach_the_nested_patterns_first_calls_as_data():
    team = org(market("buyers"), board("board"))
    provider = scripted(team)
    ran = await run(provider, pattern="hierarchical", team=team)

    assert ran.finished.status == "completed"
    [split] = requests_of(provider, "buyers-auctioneer", structured=True)
    assert RESEARCH in split and "researcher did it" in split
    [winner_work] = requests_of(provider, "buyers-a", structured=False)
    assert RESEARCH in winner_work
    for contributor in ("board-x", "board-y"):  # they read the problem, so they get what it came with
        assert RESEARCH in requests_of(provider, contributor)[0]
    assert RESEARCH not in requests_of(provider, "board-lead")[0]  # it reads the board's keys


async def test_an_auction_whose_every_lot_fails_fails_only_its_step():
    team = org(market("buyers"), market("sellers"))
    policy = ApprovalPolicy(default="approve", triggers={"no_bid": "reject"})
    ran = await run(scripted(team, declining="buyers-"), pattern="hierarchical", team=team, policy=policy)

    assert ran.finished.status == "completed", ran.finished.reason
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2/buyers/lot1"].status == "error"
    assert outcome["s2"].status == "error" and "team buyers: every lot failed" in outcome["s2"].error
    assert outcome["s3"].status == "done" and outcome["s3/sellers/lot1"].status == "done"


async def test_an_auction_without_bidders_in_a_member_team_fails_only_its_step():
    team = org(market("buyers", bidders=False), market("sellers"))
    ran = await run(scripted(team), pattern="hierarchical", team=team)

    assert ran.finished.status == "completed"
    [error] = ran.of("error")
    assert error.error_type == "bad_request" and not error.fatal and error.agent == "buyers-auctioneer"
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2"].status == "error" and "at least one bidder" in outcome["s2"].error
    assert outcome["s3"].status == "done"


async def test_a_stalled_blackboard_in_a_member_team_fails_only_its_step():
    team = org(board("board"), market("buyers"))
    ran = await run(scripted(team, failing="board-x"), pattern="hierarchical", team=team)

    assert ran.finished.status == "completed", ran.finished.reason
    [stall] = ran.of(StallNote)
    assert "board-x" in stall.failed
    outcome = {e.step_id: e for e in ran.of("step.finished")}
    assert outcome["s2/board/c1:board-x"].status == "error"
    assert outcome["s2"].status == "error" and "team board: blackboard stalled" in outcome["s2"].error
    assert outcome["s3"].status == "done"

"""Auction: the task is split into lots; for each lot every bidder bids at once with a
capability and a cost estimate; the lowest cost per unit of capability wins and does the
lot; the auctioneer combines the lots' results.

Roles: the auctioneer is the team's lead (its first agent when no lead is named); every
other agent that calls a model bids (member teams do not).

Lots come from the `lots` option, or else from the auctioneer (a structured split into one
to four lots; lots repeating an earlier title are dropped). When the auctioneer returns a
single lot, or its split fails, the whole task is auctioned as one lot. Lots are auctioned
and worked on at the same time, each in its own span.

Bids (`Bid`): `capability` is on a 0..1 scale (0: cannot do it, 1: expert) and
`cost_estimate` is in US dollars of model usage. A bid is valid when the bidder is willing,
its capability is above `min_capability` and its cost is above zero; an invalid bid is
noted with the reason, and a bidder whose call fails for good has no bid. The winner has
the lowest cost / capability; ties go to the name that sorts first. If the winner's work
fails for good, the lot goes to the next valid bid in that order.

No valid bid escalates (trigger `no_bid`, payload an `Assignment`):
- approve, "Give the lot to the auctioneer": the auctioneer does it;
- edit, "Assign a bidder" (``{"agent": "<bidder>"}``, checked against the bidders): that
  bidder does it;
- reject, "Fail the lot": the lot ends with an error step and the others go on. When every
  lot fails, the auction fails, saying why each lot failed (in a member team, only its
  step fails).

With more than one lot, the auctioneer combines the results that came in (as labelled
data) and says what is missing; with one, the winner's result is the answer.

Pattern notes (`engine.notes`): a `LotsNote` with the lots to auction, a `BidNote` for
each bid, and an `AwardNote` each time a lot goes to someone (or to no one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.agents import AgentSpec
from engine.context import RunContext
from engine.approvals import Decision
from engine.events import Choice, StepFinished
from engine.formats import headline, money, plural
from engine.guards import CallFailedError, PatternStopped
from engine.notes import AwardNote, BidNote, LotsNote, LotTitle, Via
from engine.patterns.attempts import Attempt, Way, decide, in_order
from engine.patterns.orchestrator import unfinished
from engine.trust import AgentOutput

NAME = "auction"
TITLE = "Auction"
SUMMARY = "Agents bid on each part with capability and cost; the best value wins and does it; the auctioneer combines."
USE_WHEN = "Several agents could do the work at different quality and price, and you want the best value per part."

LotText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    lots: list[LotText] | None = Field(default=None, min_length=1, max_length=10)
    """The sub-tasks to auction, one per item; None lets the auctioneer split the task."""
    min_capability: float = Field(default=0.0, ge=0.0, lt=1.0)
    """A bid must claim more capability than this (on the 0..1 scale) to be valid."""


class Lot(BaseModel):
    """One part of the task, auctioned on its own."""

    title: str = Field(description="A few words naming the part")
    instructions: str = Field(description="What the winner must do and deliver")


class Lots(BaseModel):
    """The task split into lots that different bidders can each do independently."""

    lots: list[Lot] = Field(min_length=1, max_length=4)


class Bid(BaseModel):
    """A bid for one lot."""

    willing: bool = Field(description="Whether you bid for this lot at all")
    capability: float = Field(
        ge=0.0, le=1.0, description="How well you would do it, from 0 (not at all) to 1 (expertly)"
    )
    cost_estimate: float = Field(ge=0.0, description="What doing it would cost, in US dollars of model usage")
    rationale: str = Field(description="Why, in one or two sentences")


class Assignment(BaseModel):
    """The payload of a no_bid escalation; an edit names the bidder who does the lot."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    lot: int = 0
    title: str = ""
    bids: list[dict[str, Any]] = Field(default_factory=list)
    """Each bidder's bid and why it was not valid (context only)."""
    agent: str | None = None
    """The bidder to give the lot to."""


@dataclass(frozen=True)
class Offer:
    """One bidder's answer for a lot: its bid (None when the call failed) and why it is invalid."""

    agent: str
    bid: Bid | None
    problem: str | None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def score(self) -> float | None:
        """Dollars per unit of capability; lower is better."""
        if self.bid is None or not self.valid:
            return None
        return self.bid.cost_estimate / self.bid.capability


@dataclass(frozen=True)
class LotResult:
    index: int
    lot: Lot
    agent: str | None
    output: str | None
    error: str | None


@dataclass(frozen=True)
class Market:
    """Who takes part, and the rules of this auction."""

    task: str
    auctioneer: str
    bidders: tuple[AgentSpec, ...]
    min_capability: float
    total: int
    """How many lots there are."""


def problem_with(bid: Bid, min_capability: float) -> str | None:
    """Why a bid is not valid, or None when it is."""
    if not bid.willing:
        return "declined"
    if bid.capability <= min_capability:
        return f"capability {bid.capability:.2f} is not above the minimum {min_capability:.2f}"
    if bid.cost_estimate <= 0:
        return "a cost estimate must be more than zero"
    return None


def why_no_bid(offers: list[Offer]) -> str:
    """What became of the bids, in a few words: "3 declined, 1 made no bid"."""
    declined = sum(1 for o in offers if o.bid is not None and not o.bid.willing)
    missing = sum(1 for o in offers if o.bid is None)
    invalid = len(offers) - declined - missing
    parts = [f"{declined} declined" if declined else "", f"{invalid} invalid" if invalid else "",
             f"{missing} made no bid" if missing else ""]
    return ", ".join(p for p in parts if p) or "no bidders"


def ranked(offers: list[Offer]) -> list[Offer]:
    """The valid offers, best first: lowest cost per unit of capability, then by name."""
    return sorted((o for o in offers if o.valid), key=lambda o: (o.score, o.agent))


def split_prompt(task: str, bidders: tuple[AgentSpec, ...]) -> str:
    listed = "\n".join(f"- {b.name}: {b.skills()}" for b in bidders)
    return (
        f"Task: {task}\n\n"
        "Research, implementation, tests or documentation are typical of what one lot could be. "
        "Split the task along whatever lines suit it into one to four lots: parts that different "
        f"bidders could each do and deliver on their own. The bidders:\n{listed}\n\n"
        "Give each lot a short title and the instructions its winner needs. If the task does "
        "not split sensibly, return a single lot."
    )


def bid_prompt(market: Market, index: int, lot: Lot, bidder: AgentSpec) -> str:
    skills = ", ".join(bidder.capabilities) or bidder.role
    return (
        f"Task: {market.task}\n\n"
        f"Lot {index} of {market.total} is up for auction: {lot.title}\n{lot.instructions}\n\n"
        f"Your skills: {skills}. Bid for this lot: say whether you are willing to do it, how "
        "well you would do it (capability, from 0 to 1), what it would cost in US dollars of "
        "model usage, and why. The lowest cost per unit of capability wins; bid honestly, "
        "since the winner must deliver."
    )


def work_prompt(market: Market, index: int, lot: Lot) -> str:
    if market.total == 1:
        return (
            f"Task: {market.task}\n\nYou won the auction for this work: {lot.instructions}\n\n"
            "Do it and deliver the result."
        )
    return (
        f"Task: {market.task}\n\n"
        f"You won lot {index} of {market.total}: {lot.title}\n{lot.instructions}\n\n"
        "Do this part and deliver its result; other bidders do the other parts."
    )


async def make_lots(
    ctx: RunContext, task: str, auctioneer: str, bidders: tuple[AgentSpec, ...], given: list[str] | None
) -> list[Lot]:
    """The lots to auction, noted with where they came from."""
    whole = [Lot(title=headline(task), instructions=task)]
    if given is not None:
        lots, source = [Lot(title=headline(text), instructions=text) for text in given], "options"
    else:
        lots, source = whole, "whole_task"
        try:
            split = await ctx.span("lots").call(
                auctioneer, split_prompt(task, bidders), context=ctx.inputs, schema=Lots
            )
        except CallFailedError as error:
            await ctx.emit(
                LotsNote, agent=auctioneer, text=f"the split failed ({error.message}); the whole task is one lot",
                lots=[LotTitle(lot=1, title=whole[0].title)], source=source,
            )
            return whole
        distinct: dict[str, Lot] = {}
        for lot in split.lots:
            distinct.setdefault(lot.title.strip().lower(), lot)
        if len(distinct) > 1:
            lots, source = list(distinct.values()), "auctioneer"
    titles = "; ".join(f"{i}. {lot.title}" for i, lot in enumerate(lots, 1))
    await ctx.emit(
        LotsNote, agent=auctioneer, text=f"{plural(len(lots), 'lot')}: {titles}",
        lots=[LotTitle(lot=i, title=lot.title) for i, lot in enumerate(lots, 1)], source=source,
    )
    return lots


async def collect_bids(lot_ctx: RunContext, market: Market, index: int, lot: Lot) -> list[Offer]:
    """Every bidder's offer for the lot, asked for at the same time, each noted."""

    async def one(bidder: AgentSpec) -> Offer:
        bid_ctx = lot_ctx.span(f"bid:{bidder.name}")
        await bid_ctx.turn(bidder.name)
        try:
            bid = await bid_ctx.call(bidder.name, bid_prompt(market, index, lot, bidder), schema=Bid)
        except CallFailedError as error:
            offer = Offer(bidder.name, None, f"no bid: {error.message}")
        else:
            offer = Offer(bidder.name, bid, problem_with(bid, market.min_capability))
        await note_bid(bid_ctx, index, offer)
        return offer

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(bidder), name=f"lot:{index}/bid:{bidder.name}") for bidder in market.bidders]
    return [task.result() for task in tasks]


async def note_bid(ctx: RunContext, index: int, offer: Offer) -> None:
    bid = offer.bid
    if bid is None:
        text = f"lot {index}: {offer.agent} made no bid ({offer.problem})"
    elif not bid.willing:
        text = f"lot {index}: {offer.agent} declines"
    else:
        terms = f"capability {bid.capability:.2f}, {money(bid.cost_estimate)}"
        text = f"lot {index}: {offer.agent} bids {terms}" + (
            f" → {money(offer.score)} per unit" if offer.score is not None else f" (invalid: {offer.problem})"
        )
    await ctx.emit(
        BidNote, agent=offer.agent, text=text, lot=index,
        willing=bid.willing if bid else None,
        capability=bid.capability if bid else None,
        cost=bid.cost_estimate if bid else None,
        score=offer.score, valid=offer.valid, reason=offer.problem,
    )


async def note_award(
    ctx: RunContext, market: Market, index: int, lot: Lot, winner: str | None, *,
    score: float | None = None, via: Via | None = None, reason: str | None = None,
) -> None:
    if winner is None:
        text = f"lot {index}: no winner ({reason})"
    else:
        how = {
            "bid": f"lowest cost per unit, {money(score)}" if score is not None else "best bid",
            "runner_up": f"next best bid, {money(score)}" if score is not None else "next best bid",
            "auctioneer": "given to the auctioneer",
            "chosen": "assigned by decision",
        }[via or "bid"]
        text = f"lot {index} → {winner} ({how})"
    await ctx.emit(
        AwardNote, agent=market.auctioneer, text=text,
        lot=index, title=lot.title, winner=winner, score=score, via=via, reason=reason,
    )


async def do_lot(lot_ctx: RunContext, market: Market, index: int, lot: Lot, agent: str, local_id: str) -> str:
    """The winner's work on the lot, as a step; CallFailedError (after an error step) if it fails."""
    work_ctx = lot_ctx.span(f"work:{agent}")
    async with work_ctx.step(agent, local_id, f"lot {index}: {lot.title}") as step:
        step.output = await work_ctx.call(
            agent, work_prompt(market, index, lot), context=work_ctx.inputs, step_id=step.id
        )
        work_ctx.record_partial(f"lot {index} · {agent}: {lot.title}", step.output)
    return step.output


def assignment_check(market: Market) -> Callable[[object], Assignment]:
    """The check a no_bid edit must pass before it is accepted."""
    names = [b.name for b in market.bidders]

    def check(edited: object) -> Assignment:
        """An edit naming one of the bidders (alone, or in the whole payload)."""
        assignment = Assignment.model_validate(edited)
        if assignment.agent not in names:
            raise ValueError(f"agent must be one of the bidders: {', '.join(names)}")
        return assignment

    return check


async def no_bid(lot_ctx: RunContext, market: Market, index: int, lot: Lot, offers: list[Offer]) -> LotResult:
    """No valid bid came in: escalate, then act on the decision."""
    reason = f"no valid bid ({why_no_bid(offers)})"
    await note_award(lot_ctx, market, index, lot, None, reason=reason)
    payload = Assignment(
        lot=index, title=lot.title,
        bids=[{"agent": o.agent, "reason": o.problem} for o in offers],
    ).model_dump(mode="json")

    async def given(decision: Decision) -> LotResult:
        """To the auctioneer (approve), or to the bidder a person named (edit: the gate checked it)."""
        agent: str = market.auctioneer
        via: Via = "auctioneer"
        if decision.action == "edit":
            agent, via = decision.edited.agent, "chosen"
        await note_award(lot_ctx, market, index, lot, agent, via=via, reason=f"{reason}; decided by {decision.by}")
        try:
            output = await do_lot(lot_ctx, market, index, lot, agent, f"lot{index}")
        except CallFailedError as error:
            return LotResult(index, lot, agent, None, error.message)
        return LotResult(index, lot, agent, output, None)

    async def failed(decision: Decision) -> LotResult:
        error = f"lot {index} failed: {reason}, and it was not reassigned ({decision.reason or 'rejected'})"
        await lot_ctx.emit(
            StepFinished, agent=market.auctioneer, step_id=lot_ctx.step_id(f"lot{index}"), status="error", error=error
        )
        return LotResult(index, lot, None, None, error)

    return await decide(
        lot_ctx, "no_bid",
        f"{reason} for lot {index} ({lot.title}); "
        f"approve to give it to {market.auctioneer}, edit to assign a bidder, reject to fail the lot",
        payload, agent=market.auctioneer, validate=assignment_check(market),
        ways=(
            Way(Choice(id="auctioneer", label=f"Give the lot to {market.auctioneer}", action="approve"), given),
            Way(Choice(
                id="assign", label="Assign a bidder", action="edit", input="pick", field="agent",
                prompt="the bidder who does the lot", required=True, picks=[b.name for b in market.bidders],
            ), given),
            Way(Choice(id="fail", label="Fail the lot", action="reject", input="reason",
                       prompt="Why? (recorded with the lot)"), failed),
        ),
    )


async def auction_lot(ctx: RunContext, market: Market, index: int, lot: Lot) -> LotResult:
    """Bids, award and work for one lot: the best bid does it, else the next; no valid bid escalates."""
    lot_ctx = ctx.span(f"lot:{index}")
    offers = await collect_bids(lot_ctx, market, index, lot)
    order = ranked(offers)
    if not order:
        return await no_bid(lot_ctx, market, index, lot, offers)
    scores = {offer.agent: offer.score for offer in order}

    async def work(attempt: Attempt[CallFailedError]) -> str:
        before = attempt.previous
        why = None if before is None else f"{before.agent} could not do it: {before.message}"
        await note_award(lot_ctx, market, index, lot, attempt.agent, score=scores[attempt.agent],
                         via="bid" if attempt.first else "runner_up", reason=why)
        local_id = f"lot{index}" if attempt.first else f"lot{index}.{attempt.number}"
        return await do_lot(lot_ctx, market, index, lot, attempt.agent, local_id)

    tried = await in_order(list(scores), work)
    if not tried.done:
        return LotResult(index, lot, None, None, f"every valid bidder failed; last: {tried.last.message}")
    return LotResult(index, lot, tried.agent, tried.output, None)


def combine_prompt(task: str, failed: list[LotResult]) -> str:
    return f"Task: {task}\n\nCombine the results of the lots below into one answer to the task." + unfinished(
        [f"lot {r.index} ({r.lot.title}): {r.error}" for r in failed], "lots"
    )


async def run(ctx: RunContext, task: str, options: Options) -> str:
    auctioneer = ctx.lead().name
    bidders = tuple(ctx.team.direct_callers(auctioneer))
    if not bidders:
        await ctx.fail(
            f"an auction needs an auctioneer and at least one bidder; team {ctx.team.name} has only {auctioneer}",
            agent=auctioneer,
        )
    lots = await make_lots(ctx, task, auctioneer, bidders, options.lots)
    market = Market(task, auctioneer, bidders, options.min_capability, len(lots))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(auction_lot(ctx, market, i, lot), name=f"lot:{i}") for i, lot in enumerate(lots, 1)]
    results = [task.result() for task in tasks]
    done = [r for r in results if r.output is not None]
    failed = [r for r in results if r.output is None]
    if not done:
        reasons = "; ".join(f"lot {r.index}: {r.error}" for r in failed)
        raise PatternStopped("failed", f"every lot failed ({reasons})")
    if len(results) == 1:
        return done[0].output  # type: ignore[return-value]
    context = [
        *ctx.inputs,
        *(
            AgentOutput(r.agent or market.auctioneer, r.output or "", step=f"lot{r.index}", title=r.lot.title)
            for r in done
        ),
    ]
    return await ctx.span("combine").call(market.auctioneer, combine_prompt(task, failed), context=context)

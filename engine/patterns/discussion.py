"""Moderated discussion: panelists speak in rounds, each seeing the discussion so far; after
each round the moderator judges whether the panel has reached consensus; the discussion
stops at consensus or at the round limit, and the moderator writes the summary.

Roles: the moderator is the team's lead (its first agent when no lead is named); every
other agent that calls a model is a panelist (member teams do not take part).

Within a round panelists speak one after another, never at once, so each sees every
contribution made before theirs (as labelled data, never as instructions) and the
moderator's earlier verdicts. When the panel is a member team, every call (each turn,
each verdict, the summary) also sees what its step was handed (`ctx.inputs`). A panelist
whose call fails for good sits the round out; a verdict that cannot be had counts as
"no consensus". Reaching the round limit without consensus is not an error: the summary
says where the panel still disagrees. A team without panelists, or a discussion no
panelist could contribute to, fails (`PatternStopped`: in a member team, only its step).

Pattern notes (`engine.notes`): a `RoundNote` with the moderator's verdict after each
round, an `AbsentNote` for a panelist whose contribution failed, and a `DiscussionNote`
saying how it ended, before the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.agents import AgentSpec
from engine.context import RunContext
from engine.formats import plural
from engine.guards import CallFailedError, PatternStopped
from engine.notes import AbsentNote, DiscussionEnd, DiscussionNote, RoundNote
from engine.patterns.orchestrator import unfinished
from engine.trust import AgentOutput

NAME = "discussion"
TITLE = "Moderated discussion"
SUMMARY = "Panelists discuss in rounds; a moderator checks for consensus after each round and summarises."
USE_WHEN = "A decision needs several viewpoints weighed against each other before anyone commits."

Stopped = DiscussionEnd


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_rounds: int = Field(default=3, ge=1, le=10)
    """The discussion ends after this many rounds, with or without consensus."""
    order: Literal["fixed", "rotate"] = "rotate"
    """Who speaks first: "fixed" keeps the team's order every round; "rotate" moves the
    first speaker along by one each round, so no one always anchors the discussion."""


class Verdict(BaseModel):
    """The moderator's judgement of the discussion after a round."""

    consensus: bool = Field(
        description="True only when the panel agrees on a recommendation and no open point blocks it"
    )
    agreement: float = Field(ge=0.0, le=1.0, description="How far the panel agrees, from 0 (not at all) to 1 (fully)")
    summary: str = Field(description="Where the panel stands, in two or three sentences")
    open_points: list[str] = Field(description="Points still disputed or unanswered; empty when none")


@dataclass(frozen=True)
class Panel:
    moderator: str
    panelists: tuple[AgentSpec, ...]


async def panel_of(ctx: RunContext) -> Panel:
    """The moderator and the panelists, in the team's order; the pattern fails if there are none."""
    moderator = ctx.lead().name
    panelists = tuple(ctx.team.direct_callers(moderator))
    if not panelists:
        await ctx.fail(
            f"a discussion needs a moderator and at least one panelist; team {ctx.team.name} has only {moderator}",
            agent=moderator,
        )
    return Panel(moderator, panelists)


def speaking_order(panelists: tuple[AgentSpec, ...], round_no: int, order: str) -> list[AgentSpec]:
    """Who speaks when in round `round_no` (1-based)."""
    if order == "fixed":
        return list(panelists)
    shift = (round_no - 1) % len(panelists)
    return list(panelists[shift:] + panelists[:shift])


def verdict_text(verdict: Verdict) -> str:
    """A verdict as text, for the panelists and the moderator to read in later rounds."""
    lines = [
        f"Consensus: {'yes' if verdict.consensus else 'no'} (agreement {verdict.agreement:.0%})",
        verdict.summary,
    ]
    if verdict.open_points:
        lines += ["Open points:", *(f"- {point}" for point in verdict.open_points)]
    return "\n".join(lines)


def contribution_prompt(
    task: str, panel: Panel, speaker: AgentSpec, round_no: int, max_rounds: int, first: bool
) -> str:
    others = ", ".join(f"{p.name} ({p.role})" for p in panel.panelists if p.name != speaker.name)
    prompt = (
        f"Topic: {task}\n\n"
        f"You are on a panel with {others}, moderated by {panel.moderator}. "
        f"This is round {round_no} of at most {max_rounds}. "
        f"Give your view as {speaker.role}, in a few short paragraphs."
    )
    if first:
        return prompt + " You speak first: set out your position and the reasons for it."
    return prompt + (
        " Read the discussion so far below. Say where you agree, where you disagree and why, "
        "answer any open points the moderator listed, and move the panel towards a "
        "recommendation everyone can accept."
    )


def verdict_prompt(task: str, round_no: int, max_rounds: int) -> str:
    return (
        f"Topic: {task}\n\n"
        f"Round {round_no} of at most {max_rounds} has ended. Judge the discussion so far (below). "
        "Set consensus to true only if the panel agrees on a recommendation and no open point "
        "blocks it. Rate the agreement from 0 (none) to 1 (full), summarise where the panel "
        "stands, and list the points that are still open."
    )


def summary_prompt(task: str, stopped: Stopped, rounds: int, absent: Sequence[str] = ()) -> str:
    held = plural(rounds, "round")
    if stopped == "consensus":
        ask = (
            f"The panel reached consensus after {held}. Write the final summary for the person "
            "who asked: the agreed recommendation, the reasons behind it, and any caveats a "
            "panelist raised."
        )
    elif stopped == "round_limit":
        ask = (
            f"The panel did not reach consensus within {held}, the limit. Write the final "
            "summary: what the panel agrees on, where it still disagrees (each open point with "
            "each side's position), and what would settle it."
        )
    else:
        ask = (
            f"The discussion ended after {held} because no panelist could contribute to the last "
            "round. Write the final summary from what was said, and say that the discussion was "
            "cut short."
        )
    return f"Topic: {task}\n\n{ask}" + unfinished(list(absent), "contributions")


async def contribute(
    round_ctx: RunContext, task: str, panel: Panel, speaker: AgentSpec, round_no: int, position: int,
    max_rounds: int, record: list[AgentOutput], absent: list[str],
) -> AgentOutput | None:
    """One panelist's turn: their contribution, or None when their call failed for good
    (and a line in `absent` saying so, for the summary)."""
    local_id = f"r{round_no}.{position}"
    prompt = contribution_prompt(task, panel, speaker, round_no, max_rounds, first=not record)
    try:
        async with round_ctx.step(speaker.name, local_id, f"round {round_no}: {speaker.name}") as step:
            step.output = await round_ctx.call(
                speaker.name, prompt, context=[*round_ctx.inputs, *record], step_id=step.id
            )
            round_ctx.record_partial(f"round {round_no} · {speaker.name}", step.output)
    except CallFailedError as error:
        await round_ctx.emit(
            AbsentNote, agent=speaker.name,
            text=f"round {round_no}: {speaker.name} could not contribute ({error.message}); "
            "the round goes on without them",
            round=round_no, error=error.message,
        )
        absent.append(f"round {round_no}: {speaker.name} ({error.message})")
        return None
    return AgentOutput(speaker.name, step.output, step=local_id, title=f"round {round_no}")


async def judge(
    round_ctx: RunContext, task: str, moderator: str, round_no: int, max_rounds: int,
    record: list[AgentOutput], speakers: list[str],
) -> Verdict | None:
    """The moderator's verdict on the round (None when it could not be had), noted either way."""
    try:
        verdict = await round_ctx.call(
            moderator, verdict_prompt(task, round_no, max_rounds), context=[*round_ctx.inputs, *record],
            schema=Verdict,
        )
    except CallFailedError as error:
        await round_ctx.emit(
            RoundNote, agent=moderator,
            text=f"round {round_no}: no verdict ({error.message}); counted as no consensus",
            round=round_no, consensus=False, agreement=None, open_points=[], summary="", speakers=speakers,
            error=error.message,
        )
        return None
    state = "consensus" if verdict.consensus else "no consensus"
    still_open = f", {plural(len(verdict.open_points), 'open point')}" if verdict.open_points else ""
    await round_ctx.emit(
        RoundNote, agent=moderator,
        text=f"round {round_no}: {state} (agreement {verdict.agreement:.0%}{still_open})",
        round=round_no, consensus=verdict.consensus, agreement=verdict.agreement,
        open_points=verdict.open_points, summary=verdict.summary, speakers=speakers,
    )
    round_ctx.record_partial(f"round {round_no} · {moderator}'s verdict", verdict_text(verdict))
    return verdict


async def run(ctx: RunContext, task: str, options: Options) -> str:
    panel = await panel_of(ctx)
    record: list[AgentOutput] = []  # the discussion so far, in order: contributions and verdicts
    absent: list[str] = []  # the turns that failed
    stopped: Stopped = "round_limit"
    rounds = 0
    for round_no in range(1, options.max_rounds + 1):
        round_ctx = ctx.span(f"round:{round_no}")
        rounds = round_no
        speakers: list[str] = []
        for position, speaker in enumerate(speaking_order(panel.panelists, round_no, options.order), 1):
            said = await contribute(
                round_ctx, task, panel, speaker, round_no, position, options.max_rounds, record, absent
            )
            if said is not None:
                speakers.append(speaker.name)
                record.append(said)
        if not speakers:
            stopped = "no_contributions"
            break
        verdict = await judge(round_ctx, task, panel.moderator, round_no, options.max_rounds, record, speakers)
        if verdict is not None:
            record.append(AgentOutput(panel.moderator, verdict_text(verdict), title=f"verdict after round {round_no}"))
            if verdict.consensus:
                stopped = "consensus"
                break

    if not record:
        raise PatternStopped("failed", "no panelist could contribute to the discussion")
    endings = {
        "consensus": f"consensus after {plural(rounds, 'round')}",
        "round_limit": f"no consensus after {plural(rounds, 'round')}, the limit",
        "no_contributions": f"no panelist could contribute to round {rounds}",
    }
    await ctx.emit(
        DiscussionNote, agent=panel.moderator, text=f"discussion ends: {endings[stopped]}", stopped=stopped, rounds=rounds,
    )
    summary_ctx = ctx.span("summary")
    return await summary_ctx.call(
        panel.moderator, summary_prompt(task, stopped, rounds, absent), context=[*ctx.inputs, *record]
    )

"""Producer and reviewer: the producer drafts, the reviewer returns a structured verdict,
and the producer revises with the issues until the draft is approved or the revisions
allowed run out.

Roles: the reviewer is the team's lead (its last agent when no lead is named); the
producer is the first other agent that calls a model.

A rejecting review reaches the producer through the `review` handoff contract (the
`Review` model, with the policy's confidence threshold): a review the reviewer is
unsure of is an escalation point: a person may pass it on, edit it, or refuse it (the
draft then stands as the result, marked as not approved). The producer sees its previous
draft and the review as labelled data, never as instructions.

When the draft is still rejected after the last allowed revision, the session escalates
(trigger `reviewer_deadlock`, payload a `Deadlock`):

- `accept` (approve), "Accept as best effort": the last draft is the result, with a note
  above it saying it was not approved and listing the open issues;
- `revise` (edit), "Allow one more revision", with optional guidance typed for it (the edit
  is ``{"guidance": "..."}``, or nothing): the producer revises once more, with the
  guidance, and the reviewer reviews again; a still-rejected draft escalates again. A person
  may grant at most `MAX_EXTRA_REVISIONS` this way, after which only accept and stop remain;
- `stop` (reject), "Stop": the loop stops (the session, or a member team's step), keeping
  the last draft and its review as the partial result.

A call that fails for good escalates the same way instead of ending the session: a failed
review offers "Accept the unreviewed draft" / "Review it again" / "Stop"; a failed revision
offers to accept the last (rejected) draft, to try the revision again, or to stop. Only a
failed first draft ends the session at once, since there is nothing to review.

Pattern notes (`engine.notes`): a `ReviewNote` for each review (or its failure), and an
`OutcomeNote` saying how the loop ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from engine.approvals import Decision
from engine.context import RunContext
from engine.events import Choice
from engine.formats import plural
from engine.guards import CallFailedError, PatternStopped
from engine.handoffs import HandoffContract, HandoffRejected
from engine.notes import OutcomeNote, ReviewNote, ReviewOutcome
from engine.patterns.attempts import Way, decide
from engine.trust import AgentOutput

NAME = "review"
TITLE = "Producer and reviewer"
SUMMARY = "A producer drafts; a reviewer approves or lists issues; the producer revises until approved."
USE_WHEN = "The result must pass a quality bar, and a second pair of eyes catches what the author misses."

MAX_EXTRA_REVISIONS = 10
"""How many revisions beyond `max_revisions` a person may grant, one escalation at a time."""


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_revisions: int = Field(default=2, ge=0, le=10)
    """How many times the producer may revise a rejected draft before the deadlock escalates."""


class Review(BaseModel):
    """The reviewer's verdict on one draft."""

    approved: bool = Field(description="True if the draft is ready as it is")
    issues: list[str] = Field(description="Each thing the author must fix; empty when approved")
    summary: str = Field(description="The verdict in one or two sentences")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are of this verdict")


REVIEW_HANDOFF = HandoffContract("review", schema=Review)
"""A rejecting review on its way to the producer; under the policy's confidence threshold it escalates."""


class Deadlock(BaseModel):
    """The payload of a reviewer_deadlock escalation. An "Allow one more revision" edit may set
    `guidance`, alone (``{"guidance": "..."}``) or in the whole payload; the rest is context."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    revision: int = 0
    """The draft that is not approved (0: the first draft)."""
    reviewed: bool = True
    """False when the review itself failed."""
    issues: list[str] = Field(default_factory=list)
    summary: str | None = None
    guidance: str | None = None
    """Extra guidance for the producer's next revision."""


@dataclass(frozen=True)
class Pair:
    producer: str
    reviewer: str


async def pair_of(ctx: RunContext) -> Pair:
    """Who produces and who reviews; `ctx.fail` when the team cannot fill both roles."""
    team = ctx.team
    callers = [a.name for a in team.direct_callers()]
    reviewer = team.lead if team.lead in callers else (callers[-1] if callers else None)
    producers = [name for name in callers if name != reviewer]
    if reviewer is None or not producers:
        await ctx.fail(
            f"the review pattern needs a producer and a reviewer; team {team.name} has {len(callers)} agent(s)"
        )
    return Pair(producers[0], reviewer)


def draft_label(revision: int) -> str:
    return "the first draft" if revision == 0 else f"revision {revision}"


def review_text(review: Review) -> str:
    """A review as text, for the producer (and the reviewer, next time) to read."""
    lines = [f"Verdict: {'approved' if review.approved else 'changes requested'}", review.summary]
    if review.issues:
        lines += ["Issues:", *(f"- {issue}" for issue in review.issues)]
    return "\n".join(lines)


def draft_prompt(task: str, revision: int, guidance: str | None) -> str:
    if revision == 0:
        return f"Task: {task}\n\nWrite a complete draft for this task. A reviewer will check it before it is accepted."
    prompt = (
        f"Task: {task}\n\n"
        f"Write revision {revision} of your draft: fix every issue in the review below, keep "
        "what works, and give the whole revised draft, not only the changes."
    )
    if guidance:
        prompt += f"\n\nGuidance from the person supervising this session: {guidance}"
    return prompt


def review_prompt(task: str, revision: int) -> str:
    prompt = (
        f"Task: {task}\n\n"
        f"Review {draft_label(revision)} below against the task. Approve it only if it is ready as "
        "it is; otherwise list each issue the author must fix, one per item."
    )
    if revision > 0:
        prompt += " Your previous review is included: check whether its issues were addressed."
    return prompt


def validate_deadlock_edit(edited: object) -> Deadlock:
    """An edit of the deadlock payload: an object whose only editable field is `guidance`."""
    return Deadlock() if edited is None else Deadlock.model_validate(edited)


def guidance_of(decision: Decision) -> str | None:
    edited = decision.edited
    guidance = edited.guidance if isinstance(edited, Deadlock) else None
    return (guidance.strip() or None) if guidance else None


def count_issues(review: Review) -> str:
    return plural(len(review.issues), "issue") if review.issues else "no issues listed"


def marked(draft: str, head: str, review: Review | None) -> str:
    """A draft the reviewer did not approve, with a note saying so above it."""
    lines = [f"> {head}"]
    if review is not None and review.issues:
        lines += ["> Open issues:", *(f"> - {issue}" for issue in review.issues)]
    return "\n".join(lines) + f"\n\n{draft}"


class ReviewLoop:
    """The state of one producer/reviewer loop: the current draft, its review, the limits."""

    def __init__(self, ctx: RunContext, pair: Pair, task: str, max_revisions: int) -> None:
        self.ctx = ctx
        self.pair = pair
        self.task = task
        self.allowed = max_revisions
        """Revisions the producer may make; a person raises it one at a time."""
        self.granted = 0
        """Extra attempts a person has granted (at most MAX_EXTRA_REVISIONS)."""
        self.draft = ""
        self.revision = 0
        """Which revision `draft` is (0: the first draft)."""
        self.draft_step = ""
        self.review_step = ""
        """The (local) ids of the steps that wrote `draft` and the newest review."""
        self.kept: dict[bool, str] = {}
        """The partial-result label of the newest draft (True) and of its review (False)."""
        self.writes = 0
        self.reviews = 0
        """Calls started per role, so a retried draft or review gets spans and step ids of its own."""

    def keep(self, label: str, text: str, *, draft: bool = True) -> None:
        """Keep the newest draft (and its review) for a stopped session; older ones are superseded."""
        label = self.ctx.scope + label  # two member teams' drafts stay apart
        for kind in (True, False) if draft else (False,):
            if kind in self.kept:
                self.ctx.drop_partial(self.kept.pop(kind))
        self.kept[draft] = label
        self.ctx.record_partial(label, text)

    def draft_output(self) -> AgentOutput:
        """The current draft, as data for the next call."""
        return AgentOutput(
            self.pair.producer, self.draft, step=self.ctx.step_id(self.draft_step), title=draft_label(self.revision)
        )

    def review_output(self, review: Review, title: str) -> AgentOutput:
        """The newest review, as data for the next call."""
        return AgentOutput(self.pair.reviewer, review_text(review), step=self.ctx.step_id(self.review_step), title=title)

    # -- the two kinds of work ----------------------------------------------

    async def write(self, revision: int, context: list[AgentOutput], guidance: str | None) -> None:
        """Make `revision` the current draft; CallFailedError (after a step error) if the producer fails."""
        producer = self.pair.producer
        n = self.writes
        self.writes += 1
        step_ctx = self.ctx.span(f"draft:{n}")
        title = draft_label(revision) if n == revision else f"{draft_label(revision)}, again"
        async with step_ctx.step(producer, f"d{n}", title) as step:
            step.output = await step_ctx.call(
                producer, draft_prompt(self.task, revision, guidance), context=[*self.ctx.inputs, *context],
                step_id=step.id,
            )
            self.keep(f"{draft_label(revision)} · {producer}", step.output)
        self.draft, self.revision, self.draft_step = step.output, revision, f"d{n}"

    async def review(self, previous: Review | None) -> Review | CallFailedError:
        """The reviewer's verdict on the current draft, or the error when the review failed for good."""
        reviewer, revision = self.pair.reviewer, self.revision
        n = self.reviews
        self.reviews += 1
        step_ctx = self.ctx.span(f"review:{n}")
        label = draft_label(revision)
        context = [*self.ctx.inputs, self.draft_output()]
        if previous is not None:
            context.append(self.review_output(previous, "your previous review"))
        try:
            async with step_ctx.step(reviewer, f"r{n}", f"review of {label}", depends_on=[self.draft_step]) as step:
                review = await step_ctx.call(
                    reviewer, review_prompt(self.task, revision), context=context, schema=Review, step_id=step.id
                )
                step.output = review_text(review)
                self.keep(f"review of {label} · {reviewer}", step.output, draft=False)
        except CallFailedError as error:
            await step_ctx.emit(
                ReviewNote, agent=reviewer, text=f"{label}: no review ({error.message})",
                revision=revision, approved=False, issues=[], error=error.message,
            )
            return error
        self.review_step = f"r{n}"
        verdict = "approved" if review.approved else f"changes requested ({count_issues(review)})"
        await step_ctx.emit(
            ReviewNote, agent=reviewer, text=f"{label}: {verdict}", revision=revision, approved=review.approved,
            issues=review.issues, summary=review.summary, confidence=review.confidence,
        )
        return review

    # -- decisions ------------------------------------------------------------

    async def decide(self, why: str, review: Review | None) -> tuple[str | None, str | None]:
        """Ask what to do with a draft that cannot (yet) be approved (trigger reviewer_deadlock).

        Returns the result when the draft is accepted as it is; else None and the person's
        guidance for one more try. Raises `PatternStopped` when they choose to stop.
        """
        if review is None:
            accept = Choice(id="accept", label="Accept the unreviewed draft", action="approve")
            again = Choice(id="review_again", label="Review it again", action="edit")
        else:
            accept = Choice(id="accept", label="Accept as best effort", action="approve")
            again = Choice(
                id="revise", label="Allow one more revision", action="edit", input="text", field="guidance",
                prompt="guidance for the revision (optional)",
            )
        label = draft_label(self.revision)

        async def accepted(decision: Decision) -> tuple[str | None, str | None]:
            if review is None:
                await self.finish("unreviewed", f"{label} accepted unreviewed")
                head = f"Unreviewed: the review of {label} failed; accepted as it is by {decision.by}."
                return marked(self.draft, head, None), None
            await self.finish("best_effort", f"{label} accepted as best effort, not approved")
            head = (
                f"Not approved: the reviewer still requests changes to {label}; "
                f"accepted as best effort by {decision.by}."
            )
            return marked(self.draft, head, review), None

        async def once_more(decision: Decision) -> tuple[str | None, str | None]:
            self.granted += 1
            return None, guidance_of(decision)

        async def stopped(decision: Decision) -> tuple[str | None, str | None]:
            await self.finish("stopped", f"stopped with {label} not approved")
            raise PatternStopped("stopped", f"{label} was not approved and the review loop was stopped")

        ways = [Way(accept, accepted)]
        if self.granted < MAX_EXTRA_REVISIONS:
            ways.append(Way(again, once_more))
        ways.append(Way(Choice(id="stop", label="Stop", action="reject"), stopped))
        payload = Deadlock(
            revision=self.revision,
            reviewed=review is not None,
            issues=review.issues if review is not None else [],
            summary=review.summary if review is not None else None,
        ).model_dump(mode="json")
        return await decide(
            self.ctx.span(f"deadlock:{self.writes}.{self.reviews}"), "reviewer_deadlock", why, payload,
            agent=self.pair.reviewer, validate=validate_deadlock_edit, ways=ways,
        )

    async def finish(self, status: ReviewOutcome, text: str) -> None:
        await self.ctx.emit(
            OutcomeNote, agent=self.pair.reviewer, text=text,
            status=status, revisions=self.revision, approved=status == "approved",
        )

    # -- the loop -------------------------------------------------------------

    async def run(self) -> str:
        await self.write(0, [], None)  # no first draft, nothing to review: the failure ends the loop
        previous: Review | None = None
        # Each pass reviews one draft, then returns, raises, or makes one revision. Revisions
        # stop at `allowed`, which only a person raises (at most MAX_EXTRA_REVISIONS times).
        while True:
            reviewed = await self.review(previous)
            label = draft_label(self.revision)
            if isinstance(reviewed, CallFailedError):
                why = f"{self.pair.reviewer} could not review {label} ({reviewed.message}); the draft is unreviewed"
                result, _ = await self.decide(why, None)
                if result is not None:
                    return result
                continue  # review it again, as a person asked
            review = reviewed
            if review.approved:
                await self.finish("approved", f"{label} approved")
                return self.draft
            guidance: str | None = None
            if self.revision < self.allowed:
                try:
                    review = await self.ctx.span(f"handoff:{self.revision}").handoff(
                        REVIEW_HANDOFF, review, from_agent=self.pair.reviewer, to_agent=self.pair.producer
                    )
                except HandoffRejected as refused:
                    await self.finish("set_aside", f"the review of {label} was refused; {label} stands")
                    return marked(
                        self.draft,
                        f"Not approved: the reviewer's low-confidence rejection of {label} was refused "
                        f"({refused.reason}), so {label} stands as it is.",
                        review,
                    )
                if review.approved:  # a person edited the verdict into an approval
                    await self.finish("approved", f"{label} approved (review edited)")
                    return self.draft
            else:
                why = (
                    f"{self.pair.reviewer} still requests changes after {plural(self.revision, 'revision')}, "
                    f"the limit ({count_issues(review)})"
                )
                result, guidance = await self.decide(why, review)
                if result is not None:
                    return result
                self.allowed += 1
            result = await self.revise(review, guidance)
            if result is not None:
                return result
            previous = review

    async def revise(self, review: Review, guidance: str | None) -> str | None:
        """Write the next revision from the draft and its review. When the producer fails for
        good, escalate: a person may accept the last draft, try once more, or stop. Returns a
        final result when the loop ends here, None when there is a new draft to review."""
        context = [self.draft_output(), self.review_output(review, f"review of {draft_label(self.revision)}")]
        target = self.revision + 1
        while True:  # bounded: each retry is a person's grant, at most MAX_EXTRA_REVISIONS
            try:
                await self.write(target, context, guidance)
                return None
            except CallFailedError as error:
                why = (
                    f"{self.pair.producer} could not write {draft_label(target)} ({error.message}); "
                    f"{draft_label(self.revision)} is the last draft and it is not approved"
                )
                result, more = await self.decide(why, review)
                if result is not None:
                    return result
                guidance = more or guidance


async def run(ctx: RunContext, task: str, options: Options) -> str:
    return await ReviewLoop(ctx, await pair_of(ctx), task, options.max_revisions).run()

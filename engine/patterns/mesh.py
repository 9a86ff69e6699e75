"""Peer mesh: peers with different capabilities ask each other for help; no one coordinates.

The entry peer receives the task. Every peer that gets a request first assesses it
(a structured `Assessment`: answer alone, or ask for help by capability; requests
listed beside `answer_myself` are ignored), then writes its answer with the helpers'
replies as data. Requests are routed by capability to a
peer that is neither the asker nor anyone already in the delegation chain (the guard
against circular delegation); a peer already handling `capacity` requests declines at
once (a counter, not a queue: nobody waits) and the next peer with that capability is
asked. A peer `hop_limit` hops from the entry asks no further. Every such stop is a
note, never silent, and the asker carries on without that help. Helpers asked by one
peer work concurrently, each in its own span. A helper's reply is a handoff under a
contract (a non-empty answer; the helper's confidence from its assessment): an invalid
reply is an error and is dropped, a low-confidence one is an escalation point
(approve: use it, edit: use the edited answer, reject: drop it). The entry peer's
answer is the result. When the mesh is a member team, the entry peer (and only it:
helpers see the question they were asked) also gets what its step was handed
(`ctx.inputs`), for its assessment and its answer.

Requests and replies travel as `AgentMessage` events (the message bus the live
screen shows). Pattern notes (`engine.notes`): a `RequestNote` when a peer asks another,
a `DeclineNote` when a peer at capacity declines, and a `MeshStopNote` when delegation
stops (the hop limit, a loop, no peer, every peer at capacity).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from engine.context import RunContext
from engine.events import AgentMessage
from engine.formats import headline
from engine.guards import CallFailedError, StopSession, leaves
from engine.handoffs import HandoffContract, HandoffError
from engine.notes import DeclineNote, MeshStopNote, PatternNote, RequestNote
from engine.patterns.orchestrator import unfinished
from engine.trust import AgentOutput

NAME = "mesh"
TITLE = "Peer mesh"
SUMMARY = (
    "Peers ask each other for help by capability over the message bus, with hop limits, "
    "capacity and a loop guard; the entry peer answers."
)
USE_WHEN = "The task needs several specialities and no one can say in advance who will need whom."


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    entry: str | None = None
    """The peer who receives the task and writes the result (None: the team's first agent)."""
    hop_limit: int = Field(default=2, ge=0, le=5)
    """How many hops from the entry peer a request may travel; a peer that far asks no one."""
    capacity: int = Field(default=1, ge=1, le=8)
    """How many requests a peer handles at once; one more is declined, not queued."""
    max_requests: int = Field(default=2, ge=0, le=5)
    """At most this many requests for help per assessment."""
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """A helper's reply below this confidence is an escalation point (None: the policy's threshold)."""


class HelpRequest(BaseModel):
    """One request for help: the capability needed and the question for whoever has it."""

    capability: str = Field(description="The capability needed, from the peers' list")
    question: str = Field(description="What to ask the peer, self-contained")


class Assessment(BaseModel):
    """Whether you can answer alone, and if not, whose help you need."""

    answer_myself: bool = Field(description="True when you need no help")
    requests: list[HelpRequest] = Field(description="Requests for help (ignored when answer_myself)")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are your answer will be good")


def assessment_schema(capabilities: Sequence[str], max_requests: int) -> type[Assessment]:
    """`Assessment` with `capability` narrowed to the team's capabilities.

    A dynamic Literal (an enum in the schema) rather than free text: forced tool use
    (and the simulated provider) then name a capability someone on the team has, and
    routing needs no fuzzy matching. A need nobody can meet still shows: asking for a
    capability only the asker itself has is a "no_peer" stop.
    """
    capability = Literal[tuple(capabilities)]  # type: ignore[valid-type]
    request = create_model(
        "HelpRequest", __base__=HelpRequest, __doc__=HelpRequest.__doc__,
        capability=(capability, Field(description="The capability needed, from the peers' list")),
    )
    return create_model(  # type: ignore[call-overload, no-any-return]
        "Assessment", __base__=Assessment, __doc__=Assessment.__doc__,
        requests=(
            list[request],  # type: ignore[valid-type]
            Field(max_length=max_requests, description="Requests for help (ignored when answer_myself)"),
        ),
    )


class HelpReply(BaseModel):
    """The handoff contract for a helper's reply to the peer that asked."""

    helper: str
    capability: str
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)


@dataclass
class Answer:
    """A peer's answer to a request, with how sure it said it would be."""

    text: str
    confidence: float | None


@dataclass
class Mesh:
    """One run of the mesh: the peers, their load, and the rules."""

    options: Options
    capabilities: dict[str, tuple[str, ...]]
    """Each peer's capabilities, in team order."""
    schema: type[Assessment]
    contract: HandoffContract
    active: dict[str, int] = field(default_factory=dict)
    """Requests each peer is handling now (capacity is checked against this)."""

    def roster(self, peer: str) -> str:
        mine = ", ".join(self.capabilities[peer]) or "none"
        others = "\n".join(
            f"- {name}: {', '.join(caps)}" for name, caps in self.capabilities.items() if name != peer and caps
        )
        return f"You are {peer}; your capabilities: {mine}.\nYour peers and their capabilities:\n{others}"

    async def note(self, ctx: RunContext, kind: type[PatternNote], agent: str, text: str, **fields: object) -> None:
        await ctx.emit(kind, agent=agent, text=text, **fields)

    async def consult(
        self,
        ctx: RunContext,
        peer: str,
        question: str,
        chain: tuple[str, ...],
        local_id: str,
        title: str,
        requester: str | None = None,
        capability: str | None = None,
    ) -> Answer:
        """`peer` handles one request (the task itself when `requester` is None): assess,
        gather help, answer, all in one step. Raises `CallFailedError` when its answer
        fails for good (after its step is marked as an error)."""
        material = ctx.inputs if requester is None else ()  # a helper sees only its question
        async with ctx.step(peer, local_id, title) as step:
            assessment = await self.assess(ctx, peer, question, material, step.id)
            helps: list[AgentOutput] = []
            missing: list[str] = []
            if assessment is not None and not assessment.answer_myself and assessment.requests:
                helps, missing = await self.gather(ctx, peer, chain, assessment.requests, local_id)
            if requester is None:
                prompt = f"Task: {question}\n\nWrite the final answer to the task."
            else:
                prompt = (
                    f"{question}\n\n({requester} asks you this as the one who knows about {capability}: "
                    "answer it for them.)"
                )
            if helps:
                prompt += "\n\nUse the results below from the team."
            prompt += unfinished(missing, "requests for help")
            step.output = await ctx.span("answer").call(peer, prompt, context=[*material, *helps], step_id=step.id)
            ctx.record_partial(f"{step.id} · {peer}: {title}", step.output)
        return Answer(step.output, assessment.confidence if assessment is not None else None)

    async def assess(
        self, ctx: RunContext, peer: str, question: str, material: Sequence[AgentOutput], step_id: str
    ) -> Assessment | None:
        """Whether `peer` needs help with `question`; None when its assessment failed (it
        answers alone: the failure is on record)."""
        prompt = (
            f"Request: {question}\n\n{self.roster(peer)}\n\n"
            "Decide whether you can answer this well on your own. If you can, set "
            f"answer_myself. If not, list up to {self.options.max_requests} requests for help, "
            "each naming one capability from the lists above and a self-contained question "
            "for the peer who has it. Rate how sure you are that your answer will be good."
        )
        try:
            return await ctx.span("assess").call(peer, prompt, context=material, schema=self.schema, step_id=step_id)
        except CallFailedError:
            return None

    async def gather(
        self, ctx: RunContext, requester: str, chain: tuple[str, ...], requests: Sequence[HelpRequest], local_id: str
    ) -> tuple[list[AgentOutput], list[str]]:
        """The helpers' replies to `requester`: route each request (in order), then let the
        helpers work concurrently. None past the hop limit (a stop note says so). Also, the
        routed requests that got no usable reply, and why, for the requester's answer."""
        hop = len(chain) - 1
        if hop >= self.options.hop_limit:
            wanted = sorted({r.capability for r in requests})
            await self.note(
                ctx, MeshStopNote, requester,
                f"{requester} is {hop} hops from {chain[0]} (limit {self.options.hop_limit}): "
                f"no further asks for {', '.join(wanted)}; it answers alone",
                reason="hop_limit", requester=requester, chain=list(chain), capabilities=wanted,
            )
            return [], []
        routed: list[tuple[int, HelpRequest, str]] = []
        for index, request in enumerate(requests[: self.options.max_requests], start=1):
            helper = await self.route(ctx, requester, chain, request)
            if helper is not None:
                routed.append((index, request, helper))
        if not routed:
            return [], []
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self.ask(ctx, requester, chain, request, helper, index, f"{local_id}.{index}"))
                    for index, request, helper in routed
                ]
        except ExceptionGroup as group:
            # A session stop is not this step's failure: let it through as itself.
            stop = next((e for e in leaves(group) if isinstance(e, StopSession)), None)
            if stop is None:
                raise
            raise stop from None
        replies = [task.result() for task in tasks]
        helps = [reply for reply in replies if isinstance(reply, AgentOutput)]
        missing = [
            f"{request.capability} from {helper}: {reply}"
            for (_, request, helper), reply in zip(routed, replies, strict=True) if isinstance(reply, str)
        ]
        return helps, missing

    async def route(self, ctx: RunContext, requester: str, chain: tuple[str, ...], request: HelpRequest) -> str | None:
        """The peer who takes the request (its load counted), or None after a stop note."""
        capability = request.capability
        holders = [p for p, caps in self.capabilities.items() if capability in caps and p != requester]
        if not holders:
            await self.note(
                ctx, MeshStopNote, requester, f"no peer other than {requester} has {capability}; it carries on without that help",
                reason="no_peer", requester=requester, chain=list(chain), capability=capability,
            )
            return None
        candidates = [p for p in holders if p not in chain]
        if not candidates:
            await self.note(
                ctx, MeshStopNote, requester,
                f"asking {', '.join(holders)} for {capability} would close a loop "
                f"({' → '.join(chain)}); {requester} carries on without that help",
                reason="circular", requester=requester, chain=list(chain), capability=capability, holders=holders,
            )
            return None
        hop = len(chain)
        for candidate in candidates:
            await self.note(
                ctx, RequestNote, requester, f"{requester} asks {candidate} about {capability} (hop {hop})",
                from_agent=requester, to_agent=candidate, capability=capability, hop=hop, question=request.question,
            )
            await ctx.emit(AgentMessage, agent=requester, from_agent=requester, to_agent=candidate, text=request.question)
            load = self.active.get(candidate, 0)
            if load >= self.options.capacity:
                await ctx.emit(
                    AgentMessage, agent=candidate, from_agent=candidate, to_agent=requester, text="declined: at capacity"
                )
                await self.note(
                    ctx, DeclineNote, candidate, f"{candidate} declines {requester}: at capacity ({load} of {self.options.capacity})",
                    peer=candidate, requester=requester, capability=capability, active=load,
                )
                continue
            self.active[candidate] = load + 1  # no await since the check: nobody can slip in between
            return candidate
        await self.note(
            ctx, MeshStopNote, requester, f"every peer with {capability} is at capacity; {requester} carries on without it",
            reason="capacity", requester=requester, chain=list(chain), capability=capability, declined=candidates,
        )
        return None

    async def ask(
        self,
        ctx: RunContext,
        requester: str,
        chain: tuple[str, ...],
        request: HelpRequest,
        helper: str,
        index: int,
        local_id: str,
    ) -> AgentOutput | str:
        """`helper` answers `requester` (request number `index` of its assessment); the
        reply, as data for the requester, or why there is none to use."""
        branch = ctx.span(f"ask{index}:{helper}")
        try:
            answer = await self.consult(
                branch, helper, request.question, (*chain, helper), local_id,
                f"{request.capability} for {requester}", requester=requester, capability=request.capability,
            )
        except CallFailedError as error:
            await branch.emit(
                AgentMessage, agent=helper, from_agent=helper, to_agent=requester, text=f"could not help: {error.message}"
            )
            return error.message
        finally:
            self.active[helper] -= 1
        await branch.emit(AgentMessage, agent=helper, from_agent=helper, to_agent=requester, text=answer.text)
        payload = {"helper": helper, "capability": request.capability, "answer": answer.text, "confidence": answer.confidence}
        try:
            reply: HelpReply = await branch.handoff(self.contract, payload, from_agent=helper, to_agent=requester)
        except HandoffError as error:
            return f"its reply was not handed on ({error})"  # the requester goes on without it
        return AgentOutput(helper, reply.answer, title=f"{request.capability}: {request.question}")


async def run(ctx: RunContext, task: str, options: Options) -> str:
    peers = ctx.team.direct_callers()
    capabilities = {peer.name: peer.capabilities for peer in peers}
    known = sorted({c for caps in capabilities.values() for c in caps})
    entry = options.entry or (peers[0].name if peers else "")
    if entry not in capabilities:
        await ctx.fail(f"mesh entry {entry!r} is not a peer on the team (peers: {', '.join(capabilities)})")
    if len(peers) < 2 or not known:
        await ctx.fail("a mesh needs at least two peers and some capabilities to ask for")
    mesh = Mesh(
        options=options,
        capabilities=capabilities,
        schema=assessment_schema(known, options.max_requests),
        contract=HandoffContract("help-reply", HelpReply, min_confidence=options.min_confidence),
    )
    mesh.active[entry] = 1
    answer = await mesh.consult(ctx.span(f"peer:{entry}"), entry, task, (entry,), "task", headline(task))
    return answer.text

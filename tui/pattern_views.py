"""What is particular to each pattern, drawn from its notes: the route taken, the
stages, the parts, the rounds and verdicts, the reviews, the bids, the requests
between peers, the blackboard's keys, the plan (nested for hierarchical teams).

Each renderer takes the session's view and returns Content; every string in it
came through the view, which cleaned it. Notes are picked by their class and read
by their typed fields (`engine.notes`), so a field a pattern renames fails the type
check and the tests instead of blanking a pane. A note recorded before notes were
typed that fits no kind (`GenericNote`) is left out. Nothing here imports a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from textual.content import Content

from engine.formats import clock, money, plural
from engine.notes import (
    AbsentNote,
    AwardNote,
    BidNote,
    BoardNote,
    BoardStopNote,
    ChunkNote,
    ConflictNote,
    DeclineNote,
    DiscussionNote,
    FanoutNote,
    LotsNote,
    MeshStopNote,
    OutcomeNote,
    PatternNote,
    PipelineNote,
    RequestNote,
    ReviewNote,
    RoundNote,
    RouteNote,
    StageNote,
    StallNote,
    SynthesisNote,
    TeamNote,
    WriteNote,
)
from tui.render import Parts, plan_tree
from tui.view import SessionView

OK, BAD, WAIT, DIM = "$text-success", "$text-error", "$text-warning", "dim"

N = TypeVar("N", bound=PatternNote)
K = TypeVar("K", bound=Hashable)


def _pct(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "?"


def _notes(view: SessionView, kind: type[N]) -> list[N]:
    """The session's notes of one kind, in order."""
    return [note for note in view.notes if isinstance(note, kind)]


def _latest(notes: Iterable[N], key: Callable[[N], K]) -> dict[K, N]:
    """The latest note for each key, in the order the keys first came."""
    latest: dict[K, N] = {}
    for note in notes:
        latest[key(note)] = note
    return latest


def _empty(text: str) -> Content:
    return Content.styled(text, DIM)


def orchestrator(view: SessionView) -> Content:
    return plan_tree(view) if view.plan else _empty("Waiting for the lead's plan…")


def hierarchical(view: SessionView) -> Content:
    if not view.plan:
        return _empty("Waiting for the lead's plan…")
    teams = _latest(_notes(view, TeamNote), lambda note: note.step)
    if not teams:
        return plan_tree(view)
    parts: Parts = [("Member teams", "bold"), "\n"]
    for note in teams.values():
        glyph, style = {"started": ("●", WAIT), "done": ("✓", OK), "failed": ("✗", BAD)}[note.status]
        path = " › ".join(note.path or [note.team])
        parts += [(glyph + " ", style), (path, "bold"), f" ({note.pattern}) on ", note.step, "\n"]
    return Content.assemble(*parts, "\n", plan_tree(view))


def routing(view: SessionView) -> Content:
    """Where the task went in the end (after an escalation, a re-route or a fallback), the
    router's own choice, and every routing decision in order once there is more than one."""
    routes = _notes(view, RouteNote)
    if not routes:
        return _empty("Waiting for the router…")
    last = routes[-1]
    outcome = last.outcome
    style = BAD if outcome == "stopped" else WAIT if outcome in ("escalated", "fallback") else OK
    goes_to = last.handled_by or (last.specialist if outcome == "escalated" else None)
    parts: Parts = [("Route → ", "bold"), (goes_to or "none", "bold $text-accent"), "\n", ("Outcome: ", "bold"), (outcome, style)]
    if outcome == "escalated":
        parts += [(" (waiting for a decision)", DIM)]
    if last.cause:
        parts += [(f" ({last.cause.replace('_', ' ')})", DIM)]
    if last.specialist is not None:
        parts += ["\n", ("Router chose: ", "bold"), last.specialist, f" ({_pct(last.confidence)} sure)"]
    parts += ["\n", ("Reason: ", "bold"), last.reason or "—", "\n"]
    if len(routes) > 1:
        parts += ["\n", ("Route history", "bold"), "\n"]
        for note in routes:
            parts += [(f"+{clock(view.offset(note.ts))} ", DIM), note.text, "\n"]
    return Content.assemble(*parts)


def pipeline(view: SessionView) -> Content:
    setup = _notes(view, PipelineNote)
    stages = list(setup[-1].stages) if setup else []
    done = _latest(_notes(view, StageNote), lambda note: note.stage)
    if not stages:
        stages = list(done)
    if not stages:
        return _empty("Waiting for the first stage…")
    contracts = setup[-1].contracts if setup else {}
    parts: Parts = [("Stages", "bold"), "\n"]
    running = {step.assigned_to for step in view.steps.values() if step.status == "running"}
    for index, stage in enumerate(stages, 1):
        note = done.get(stage)
        status: str
        if note is not None:
            status = note.status
            style = OK if status in ("done", "edited") else WAIT if status == "skipped" else BAD
            glyph = "✓" if style == OK else "–" if style == WAIT else "✗"
        elif stage in running:
            status, style, glyph = "running", WAIT, "●"
        else:
            status, style, glyph = "waiting", DIM, "○"
        parts += [(f"{glyph} ", style), f"{index}. ", (stage, "bold"), " ", (status, style)]
        if note is not None and note.by not in (None, stage):
            parts += [(f" by {note.by}", DIM)]
        if stage in contracts:
            verdict = note.verdict if note is not None else None
            parts += [(f"  contract {contracts[stage]}" + (f": {verdict}" if verdict else ""), DIM)]
        parts.append("\n")
    return Content.assemble(*parts)


def fanout(view: SessionView) -> Content:
    setup = _notes(view, FanoutNote)
    if not setup:
        return _empty("Splitting the work…")
    fan = setup[-1]
    parts: Parts = [(fan.mode, "bold"), f" · {plural(fan.chunks, 'part')} · at most {fan.concurrency} at once\n"]
    ended = _latest(_notes(view, ChunkNote), lambda note: note.index)
    running = [step for step in view.steps.values() if step.status == "running"]
    for index in sorted(ended):
        note = ended[index]
        ok = note.status == "done"
        parts += [("✓ " if ok else "✗ ", OK if ok else BAD), f"#{index} ", (note.agent or "?", "bold"),
                  " ", note.title, "\n"]
    for step in running:
        parts += [("● ", WAIT), (step.assigned_to or "?", "bold"), " ", step.title, "\n"]
    synthesis = _notes(view, SynthesisNote)
    if synthesis:
        missing = synthesis[-1].missing
        parts += [("→ synthesis by ", "bold"), synthesis[-1].synthesizer,
                  (f" (missing #{', #'.join(map(str, missing))})" if missing else "", BAD)]
    return Content.assemble(*parts)


def discussion(view: SessionView) -> Content:
    rounds = _notes(view, RoundNote)
    if not rounds:
        return _empty("Round 1 under way…")
    parts: Parts = []
    for note in rounds:
        parts += [(f"Round {note.round}: ", "bold"),
                  ("consensus" if note.consensus else "no consensus", OK if note.consensus else WAIT),
                  f" · agreement {_pct(note.agreement)}\n"]
        for point in note.open_points[:3]:
            parts += [("   open: ", DIM), point, "\n"]
    for absent in _notes(view, AbsentNote):
        parts += [(f"   round {absent.round}: {absent.agent} absent", BAD), "\n"]
    ended = _notes(view, DiscussionNote)
    if ended:
        stopped = ended[-1].stopped.replace("_", " ")
        parts += [("Stopped: ", "bold"), f"{stopped} after {plural(ended[-1].rounds, 'round')}"]
    return Content.assemble(*parts)


def review(view: SessionView) -> Content:
    reviews = _notes(view, ReviewNote)
    if not reviews:
        return _empty("Waiting for the first draft and its review…")
    parts: Parts = []
    for note in reviews:
        label = "first draft" if note.revision == 0 else f"revision {note.revision}"
        if note.error:
            parts += [("✗ ", BAD), f"{label}: no review ({note.error})\n"]
            continue
        parts += [("✓ " if note.approved else "✗ ", OK if note.approved else WAIT), (label, "bold"),
                  ": approved" if note.approved else f": {plural(len(note.issues), 'issue')}", "\n"]
    for issue in reviews[-1].issues[:4]:
        parts += [("   • ", DIM), issue, "\n"]
    outcome = _notes(view, OutcomeNote)
    if outcome:
        parts += [("Outcome: ", "bold"), outcome[-1].status.replace("_", " ")]
    return Content.assemble(*parts)


def auction(view: SessionView) -> Content:
    bids = _notes(view, BidNote)
    lots = _notes(view, LotsNote)
    titles = {lot.lot: lot.title for lot in (lots[-1].lots if lots else [])}
    if not bids and not titles:
        return _empty("Waiting for the lots…")
    awards = _latest(_notes(view, AwardNote), lambda note: note.lot)
    parts: Parts = []
    for lot in sorted({bid.lot for bid in bids} | set(titles)):
        parts += [(f"Lot {lot}: ", "bold"), titles.get(lot) or "", "\n"]
        lot_bids = sorted((bid for bid in bids if bid.lot == lot),
                          key=lambda bid: (not bid.valid, bid.score if bid.score is not None else 1e9))
        for bid in lot_bids:
            if bid.valid:
                parts += [("   ✓ ", OK), (str(bid.agent), "bold"),
                          f"  capability {_pct(bid.capability)} · {money(bid.cost or 0)} · score {bid.score or 0:.2f}\n"]
            else:
                parts += [("   ✗ ", DIM), (str(bid.agent), DIM), (f"  {bid.reason or 'no bid'}", DIM), "\n"]
        award = awards.get(lot)
        if award is not None:
            parts += ([("   → ", OK), (award.winner, "bold $text-accent"), (f" ({award.via})", DIM), "\n"]
                      if award.winner else [("   → no winner: ", BAD), award.reason or "", "\n"])
    return Content.assemble(*parts)


def mesh(view: SessionView) -> Content:
    notes = [note for note in view.notes if isinstance(note, RequestNote | DeclineNote | MeshStopNote)]
    if not notes:
        return _empty("The entry peer is assessing the task…")
    parts: Parts = [("Requests between peers", "bold"), "\n"]
    for note in notes[-14:]:
        if isinstance(note, RequestNote):
            parts += [("→ ", "$text-accent"), (note.from_agent, "bold"), " asks ", (note.to_agent, "bold"),
                      f" ({note.capability}, hop {note.hop})\n"]
        elif isinstance(note, DeclineNote):
            parts += [("✗ ", WAIT), (note.peer, "bold"), f" declined {note.requester}: at capacity\n"]
        else:
            chain = " → ".join(note.chain)
            parts += [("■ stopped: ", BAD), note.reason.replace("_", " "), (f" ({chain})" if chain else "", DIM), "\n"]
    return Content.assemble(*parts)


def blackboard(view: SessionView) -> Content:
    boards = _notes(view, BoardNote)
    writes = _latest(_notes(view, WriteNote), lambda note: note.key)
    if not boards and not writes:
        return _empty("The board holds the problem; waiting for the first contributions…")
    keys = {key: (entry.writer, entry.version) for key, entry in (boards[-1].keys.items() if boards else ())}
    for key, note in writes.items():
        keys.setdefault(key, (note.writer, note.version))
    parts: Parts = [("Board", "bold"), (f" (cycle {boards[-1].cycle})" if boards else "", DIM), "\n"]
    for key, (writer, version) in keys.items():
        preview = writes[key].preview if key in writes else ""
        parts += [("■ ", OK), (key, "bold"), (f"  v{version} by {writer}", DIM)]
        if preview:
            parts += ["  ", preview[:60]]
        parts.append("\n")
    for conflict in _notes(view, ConflictNote):
        parts += [("⚡ ", WAIT), f"{conflict.key}: {', '.join(conflict.writers)} → ", (conflict.resolution, "bold"), "\n"]
    for stop in view.notes:
        if isinstance(stop, StallNote | BoardStopNote):
            parts += [("■ ", BAD), stop.text, "\n"]
    return Content.assemble(*parts)


def notes(view: SessionView) -> Content:
    """Any pattern without a renderer of its own: its latest notes."""
    recent = list(view.notes)[-12:]
    if not recent:
        return _empty("Nothing particular to show yet.")
    return Content.assemble(*[part for note in recent for part in ((f"{note.topic}: ", "bold"), note.text, "\n")])


RENDERERS: dict[str, Callable[[SessionView], Content]] = {
    "orchestrator": orchestrator,
    "hierarchical": hierarchical,
    "routing": routing,
    "pipeline": pipeline,
    "fanout": fanout,
    "discussion": discussion,
    "review": review,
    "auction": auction,
    "mesh": mesh,
    "blackboard": blackboard,
}


def render(view: SessionView) -> Content:
    return RENDERERS.get(view.pattern, notes)(view)


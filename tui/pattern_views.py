"""What is particular to each pattern, drawn from its notes: the route taken, the
stages, the parts, the rounds and verdicts, the reviews, the bids, the requests
between peers, the blackboard's keys, the plan (nested for hierarchical teams).

Each renderer takes the session's view and returns Content; every string in it
came through the view, which cleaned it. Nothing here imports a widget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.content import Content

from engine.formats import clock, money, plural
from tui.render import Parts, plan_tree
from tui.view import Note, SessionView

OK, BAD, WAIT, DIM = "$text-success", "$text-error", "$text-warning", "dim"


def _many(value: object, noun: str) -> str:
    """A count from a pattern note's data ("3 rounds"), which may be missing ("? rounds")."""
    return plural(value, noun) if isinstance(value, int) else f"{value if value is not None else '?'} {noun}s"


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "?"


def _notes(view: SessionView, *topics: str) -> list[Note]:
    return [note for note in view.notes if note.topic in topics]


def _latest_by(notes: Iterable[Note], key: str) -> dict[Any, Note]:
    latest: dict[Any, Note] = {}
    for note in notes:
        latest[note.data.get(key)] = note
    return latest


def _empty(text: str) -> Content:
    return Content.styled(text, DIM)


def orchestrator(view: SessionView) -> Content:
    return plan_tree(view) if view.plan else _empty("Waiting for the lead's plan…")


def hierarchical(view: SessionView) -> Content:
    if not view.plan:
        return _empty("Waiting for the lead's plan…")
    teams = _latest_by(_notes(view, "team"), "step")
    if not teams:
        return plan_tree(view)
    parts: Parts = [("Member teams", "bold"), "\n"]
    for note in teams.values():
        status = note.data.get("status", "")
        glyph, style = {"started": ("●", WAIT), "done": ("✓", OK), "failed": ("✗", BAD)}.get(status, ("·", DIM))
        path = " › ".join(note.data.get("path") or [note.data.get("team", "?")])
        parts += [(glyph + " ", style), (path, "bold"), f" ({note.data.get('pattern', '?')}) on ",
                  str(note.data.get("step", "?")), "\n"]
    return Content.assemble(*parts, "\n", plan_tree(view))


def routing(view: SessionView) -> Content:
    """Where the task went in the end (after an escalation, a re-route or a fallback), the
    router's own choice, and every routing decision in order once there is more than one."""
    routes = _notes(view, "route")
    if not routes:
        return _empty("Waiting for the router…")
    data = routes[-1].data
    outcome = data.get("outcome", "?")
    style = BAD if outcome == "stopped" else WAIT if outcome in ("escalated", "fallback") else OK
    goes_to = data.get("handled_by") or (data.get("specialist") if outcome == "escalated" else None)
    parts: Parts = [("Route → ", "bold"), (str(goes_to or "none"), "bold $text-accent"), "\n", ("Outcome: ", "bold"), (outcome, style)]
    if outcome == "escalated":
        parts += [(" (waiting for a decision)", DIM)]
    if data.get("cause"):
        parts += [(f" ({str(data['cause']).replace('_', ' ')})", DIM)]
    if data.get("specialist") is not None:
        parts += ["\n", ("Router chose: ", "bold"), str(data["specialist"]), f" ({_pct(data.get('confidence'))} sure)"]
    parts += ["\n", ("Reason: ", "bold"), str(data.get("reason") or "—"), "\n"]
    if len(routes) > 1:
        parts += ["\n", ("Route history", "bold"), "\n"]
        for note in routes:
            parts += [(f"+{clock(note.offset)} ", DIM), note.text, "\n"]
    return Content.assemble(*parts)


def pipeline(view: SessionView) -> Content:
    setup = _notes(view, "pipeline")
    stages: list[str] = list(setup[-1].data.get("stages", [])) if setup else []
    done = _latest_by(_notes(view, "stage"), "stage")
    if not stages:
        stages = [str(key) for key in done]
    if not stages:
        return _empty("Waiting for the first stage…")
    contracts = setup[-1].data.get("contracts", {}) if setup else {}
    parts: Parts = [("Stages", "bold"), "\n"]
    running = {step.get("assigned_to") for step in view.steps.values() if step.get("status") == "running"}
    for index, stage in enumerate(stages, 1):
        note = done.get(stage)
        if note is not None:
            status = str(note.data.get("status", "?"))
            style = OK if status in ("done", "edited") else WAIT if status == "skipped" else BAD
            glyph = "✓" if style == OK else "–" if style == WAIT else "✗"
        elif stage in running:
            status, style, glyph = "running", WAIT, "●"
        else:
            status, style, glyph = "waiting", DIM, "○"
        parts += [(f"{glyph} ", style), f"{index}. ", (stage, "bold"), " ", (status, style)]
        if note is not None and note.data.get("agent") not in (None, stage):
            parts += [(f" by {note.data['agent']}", DIM)]
        if stage in contracts:
            verdict = note.data.get("verdict") if note is not None else None
            parts += [(f"  contract {contracts[stage]}" + (f": {verdict}" if verdict else ""), DIM)]
        parts.append("\n")
    return Content.assemble(*parts)


def fanout(view: SessionView) -> Content:
    setup = _notes(view, "fanout")
    if not setup:
        return _empty("Splitting the work…")
    data = setup[-1].data
    parts: Parts = [
        (f"{data.get('mode', '?')}", "bold"), f" · {_many(data.get('chunks'), 'part')} · at most {data.get('concurrency', '?')} at once\n",
    ]
    ended = _latest_by(_notes(view, "chunk"), "index")
    running = [step for step in view.steps.values() if step.get("status") == "running"]
    for index in sorted(k for k in ended if isinstance(k, int)):
        note = ended[index]
        ok = note.data.get("status") == "done"
        parts += [("✓ " if ok else "✗ ", OK if ok else BAD), f"#{index} ", (str(note.data.get("agent", "?")), "bold"),
                  " ", str(note.data.get("title", "")), "\n"]
    for step in running:
        parts += [("● ", WAIT), (str(step.get("assigned_to", "?")), "bold"), " ", str(step.get("title", "")), "\n"]
    synthesis = _notes(view, "synthesis")
    if synthesis:
        missing = synthesis[-1].data.get("missing") or []
        parts += [("→ synthesis by ", "bold"), str(synthesis[-1].data.get("synthesizer", "?")),
                  (f" (missing #{', #'.join(map(str, missing))})" if missing else "", BAD)]
    return Content.assemble(*parts)


def discussion(view: SessionView) -> Content:
    rounds = _notes(view, "round")
    if not rounds:
        return _empty("Round 1 under way…")
    parts: Parts = []
    for note in rounds:
        data = note.data
        consensus = bool(data.get("consensus"))
        parts += [(f"Round {data.get('round', '?')}: ", "bold"),
                  ("consensus" if consensus else "no consensus", OK if consensus else WAIT),
                  f" · agreement {_pct(data.get('agreement'))}\n"]
        for point in (data.get("open_points") or [])[:3]:
            parts += [("   open: ", DIM), str(point), "\n"]
    for note in _notes(view, "absent"):
        parts += [(f"   round {note.data.get('round')}: {note.data.get('agent')} absent", BAD), "\n"]
    ended = _notes(view, "discussion")
    if ended:
        stopped = str(ended[-1].data.get("stopped", "?")).replace("_", " ")
        parts += [("Stopped: ", "bold"), f"{stopped} after {_many(ended[-1].data.get('rounds'), 'round')}"]
    return Content.assemble(*parts)


def review(view: SessionView) -> Content:
    reviews = _notes(view, "review")
    if not reviews:
        return _empty("Waiting for the first draft and its review…")
    parts: Parts = []
    for note in reviews:
        data = note.data
        label = "first draft" if data.get("revision") == 0 else f"revision {data.get('revision')}"
        if data.get("error"):
            parts += [("✗ ", BAD), f"{label}: no review ({data['error']})\n"]
            continue
        approved = bool(data.get("approved"))
        issues = data.get("issues") or []
        parts += [("✓ " if approved else "✗ ", OK if approved else WAIT), (label, "bold"),
                  ": approved" if approved else f": {plural(len(issues), 'issue')}", "\n"]
    last = reviews[-1].data
    for issue in (last.get("issues") or [])[:4]:
        parts += [("   • ", DIM), str(issue), "\n"]
    outcome = _notes(view, "outcome")
    if outcome:
        parts += [("Outcome: ", "bold"), str(outcome[-1].data.get("status", "?")).replace("_", " ")]
    return Content.assemble(*parts)


def auction(view: SessionView) -> Content:
    bids = _notes(view, "bid")
    lots = _notes(view, "lots")
    titles = {lot.get("lot"): lot.get("title") for lot in (lots[-1].data.get("lots", []) if lots else [])}
    if not bids and not titles:
        return _empty("Waiting for the lots…")
    awards = _latest_by(_notes(view, "award"), "lot")
    parts: Parts = []
    for lot in sorted({n.data.get("lot") for n in bids} | set(titles), key=lambda x: (x is None, x)):
        parts += [(f"Lot {lot}: ", "bold"), str(titles.get(lot) or ""), "\n"]
        lot_bids = sorted((n.data for n in bids if n.data.get("lot") == lot),
                          key=lambda d: (not d.get("valid"), d.get("score") if d.get("score") is not None else 1e9))
        for bid in lot_bids:
            if bid.get("valid"):
                parts += [("   ✓ ", OK), (str(bid.get("agent")), "bold"),
                          f"  capability {_pct(bid.get('capability'))} · {money(bid.get('cost') or 0)} · score {bid.get('score', 0):.2f}\n"]
            else:
                parts += [("   ✗ ", DIM), (str(bid.get("agent")), DIM), (f"  {bid.get('reason') or 'no bid'}", DIM), "\n"]
        award = awards.get(lot)
        if award is not None:
            winner = award.data.get("winner")
            parts += ([("   → ", OK), (str(winner), "bold $text-accent"), (f" ({award.data.get('via')})", DIM), "\n"]
                      if winner else [("   → no winner: ", BAD), str(award.data.get("reason") or ""), "\n"])
    return Content.assemble(*parts)


def mesh(view: SessionView) -> Content:
    notes = _notes(view, "request", "decline", "stop")
    if not notes:
        return _empty("The entry peer is assessing the task…")
    parts: Parts = [("Requests between peers", "bold"), "\n"]
    for note in notes[-14:]:
        data = note.data
        if note.topic == "request":
            parts += [("→ ", "$text-accent"), (str(data.get("from")), "bold"), " asks ", (str(data.get("to")), "bold"),
                      f" ({data.get('capability')}, hop {data.get('hop')})\n"]
        elif note.topic == "decline":
            parts += [("✗ ", WAIT), (str(data.get("peer")), "bold"), f" declined {data.get('requester')}: at capacity\n"]
        else:
            reason = str(data.get("reason", "stop")).replace("_", " ")
            chain = " → ".join(data.get("chain") or [])
            parts += [("■ stopped: ", BAD), reason, (f" ({chain})" if chain else "", DIM), "\n"]
    return Content.assemble(*parts)


def blackboard(view: SessionView) -> Content:
    boards = _notes(view, "board")
    writes = _latest_by(_notes(view, "write"), "key")
    if not boards and not writes:
        return _empty("The board holds the problem; waiting for the first contributions…")
    keys: dict[str, Any] = dict(boards[-1].data.get("keys", {})) if boards else {}
    for key, note in writes.items():
        keys.setdefault(key, {"writer": note.data.get("writer"), "version": note.data.get("version")})
    parts: Parts = [("Board", "bold"), (f" (cycle {boards[-1].data.get('cycle')})" if boards else "", DIM), "\n"]
    for key, entry in keys.items():
        entry = entry if isinstance(entry, dict) else {}
        preview = writes[key].data.get("preview", "") if key in writes else ""
        parts += [("■ ", OK), (str(key), "bold"), (f"  v{entry.get('version', '?')} by {entry.get('writer', '?')}", DIM)]
        if preview:
            parts += ["  ", str(preview)[:60]]
        parts.append("\n")
    for note in _notes(view, "conflict"):
        parts += [("⚡ ", WAIT), f"{note.data.get('key')}: {', '.join(note.data.get('writers') or [])} → ",
                  (str(note.data.get("resolution", "?")), "bold"), "\n"]
    for note in _notes(view, "stall", "stop"):
        parts += [("■ ", BAD), note.text, "\n"]
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


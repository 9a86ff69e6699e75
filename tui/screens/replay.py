"""ReplayScreen: a recorded session, played back in the same screen it was watched in.

The stored events are folded into the same SessionView a live run uses, so at
every point the panels, statuses, budgets and timeline show what they showed at
that moment of the live run. Playback: play and pause, 1x / 4x / 16x / instant,
one event back or forward, the previous or next timeline entry, the start or
the end, and a jump to any entry of the whole session. Events load in pages in
the background; the first page is enough to start. Replay never calls a model.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding

from engine.events import EventBase
from sessions.errors import StoreError
from tui.replay import SPEEDS, ReplayClock, speed_label
from tui.screens.jump import JumpScreen
from tui.screens.session import SessionScreen
from tui.screens.workers import CancelWorkersFirst
from tui.view import Entry, SessionView
from tui.widgets.budget_bar import BudgetBar
from tui.widgets.details import DetailsPane
from tui.widgets.key_hints import KeyHints
from tui.widgets.replay_bar import ReplayBar
from tui.widgets.timeline import Timeline

if TYPE_CHECKING:
    from tui.forking import Forkable

Loader = Callable[[int, int], Awaitable[list[EventBase]]]
"""Loads up to `limit` events with seq above `after`: (after, limit) -> events."""

FIRST_PAGE = 2_000
PAGE = 10_000
CHECKPOINT = 5_000
"""Events between kept copies of the view: moving back starts from the nearest one before."""
TICK = 1 / 20


class ReplayScreen(CancelWorkersFirst, SessionScreen):
    """Play a recorded session back."""

    BINDINGS = [
        Binding("space", "play", "Play/pause", id="replay.play", priority=True, tooltip="Play or pause the replay"),
        Binding("right", "step(1)", "Step", key_display="→", id="replay.forward", priority=True, tooltip="One event forward"),
        Binding("left", "step(-1)", "Back", key_display="←", id="replay.back", priority=True, tooltip="One event back"),
        Binding("]", "entry(1)", "Next entry", id="replay.next_entry", tooltip="Forward to the next timeline entry"),
        Binding("[", "entry(-1)", "Previous entry", id="replay.previous_entry", tooltip="Back to the previous timeline entry"),
        Binding("s", "speed", "Speed", id="replay.speed", tooltip="1x, 4x, 16x, instant"),
        Binding("home", "seek_start", "Start", show=False, id="replay.start", priority=True),
        Binding("end", "seek_end", "End", id="replay.end", tooltip="The session as it finished", priority=True),
        Binding("j", "jump", "Jump to", id="replay.jump", tooltip="Pick any moment from the whole timeline"),
        Binding("f", "fork", "Fork here", id="replay.fork", tooltip="A new session: this one up to the moment shown, live from there"),
        Binding("F", "filter", "Filter", key_display="F", id="replay.filter", tooltip="Show one agent's timeline entries, or one kind of entry (f forks here)"),
    ]

    def __init__(
        self, load: Loader, total: int, *, speed: float | None = 4.0, playing: bool = True, session_id: str | None = None,
    ) -> None:
        """`session_id`: the recorded session's, to fork it (`f`); None: it cannot be forked."""
        super().__init__()
        self._load = load
        self.session_id = session_id
        self.replay = ReplayClock()
        self.replay.total = total
        self.speed: float | None = speed
        self.playing = playing
        self._last_tick = time.monotonic()
        self._moving = asyncio.Lock()
        self._whole = SessionView(timeline_limit=None)
        """Everything loaded so far, folded as each page arrives: every entry of the
        timeline (for jumping), and how each escalation was decided."""
        self._checkpoints = [SessionView()]
        """The view after 0, CHECKPOINT, 2 x CHECKPOINT... events."""

    def compose_bottom(self) -> ComposeResult:
        yield ReplayBar(id="replay")
        yield BudgetBar(id="budget")
        shared = [b for b in SessionScreen.BINDINGS if b.action in ("next_panel", "zoom", "reply", "timeline", "task", "result", "search", "leave")]
        yield KeyHints([*self.BINDINGS, *shared])

    def on_mount(self) -> None:
        super().on_mount()
        self._load_pages()
        self.set_interval(TICK, self._play_tick)

    @property
    def mode(self) -> str:
        return "replay"

    @property
    def _shown(self) -> int:
        """How many events are shown (events are numbered from 1 without gaps)."""
        return self.view.seq

    # -- loading ------------------------------------------------------------------

    @work(group="replay-load", exclusive=True)
    async def _load_pages(self) -> None:
        after, size = 0, FIRST_PAGE
        while not self.replay.complete:
            try:
                page = await self._load(after, size)
            except StoreError as error:  # a damaged event: what came before it stays shown
                self.notify(str(error), severity="error", markup=False)
                self.replay.total = self.replay.loaded
                break
            if not page:
                self.replay.total = self.replay.loaded  # fewer than the row said (an interrupted run)
                break
            self.replay.extend(page)
            self._fold(page)
            after, size = page[-1].seq, PAGE
            if self._shown == 0:  # the session as it started (playing may take it on at once)
                await self._move_to(self.replay.advance(0.0, self.speed) if self.playing else 1)
            self._show_bar()
        self._show_bar()

    def _fold(self, page: list[EventBase]) -> None:
        """Fold a page into the whole, keeping a copy of the view every CHECKPOINT events."""
        folded = self.replay.loaded - len(page)
        while page:
            room = CHECKPOINT - folded % CHECKPOINT
            self._whole.apply_all(page[:room])
            folded, page = folded + len(page[:room]), page[room:]
            if folded % CHECKPOINT == 0:
                self._checkpoints.append(self._whole.copy())

    # -- playback -----------------------------------------------------------------

    async def _play_tick(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        if not self.playing or not self.replay.loaded:
            return
        position = self.replay.advance(elapsed, self.speed)
        if position != self._shown:
            await self._move_to(position)
        if self.replay.at_end:
            self.playing = False
            self._show_bar()

    async def _move_to(self, position: int) -> None:
        """Show the session as it was after `position` events: on from the view shown,
        or, going back or far ahead, from the nearest copy kept on the way."""
        async with self._moving:  # keys, the play timer and the loader all move; one at a time
            position = max(1, min(position, self.replay.loaded))
            mark = min(position // CHECKPOINT, len(self._checkpoints) - 1)
            restart = position < self._shown or mark * CHECKPOINT > self._shown
            if restart:
                self.view = self._checkpoints[mark].copy()
            self.view.apply_all(self.replay.events[self._shown : position])
            self.replay.seek(position)
            await self.show_view(full=restart)

    def _tick(self) -> None:
        super()._tick()
        self._show_bar()

    def _show_bar(self) -> None:
        if self.is_mounted:
            self.query_one(ReplayBar).show(self.replay, playing=self.playing, speed=self.speed, elapsed=self.elapsed())

    # -- keys -----------------------------------------------------------------------

    async def action_play(self) -> None:
        if self.replay.at_end:
            await self._move_to(1)
        self.playing = not self.playing
        self._last_tick = time.monotonic()
        self._show_bar()

    async def action_step(self, delta: int) -> None:
        self.playing = False
        await self._move_to(self._shown + delta)

    async def action_entry(self, direction: int) -> None:
        """To the previous or next timeline entry (of all that is loaded)."""
        self.playing = False
        seqs = [entry.seq for entry in self._whole.timeline]
        if direction > 0:
            later = seqs[bisect_right(seqs, self._shown):]
            target = later[0] if later else self.replay.loaded
        else:
            earlier = seqs[: bisect_left(seqs, self._shown)]
            target = earlier[-1] if earlier else 1
        await self._move_to(target)

    def action_speed(self) -> None:
        self.speed = SPEEDS[(SPEEDS.index(self.speed) + 1) % len(SPEEDS)]
        self.notify(f"Replay speed: {speed_label(self.speed)}", timeout=1.5, markup=False)
        self._show_bar()

    async def action_seek_start(self) -> None:
        self.playing = False
        await self._move_to(1)

    async def action_seek_end(self) -> None:
        self.playing = False
        if not self.replay.complete:
            self.notify("Still loading the session; the end will show once it is all here.", timeout=2)
        await self._move_to(self.replay.loaded)

    def action_jump(self) -> None:
        if not self.replay.complete:
            self.notify("Still loading the session's timeline…", timeout=2)
            return
        self.playing = False
        self.app.push_screen(JumpScreen(list(self._whole.timeline), self._shown), callback=self._jumped)

    def _jumped(self, seq: int | None) -> None:
        if seq is not None:
            self.call_later(self._move_to, self.replay.index_of_seq(seq))

    def action_fork(self) -> None:
        """Fork the session at the moment shown: a new session, live from there."""
        from tui.screens.fork import ForkScreen

        if self.session_id is None or not self._shown:
            return
        self.playing = False
        events = self.replay.events[: self._shown]
        self.app.push_screen(ForkScreen(self.session_id, events), callback=self._forked)

    def _forked(self, found: Forkable | None) -> None:
        if found is not None:
            self.app.fork_session(found)  # type: ignore[attr-defined]

    def action_result(self) -> None:
        """The session's result as it finished, wherever the replay is."""
        if self._whole.finished:
            self.show_result(self._whole)
        elif not self.replay.complete:
            self.notify("Still loading the session; its result shows once it is all here.", timeout=2)
        else:
            self.notify("No result: the recording ends before the session finished.", timeout=3)

    def action_approvals(self) -> None:
        self.notify("A recorded session: decisions show in the timeline, with who made them and when.", timeout=3)

    # -- timeline -----------------------------------------------------------------------

    def show_entry(self, entry: Entry | None) -> None:
        self.query_one(DetailsPane).show(entry, self.view, self._whole.decisions)

    async def select_entry(self, entry: Entry) -> None:
        """To the moment of that entry, its agent's panel in view. The timeline keeps the
        focus and the entry its highlight: the next entry is one key away."""
        self.playing = False
        await self._move_to(self.replay.index_of_seq(entry.seq))
        self.query_one(Timeline).highlight(entry.seq)
        self.show_entry(entry)
        self.show_agent(entry.agent)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # In the timeline, Home and End go to its first and last entry, not the replay's.
        if action in ("seek_start", "seek_end") and isinstance(self.focused, Timeline):
            return False
        if action == "fork" and self.session_id is None:
            return None
        return super().check_action(action, parameters)

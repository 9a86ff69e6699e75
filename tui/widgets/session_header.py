"""SessionHeader: which session, what it is doing, how long it has run, and how many
escalations wait in the inbox (every running session's, `InboxCount`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from engine.formats import clock
from tui.render import session_status
from tui.view import SessionView
from tui.widgets.inbox_count import InboxCount


class SessionHeader(Vertical):
    """Two lines: session, pattern, provider, status and time; then the task."""

    DEFAULT_CSS = """
    SessionHeader {
        height: 2;
        background: $panel;
        padding: 0 1;
        & > Horizontal { height: 1; }
        & #where { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
        & #badge { width: auto; margin-right: 1; }
        & InboxCount { margin-right: 1; }
        & #state { width: auto; }
        & #task { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    NARROW = 120
    """Under this width the header says less: pattern first, no "huddle · session", a short status."""

    def __init__(self) -> None:
        super().__init__()
        self._state: Content | None = None
        self._shown: tuple[object, ...] | None = None
        self._narrow = False
        self._last: tuple[SessionView, str, float] | None = None
        """What was shown last (view, mode, elapsed), to show again at another width."""

    def on_resize(self) -> None:
        narrow = self.size.width < self.NARROW
        if narrow != self._narrow:
            self._narrow = narrow
            self.query_one(InboxCount).set_short(narrow)
            if self._last is not None:
                view, mode, elapsed = self._last
                self._shown = None
                self.show(view, mode=mode)
                self.show_state(view, elapsed=elapsed)

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="where", markup=False)
            yield InboxCount(id="inbox")
            yield Static(id="badge", markup=False)
            yield Static(id="state", markup=False)
        yield Static(id="task", markup=False)

    def show(self, view: SessionView, *, mode: str = "live") -> None:
        """Which session this is, on what, and its task (set once it starts); `mode` is
        "live" or how a past session is shown."""
        self._last = (view, mode, self._last[2] if self._last else 0.0)
        shown = (view.session_id, view.pattern, view.seed, view.provider, view.task, mode, view.started)
        if shown == self._shown:
            return
        self._shown = shown
        seed = (f" · seed {view.seed}" if view.seed is not None else "", "dim")
        origin = view.started.forked_from if view.started is not None else None
        if origin is not None:  # where it comes from, before how it was seeded
            seed = (f" · forked from {origin.session_id[:8]} at #{origin.at_seq}{seed[0]}", "dim")
        if self._narrow:
            where = Content.assemble((view.pattern, "bold"), " · ", (view.session_id, "bold"), seed)
        else:
            where = Content.assemble(
                ("huddle", "bold $text-accent"), " · session ", (view.session_id, "bold"), " · ", (view.pattern, "bold"), seed,
            )
        self.query_one("#where", Static).update(where, layout=False)
        provider = view.provider or "?"
        badge = Content.styled(f" {provider.upper()} ", "bold reverse $warning" if provider == "simulated" else "bold reverse $primary")
        if mode != "live":
            badge = Content.assemble((f" {mode} ", "bold reverse $secondary"), " ", badge)
        self.query_one("#badge", Static).update(badge)
        self.query_one("#task", Static).update(Content.assemble(("task: ", "bold"), " ".join(view.task.split())), layout=False)

    def show_state(self, view: SessionView, *, elapsed: float) -> None:
        """The status, what waits for a person, and `elapsed` seconds (this moves with the clock)."""
        self._last = (view, self._last[1] if self._last else "live", elapsed)
        status = "waiting" if view.pending and not view.finished else view.status
        pending = f" · {len(view.pending)} pending" if view.pending else ""
        partial = " · partial result" if view.finished and view.partial else ""
        state = Content.assemble(
            session_status(status, bold=True, failed_steps=view.failed_steps, skipped_steps=view.skipped_steps,
                           short=self._narrow, brief_steps=self._narrow),
            (pending, "bold $text-warning"), (partial, "bold $text-warning"), " · ", (clock(elapsed), "bold"),
        )
        if state != self._state:  # an update costs a layout pass (#state is as wide as its text)
            self._state = state
            self.query_one("#state", Static).update(state)

"""SessionHeader: which session, what it is doing, how long it has run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from engine.formats import clock
from tui.view import SessionView

STATUS_STYLES = {
    "running": "bold $text-success",
    "waiting": "bold $text-warning",
    "completed": "bold $text-success",
    "failed": "bold $text-error",
    "stopped": "bold $text-warning",
    "cancelled": "bold $text-warning",
    "interrupted": "bold $text-error",
}


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
        & #state { width: auto; }
        & #task { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: dict[str, Content] = {}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="where", markup=False)
            yield Static(id="badge", markup=False)
            yield Static(id="state", markup=False)
        yield Static(id="task", markup=False)

    def _set(self, selector: str, content: Content) -> None:
        """Update one line, only when it changed (an update costs a layout pass)."""
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            self.query_one(selector, Static).update(content)

    def show(self, view: SessionView, *, elapsed: float, mode: str = "live") -> None:
        """Update from the view; `elapsed` seconds, `mode` "live" or how a past session is shown."""
        self._set(
            "#where",
            Content.assemble(
                ("huddle", "bold $text-accent"), " · session ", (view.session_id, "bold"),
                " · ", (view.pattern, "bold"), (f" · seed {view.seed}" if view.seed is not None else "", "dim"),
            )
        )
        provider = view.provider or "?"
        badge = Content.styled(f" {provider.upper()} ", "bold reverse $warning" if provider == "simulated" else "bold reverse $primary")
        if mode != "live":
            badge = Content.assemble((f" {mode} ", "bold reverse $secondary"), " ", badge)
        self._set("#badge", badge)
        status = "waiting" if view.pending and not view.finished else view.status
        pending = f" · {len(view.pending)} pending" if view.pending else ""
        self._set(
            "#state",
            Content.assemble(
                (status.replace("waiting", "waiting for approval"), STATUS_STYLES.get(status, "bold")),
                (pending, "bold $text-warning"), " · ", (clock(elapsed), "bold"),
            )
        )
        self._set("#task", Content.assemble(("task: ", "bold"), " ".join(view.task.split())))

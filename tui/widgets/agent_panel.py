"""AgentPanel: one agent at work — status, subtask, streamed text, spending."""

from __future__ import annotations

from itertools import islice

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from tui.view import STATUS_GLYPHS, AgentView
from tui.widgets.stream_view import StreamView

STATUSES = tuple(STATUS_GLYPHS)


def stats_line(agent: AgentView) -> str:
    latency = f" · {agent.latency:.1f}s" if agent.latency is not None else ""
    return f"{agent.tokens_in:,} in · {agent.tokens_out:,} out · ${agent.cost:.4f}{latency} · {agent.calls} calls"


class AgentPanel(Vertical):
    """An agent's panel. `sync` brings it up to date with the agent's view."""

    DEFAULT_CSS = """
    AgentPanel {
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: 1fr;
        & > #step { height: 1; color: $text-accent; text-wrap: nowrap; text-overflow: ellipsis; }
        & > StreamView { height: 1fr; background: $surface; }
        & > #stats { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
        &.-status-thinking { border-subtitle-color: $text-warning; }
        &.-status-streaming { border-subtitle-color: $text-success; }
        &.-status-waiting { border-subtitle-color: $text-warning; }
        &.-status-retrying { border-subtitle-color: $text-warning; }
        &.-status-done { border-subtitle-color: $text-success; }
        &.-status-failed { border-subtitle-color: $text-error; }
    }
    """

    def __init__(self, agent: AgentView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.agent_name = agent.name
        self._shown_total = 0
        self._status = ""
        self._focused = False
        self._labels = ("", "")
        self._agent = agent

    def compose(self) -> ComposeResult:
        yield Static(id="step", markup=False)
        yield StreamView()
        yield Static(id="stats", markup=False)

    def on_mount(self) -> None:
        agent = self._agent
        teams = "".join(f"{team} › " for team in agent.path)
        self.border_title = Content.assemble((teams, "dim"), (agent.name, "bold"), " · ", agent.role)
        self._show(self._agent)

    # The border colour is set here, not by CSS (:focus-within): restyling the panel
    # tree on every focus change was the slowest part of moving between panels.
    def on_descendant_focus(self) -> None:
        self._focused = True
        self._paint_border()

    def on_descendant_blur(self) -> None:
        self._focused = False
        self._paint_border()

    def _paint_border(self) -> None:
        if self._focused:
            colour = "accent"
        else:
            colour = {"waiting": "warning", "failed": "error"}.get(self._status, "panel-lighten-2")
        self.styles.border = ("round", self.app.theme_variables[colour])

    @property
    def stream(self) -> StreamView:
        return self.query_one(StreamView)

    def sync(self, agent: AgentView, *, force: bool = False) -> None:
        """Show the agent's current state; skipped while the panel is hidden."""
        self._agent = agent
        if self.is_mounted and (force or self.display):
            self._show(agent)

    def _show(self, agent: AgentView) -> None:
        if agent.status != self._status:
            self.remove_class(f"-status-{self._status}")
            self._status = agent.status
            self.add_class(f"-status-{agent.status}")
            self.border_subtitle = Content(f"{STATUS_GLYPHS[agent.status]} {agent.status}")
            self._paint_border()
        step, stats = agent.step or "—", stats_line(agent)
        if (step, stats) != self._labels:
            self._labels = (step, stats)
            self.query_one("#step", Static).update(Content(step))
            self.query_one("#stats", Static).update(Content(stats))
        new = agent.line_total - self._shown_total
        if new < 0 or new > len(agent.lines):
            self.stream.reset(agent.lines, agent.partial)
        else:
            self.stream.append(islice(agent.lines, len(agent.lines) - new, None), agent.partial)
        self._shown_total = agent.line_total

    def reset(self) -> None:
        """Forget what was shown, so the next sync redraws everything (after a jump back)."""
        self._shown_total = -1

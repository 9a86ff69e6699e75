"""AgentPanel: one agent at work — status, streamed text under a rule per call, spending."""

from __future__ import annotations

from itertools import islice

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from engine.formats import cost_text, count, plural
from tui.render import AGENT_STATUS
from tui.view import MAX_LINES, AgentView
from tui.widgets.stream_view import StreamView


def stats_line(agent: AgentView) -> str:
    """Tokens, cost, pace and calls, counting the calls still streaming: "1,204 in · 86 out ·
    $0.0031 · 42 tok/s · 2 calls" (the last call's latency once none streams; "cost unknown"
    for a model with no price)."""
    tokens_in, tokens_out, cost, unpriced = agent.totals
    rate = agent.rate
    if rate is not None:
        pace = f" · {rate:.0f} tok/s"
    else:
        pace = f" · {agent.latency:.1f}s" if agent.latency is not None else ""
    spent = cost_text(cost, unpriced)
    return f"{count(tokens_in)} in · {count(tokens_out)} out · {spent}{pace} · {plural(agent.calls, 'call')}"


class AgentPanel(Vertical):
    """An agent's panel. `sync` brings it up to date with the agent's view."""

    DEFAULT_CSS = """
    AgentPanel {
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: 1fr;
        & > StreamView { height: 1fr; background: $surface; }
        & > #stats { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    def __init__(self, agent: AgentView, *, with_provider: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self._with_provider = with_provider
        """Whether its title names its provider: in a team that mixes them."""
        self.agent_name = agent.name
        self._shown_total = 0
        self._status = ("", 0)
        self._focused = False
        self._stats = ""
        self._agent = agent

    def compose(self) -> ComposeResult:
        yield StreamView(MAX_LINES)
        yield Static(id="stats", markup=False)

    def on_mount(self) -> None:
        agent = self._agent
        teams = "".join(f"{team} › " for team in agent.path)
        model = f"{agent.provider}/{agent.model}" if self._with_provider else agent.model
        self.border_title = Content.assemble((teams, "dim"), (agent.name, "bold"), " · ", (model, "$text-accent"), " · ", agent.role)
        if self.children:  # none when it was removed before they were mounted (the app closing)
            self._show(self._agent)

    # Border colours are set here, not by CSS (:focus-within, status classes):
    # restyling the panel tree on every focus or status change was the slowest
    # part of moving between panels.
    def on_descendant_focus(self) -> None:
        self._focused = True
        self._paint_border()

    def on_descendant_blur(self) -> None:
        self._focused = False
        self._paint_border()

    def _paint_border(self) -> None:
        _, colour, alarm = AGENT_STATUS.get(self._status[0], AGENT_STATUS["idle"])
        border = "accent" if self._focused else colour if alarm and colour else "panel-lighten-2"
        self.styles.border = ("round", self.app.theme_variables[border])

    @property
    def stream(self) -> StreamView:
        return self.query_one(StreamView)

    def sync(self, agent: AgentView) -> None:
        """Take the agent's current state: shown now, or when a hidden panel shows again."""
        self._agent = agent
        if self.is_mounted and self.display:
            self._show(agent)

    def reveal(self, shown: bool) -> None:
        """Show or hide the panel (zoom); shown again, it catches up with its agent."""
        if shown != self.display:
            self.display = shown
            if shown and self.is_mounted:
                self._show(self._agent)

    def _show(self, agent: AgentView) -> None:
        status = (agent.status, len(agent.open_calls))
        if status != self._status:
            self._status = status
            glyph, colour, _ = AGENT_STATUS[agent.status]
            at_once = f" · {status[1]} calls at once" if status[1] > 1 else ""
            label = f"{glyph} {agent.status}{at_once}"
            self.border_subtitle = Content.styled(label, self.app.theme_variables[colour]) if colour else Content(label)
            self._paint_border()
        stats = stats_line(agent)
        if stats != self._stats:
            self._stats = stats
            self.query_one("#stats", Static).update(Content(stats), layout=False)  # one line
        new = agent.line_total - self._shown_total
        if new < 0 or new > len(agent.lines):
            self.stream.reset(agent.lines, agent.partial)
        else:
            self.stream.append(islice(agent.lines, len(agent.lines) - new, None), agent.partial)
        self._shown_total = agent.line_total

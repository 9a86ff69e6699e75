"""BudgetBar: gauges for tokens, cost, turns and time that change colour near their limits."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from engine.formats import clock, money
from tui.view import Budget

GAUGE_WIDTH = 8


def gauge_style(share: float) -> str:
    if share >= 0.9:
        return "$text-error"
    if share >= 0.7:
        return "$text-warning"
    return "$text-success"


def gauge(label: str, used: float, limit: float | None, fmt) -> list[Content | tuple[str, str] | str]:
    parts: list[Content | tuple[str, str] | str] = [(label + " ", "bold")]
    if limit is None:
        return parts + [fmt(used)]
    share = min(1.0, used / limit) if limit else 1.0
    filled = round(share * GAUGE_WIDTH)
    style = gauge_style(share)
    return parts + [
        (fmt(used), style), f"/{fmt(limit)} ",
        ("█" * filled, style), ("░" * (GAUGE_WIDTH - filled), "dim"),
    ]


class BudgetBar(Static):
    """One line of budget gauges."""

    _shown: Content | None = None

    DEFAULT_CSS = """
    BudgetBar { height: 1; background: $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, budget: Budget, seconds: float) -> None:
        limits = budget.limits
        parts: list[Content | tuple[str, str] | str] = []
        for index, (label, used, limit, fmt) in enumerate((
            ("tokens", budget.tokens, limits.get("tokens"), lambda v: f"{int(v):,}"),
            ("cost", budget.cost, limits.get("cost"), money),
            ("turns", budget.turns, limits.get("turns"), lambda v: f"{int(v)}"),
            ("time", seconds, limits.get("seconds"), clock),
        )):
            if index:
                parts.append("  ")
            parts += gauge(label, used, limit, fmt)
        parts += ["  ", (f"{budget.calls} calls", "dim")]
        content = Content.assemble(*parts)
        if content != self._shown:  # one line, as wide as the screen: no layout needed
            self._shown = content
            self.update(content, layout=False)

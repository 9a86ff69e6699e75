"""BudgetBar: gauges for tokens, cost, turns and time that change colour near their limits.

On a narrow terminal the gauges shorten, then go (the numbers keep their colours),
then the labels shorten: the line always fits."""

from __future__ import annotations

from functools import partial

from textual.content import Content
from textual.widgets import Static

from engine.formats import amount, cost_text, plural
from engine.state import Budget

GAUGE_WIDTH = 8
FITS = ((GAUGE_WIDTH, False), (4, False), (0, False), (0, True))
"""(gauge width, short labels), widest first: the first that fits the bar is drawn."""
SHORT = {"tokens": "tok", "cost": "", "turns": "turns", "time": ""}


def gauge_style(share: float) -> str:
    if share >= 0.9:
        return "$text-error"
    if share >= 0.7:
        return "$text-warning"
    return "$text-success"


def gauge(
    label: str, used: float, limit: float | None, fmt, width: int = GAUGE_WIDTH, shown: str | None = None,
) -> list[Content | tuple[str, str] | str]:
    """A gauge: what is `used` (as `shown`, if given) of `limit`, in a colour for how near it is."""
    parts: list[Content | tuple[str, str] | str] = [(label + " ", "bold")] if label else []
    shown = fmt(used) if shown is None else shown
    if limit is None:
        return parts + [shown]
    share = min(1.0, used / limit) if limit else 1.0
    filled = round(share * width)
    style = gauge_style(share)
    parts += [(shown, style), f"/{fmt(limit)}"]
    return parts + [" ", ("█" * filled, style), ("░" * (width - filled), "dim")] if width else parts


class BudgetBar(Static):
    """One line of budget gauges."""

    _shown: Content | None = None
    _last: tuple[Budget, float] | None = None

    DEFAULT_CSS = """
    BudgetBar { height: 1; background: $panel; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def on_resize(self) -> None:
        if self._last is not None:
            self.show(*self._last)

    def show(self, budget: Budget, seconds: float) -> None:
        self._last = (budget, seconds)
        room = self.content_region.width
        for width, short in FITS:
            content = self._line(budget, seconds, width, short)
            if not room or content.cell_length <= room:
                break
        if content != self._shown:  # one line, as wide as the screen: no layout needed
            self._shown = content
            self.update(content, layout=False)

    def _line(self, budget: Budget, seconds: float, width: int, short: bool) -> Content:
        limits = budget.limits
        parts: list[Content | tuple[str, str] | str] = []
        for index, (label, resource, used) in enumerate((
            ("tokens", "tokens", budget.tokens), ("cost", "cost", budget.cost),
            ("turns", "turns", budget.turns), ("time", "seconds", seconds),
        )):
            if index:
                parts.append("  ")
            # Cost: what the priced calls cost, and "+?" when some had no price (a cost limit counts priced ones).
            shown = cost_text(used, budget.unpriced, short=True) if resource == "cost" else None
            parts += gauge(
                SHORT[label] if short else label, used, limits.get(resource), partial(amount, resource), width, shown,
            )
        parts += ["  ", (plural(budget.calls, "call"), "dim")]
        return Content.assemble(*parts)

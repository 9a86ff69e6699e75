"""BudgetFields: the four budgets of a session typed in a row (tokens, cost, turns, minutes),
as the launch screen and the fork form ask for them. The inputs keep their ids (#tokens,
#cost, #turns, #minutes) so a screen's focus order and tests reach them by name."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from engine.budgets import Limits
from tui.setup import budget_number

FIELDS = (("tokens", "tokens", "integer"), ("cost", "cost in $", "number"), ("turns", "turns", "integer"),
          ("minutes", "minutes", "number"))
"""Each field: its id, its label, what it takes."""


class BudgetFields(Horizontal):
    """A field left empty means `empty` ("no limit", "as recorded"), which it shows greyed
    as its hint until something is typed."""

    DEFAULT_CSS = """
    BudgetFields {
        height: auto;
        & > .budget { width: 1fr; height: auto; }
        & .budget-label { color: $text-muted; padding-left: 1; }
    }
    """

    def __init__(self, *, empty: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty = empty

    def compose(self) -> ComposeResult:
        for field_id, label, kind in FIELDS:
            with Vertical(classes="budget"):
                yield Static(label, classes="budget-label")
                yield Input(placeholder=self.empty, type=kind, id=field_id)  # type: ignore[arg-type]

    def show(self, limits: Limits) -> None:
        """Fill the fields with `limits` (empty where there is none)."""
        minutes = limits.seconds / 60 if limits.seconds else None
        for field_id, value in (("tokens", limits.tokens), ("cost", limits.cost), ("turns", limits.turns), ("minutes", minutes)):
            self.query_one(f"#{field_id}", Input).value = "" if value is None else f"{value:g}"

    def limits(self) -> Limits:
        """What the fields say; `tui.setup.SetupError` names one that is not a number above zero."""
        minutes = budget_number(self._text("minutes"), float, "minutes")
        return Limits(
            tokens=budget_number(self._text("tokens"), int, "tokens"),  # type: ignore[arg-type]
            cost=budget_number(self._text("cost"), float, "cost"),
            turns=budget_number(self._text("turns"), int, "turns"),  # type: ignore[arg-type]
            seconds=minutes * 60 if minutes else None,
        )

    def _text(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value

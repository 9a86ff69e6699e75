"""AgentGrid: the agents' panels, laid out to fit how many there are."""

from __future__ import annotations

from textual.containers import Container

from tui.widgets.agent_panel import AgentPanel


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows) that show `count` panels at a glance, up to 12."""
    if count <= 1:
        return 1, 1
    if count == 2:
        return 2, 1
    if count <= 4:
        return 2, 2
    if count <= 6:
        return 3, 2
    if count <= 9:
        return 3, 3
    return 4, 3


class AgentGrid(Container):
    """Up to 12 panels share the space; more scroll in rows of four. One can be zoomed."""

    DEFAULT_CSS = """
    AgentGrid {
        layout: grid;
        grid-gutter: 0 1;
        height: 1fr;
        &.-many { overflow-y: auto; }
    }
    """

    zoomed: AgentPanel | None = None

    def fit(self) -> None:
        """Lay the panels out for their number, or the zoomed one alone."""
        count = len(self.query_children(AgentPanel))
        if self.zoomed is not None:
            columns, rows, many = 1, 1, False
        else:
            (columns, rows), many = grid_shape(count), count > 12
        self.set_class(many, "-many")
        self.styles.grid_size_columns = columns
        self.styles.grid_size_rows = 0 if many else rows
        self.styles.grid_rows = "14" if many else "1fr"

    def zoom(self, panel: AgentPanel | None) -> None:
        """Show `panel` alone, or (None) every panel again; a panel shown again catches up
        with what its agent did while it was hidden."""
        # Display is set directly rather than through CSS classes: no restyling of
        # every panel on each zoom, which keeps the key press quick while streaming.
        self.zoomed = panel
        for child in self.query_children(AgentPanel):
            child.reveal(panel is None or child is panel)
        self.fit()

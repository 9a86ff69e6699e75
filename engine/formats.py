"""How amounts read, wherever they are shown: the app, the transcript, exports, escalations."""

from __future__ import annotations


def money(value: float) -> str:
    """US dollars: four decimals under a dollar, where agent calls mostly are."""
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def clock(seconds: float) -> str:
    """Minutes and seconds: 0:07, 12:30."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"

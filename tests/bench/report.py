"""Printing benchmark figures and checking them against targets."""

from __future__ import annotations


class Report:
    def __init__(self) -> None:
        self.ok = True

    def figure(self, label: str, value: float, unit: str = "") -> None:
        print(f"  {label:<58} {value:>12,.2f} {unit}")

    def target(self, label: str, value: float, limit: float, *, at_most: bool = True, unit: str = "") -> None:
        met = value <= limit if at_most else value >= limit
        self.ok &= met
        sign = "<=" if at_most else ">="
        print(f"  {label:<58} {value:>12,.3f} {unit}  (target {sign} {limit:g}: {'met' if met else 'MISSED'})")

"""Argument types every command parses its options with: each mistake one line, which
argparse prefixes with the option's name."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

LARGEST = 2**63 - 1
"""The largest whole number huddle records (a 64-bit integer in the database)."""


def number(kind: type[int] | type[float], least: str = "positive") -> Callable[[str], Any]:
    """An argparse type for every numeric option: a finite number of `kind`, within what
    huddle can record, and `least` "positive" (more than zero), "zero" (zero or more)
    or "any". Anything else is one line: argparse names the option."""
    what = "whole number" if kind is int else "number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if least == "positive" and value <= 0:
            raise argparse.ArgumentTypeError("must be more than zero")
        if least == "zero" and value < 0:
            raise argparse.ArgumentTypeError("must be zero or more")
        if abs(value) > LARGEST:
            raise argparse.ArgumentTypeError(f"{text!r} is too large (at most {LARGEST})")
        return value

    return parse


def text_argument(text: str) -> str:
    """An argument as text: bytes that are not UTF-8 (which Python keeps as lone
    surrogates) become U+FFFD, so they can be recorded and printed."""
    return os.fsencode(text).decode("utf-8", "replace") if any("\udc80" <= c <= "\udcff" for c in text) else text

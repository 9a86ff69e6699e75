"""The argument types every command parses its options with: a mistake is one line
saying what is wrong (argparse names the option)."""

from __future__ import annotations

import argparse

import pytest

from tui.arguments import LARGEST, number
from tui.serve_cli import port_number


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("abc", "'abc' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        ("-1", "-1 is not a port (0 to 65535)"),
        ("65536", "65536 is not a port (0 to 65535)"),
        (str(LARGEST + 1), f"is too large (at most {LARGEST})"),
    ],
)
def test_a_port_that_is_not_one_is_one_line(text: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        port_number(text)
    assert said in str(raised.value) and "\n" not in str(raised.value)


def test_a_port_is_read_as_the_number_it_is() -> None:
    assert (port_number(" 8080 "), port_number("0"), port_number("65535")) == (8080, 0, 65535)


@pytest.mark.parametrize(
    ("kind", "least", "text", "said"),
    [
        (int, "positive", "0", "must be more than zero"),
        (float, "zero", "-0.5", "must be zero or more"),
        (float, "any", "nan", "'nan' is not a finite number"),
        (float, "positive", "ten", "'ten' is not a number"),
    ],
)
def test_a_number_out_of_bounds_is_one_line(kind: type, least: str, text: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=said):
        number(kind, least)(text)

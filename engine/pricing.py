"""Prices per million tokens, so every call's cost can be shown as it happens.

A model the table does not know has no price: its calls cost `None` ("cost unknown"),
never a guess. The user's `[prices]` in config.toml price any model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.events import Usage


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


def price_of(
    input: float, output: float, *, cache_write: float | None = None, cache_read: float | None = None,
    read_share: float = 0.1,
) -> Price:
    """A price from input and output rates; five-minute cache writes default to 1.25x
    input, and reads to a share of it."""
    return Price(
        input, output,
        input * 1.25 if cache_write is None else cache_write,
        input * read_share if cache_read is None else cache_read,
    )


PRICES: dict[str, Price] = {
    "claude-fable-5-1": price_of(10, 50, read_share=0.025),
    "claude-fable-5": price_of(10, 50),
    "claude-opus-5-5": price_of(4, 20, read_share=0.05),
    "claude-opus-5": price_of(5, 25),
    "claude-opus-4-8": price_of(5, 25),
    "claude-opus-4-7": price_of(5, 25),
    "claude-opus-4-6": price_of(5, 25),
    "claude-opus-4-5": price_of(5, 25),
    "claude-sonnet-5-5": price_of(2, 10, read_share=0.05),
    "claude-sonnet-5": price_of(2, 10),
    "claude-sonnet-4-6": price_of(3, 15),
    "claude-sonnet-4-5": price_of(3, 15),
    "claude-haiku-5-5": price_of(0.10, 0.50),
    "claude-haiku-4-5": price_of(1, 5),
    # OpenAI bills no cache writes: a cached prompt is written at the input rate.
    "gpt-5": price_of(1.25, 10, cache_write=1.25, cache_read=0.125),
    "gpt-5-mini": price_of(0.25, 2, cache_write=0.25, cache_read=0.025),
    "gpt-5-nano": price_of(0.05, 0.40, cache_write=0.05, cache_read=0.005),
    "gpt-4.1": price_of(2, 8, cache_write=2, cache_read=0.50),
    "gpt-4.1-mini": price_of(0.40, 1.60, cache_write=0.40, cache_read=0.10),
    "gpt-4.1-nano": price_of(0.10, 0.40, cache_write=0.10, cache_read=0.025),
    "gpt-4o": price_of(2.50, 10, cache_write=2.50, cache_read=1.25),
    "gpt-4o-mini": price_of(0.15, 0.60, cache_write=0.15, cache_read=0.075),
    "o3": price_of(2, 8, cache_write=2, cache_read=0.50),
    "o4-mini": price_of(1.10, 4.40, cache_write=1.10, cache_read=0.275),
}

DATED = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
"""The date a dated model id ends with: "-20251001" (Anthropic), "-2025-08-07" (OpenAI)."""


class PriceTable:
    """Model prices, with user overrides on top of the built-in table."""

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._prices = {**PRICES, **(overrides or {})}

    def price(self, model: str) -> Price | None:
        """The model's price; None when neither the table nor the user's prices know it.
        A dated id ("claude-haiku-4-5-20251001", "gpt-5-2025-08-07") prices as its alias; a
        local server's tagged id ("llama3.2:latest") as its name when only that is priced; a
        gateway's "vendor/model" id ("openai/gpt-5-mini") as its model, unless the id itself
        is priced."""
        name = model
        while True:
            for candidate in (name, DATED.sub("", name), name.split(":", 1)[0]):
                price = self._prices.get(candidate)
                if price is not None:
                    return price
            _, slash, rest = name.partition("/")
            if not slash or not rest:
                return None
            name = rest

    def cost(self, model: str, usage: Usage) -> float | None:
        """What `usage` of `model` costs in US dollars; None when the model has no price
        (nothing used costs nothing, priced or not)."""
        if not usage.total:
            return 0.0
        price = self.price(model)
        if price is None:
            return None
        return (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_write_tokens * price.cache_write
            + usage.cache_read_tokens * price.cache_read
        ) / 1_000_000


def rounded(cost: float | None, digits: int = 8) -> float | None:
    """A cost as an event carries it: rounded, and None (no price) kept as it is."""
    return None if cost is None else round(cost, digits)

"""Prices per million tokens, so every call's cost can be shown as it happens."""

from __future__ import annotations

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
}

# A model missing from the table is priced like a mid-tier model rather than free,
# so a typo in a team file cannot hide spending.
FALLBACK = price_of(3, 15)


class PriceTable:
    """Model prices, with user overrides on top of the built-in table."""

    def __init__(self, overrides: dict[str, Price] | None = None) -> None:
        self._prices = {**PRICES, **(overrides or {})}

    def price(self, model: str) -> Price:
        if model in self._prices:
            return self._prices[model]
        # Dated ids ("claude-haiku-4-5-20251001") price as their alias.
        for name, price in self._prices.items():
            if model.startswith(name + "-"):
                return price
        return FALLBACK

    def cost(self, model: str, usage: Usage) -> float:
        price = self.price(model)
        return (
            usage.input_tokens * price.input
            + usage.output_tokens * price.output
            + usage.cache_write_tokens * price.cache_write
            + usage.cache_read_tokens * price.cache_read
        ) / 1_000_000

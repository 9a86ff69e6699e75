"""Prices: the built-in table, dated and gateway ids, the user's own prices, and a model
with no price, whose cost is unknown (None), never a guess."""

from __future__ import annotations

from dataclasses import astuple

import pytest

from engine.config import parse_config
from engine.events import Usage
from engine.formats import cost_text
from engine.pricing import Price, PriceTable

def rates(price: Price | None) -> object:
    """A price's four rates, to compare without float noise."""
    assert price is not None
    return pytest.approx(astuple(price))


MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=1_000_000, cache_write_tokens=1_000_000)


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("gpt-5", Price(1.25, 10, 1.25, 0.125)),
        ("gpt-5-mini", Price(0.25, 2, 0.25, 0.025)),
        ("gpt-5-nano", Price(0.05, 0.40, 0.05, 0.005)),
        ("gpt-4.1", Price(2, 8, 2, 0.50)),
        ("gpt-4.1-mini", Price(0.40, 1.60, 0.40, 0.10)),
        ("gpt-4.1-nano", Price(0.10, 0.40, 0.10, 0.025)),
        ("gpt-4o", Price(2.50, 10, 2.50, 1.25)),
        ("gpt-4o-mini", Price(0.15, 0.60, 0.15, 0.075)),
        ("o3", Price(2, 8, 2, 0.50)),
        ("o4-mini", Price(1.10, 4.40, 1.10, 0.275)),
        ("claude-sonnet-4-5", Price(3, 15, 3.75, 0.3)),
    ],
)
def test_known_models_have_their_price(model: str, price: Price) -> None:
    assert astuple(PriceTable().price(model)) == rates(price)


def test_openai_bills_cache_writes_as_input() -> None:
    usage = Usage(input_tokens=1_000_000, cache_write_tokens=1_000_000, cache_read_tokens=1_000_000, output_tokens=500_000)
    assert PriceTable().cost("gpt-5-mini", usage) == pytest.approx(0.25 + 0.25 + 0.025 + 1.0)


@pytest.mark.parametrize(
    ("dated", "alias"),
    [
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("o3-2025-04-16", "o3"),
    ],
)
def test_a_dated_id_prices_as_its_alias(dated: str, alias: str) -> None:
    table = PriceTable()
    assert table.price(dated) == table.price(alias) is not None


def test_another_model_of_the_same_family_is_not_priced_as_it() -> None:
    # o3-pro costs ten times o3: a name that merely starts like a priced one has no price.
    table = PriceTable()
    assert table.price("o3-pro") is None and table.price("gpt-5-turbo-ultra") is None


@pytest.mark.parametrize(
    ("gateway_id", "model"),
    [
        ("openai/gpt-5-mini", "gpt-5-mini"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("openrouter/openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ],
)
def test_a_gateways_vendor_prefixed_id_prices_as_its_model(gateway_id: str, model: str) -> None:
    table = PriceTable()
    assert table.price(gateway_id) == table.price(model) is not None


def test_an_unknown_model_has_no_price_and_its_cost_is_unknown() -> None:
    table = PriceTable()
    for model in ("llama3.2", "meta-llama/llama-3.3-70b", "openai/", "qwen2.5:7b"):
        assert table.price(model) is None, model
        assert table.cost(model, MILLION) is None, model
    assert table.cost("llama3.2", Usage()) == 0.0  # nothing used costs nothing, priced or not


def test_the_users_prices_price_any_model_and_win_over_the_table() -> None:
    config = parse_config(
        '[prices."llama3.2"]\ninput = 0.5\noutput = 1.5\n'
        '[prices."gpt-5"]\ninput = 1\noutput = 2\ncache_read = 0.1\n'
        '[prices."openai/gpt-5-mini"]\ninput = 9\noutput = 9\n',
        "config.toml",
    )
    table = config.price_table()
    usage = Usage(input_tokens=2_000_000, output_tokens=1_000_000)
    assert table.cost("llama3.2", usage) == pytest.approx(2.5)
    assert table.cost("llama3.2:latest", usage) == pytest.approx(2.5)  # a local server's tag
    assert table.price("qwen3:8b") is None
    assert astuple(table.price("gpt-5")) == rates(Price(1, 2, 1.25, 0.1))
    assert astuple(table.price("gpt-5-2025-08-07")) == rates(Price(1, 2, 1.25, 0.1))  # its dated ids too
    assert astuple(table.price("openai/gpt-5-mini")) == rates(Price(9, 9, 11.25, 0.9))  # the gateway's id, as priced
    assert astuple(table.price("gpt-5-mini")) == rates(Price(0.25, 2, 0.25, 0.025))
    assert table.price("llama3.3") is None


@pytest.mark.parametrize(
    ("cost", "unpriced", "short", "shown"),
    [
        (0.0123, 0, False, "$0.0123"),
        (12.5, 0, True, "$12.50"),
        (0.0, 0, False, "$0.0000"),
        (0.0123, 2, False, "$0.0123 + ?"),
        (0.0123, 2, True, "$0.012+?"),
        (12.5, 1, True, "$12.50+?"),
        (0.0, 3, False, "cost unknown"),
        (0.0, 3, True, "?"),
        (None, 0, False, "cost unknown"),
        (None, 0, True, "?"),
    ],
)
def test_cost_reads_the_same_everywhere_and_never_as_a_made_up_number(
    cost: float | None, unpriced: int, short: bool, shown: str
) -> None:
    assert cost_text(cost, unpriced, short=short) == shown

"""Exchange precision rules: lot and tick rounding, minimums, dust."""

from __future__ import annotations

import pytest

from executor.sizing import (
    MarketRules,
    OrderNotPlaceable,
    entry_quantity,
    exit_quantity,
    floor_quantity,
    is_dust,
    round_limit_price,
)

BTC = MarketRules(
    "BTC/USDT", amount_step=0.00001, price_tick=0.01, min_quantity=0.00001, min_notional=5.0
)


def test_quantities_floor_to_the_lot_step_without_float_residue() -> None:
    assert floor_quantity(0.123456789, BTC) == 0.12345
    assert floor_quantity(0.3, MarketRules("X/USDT", amount_step=0.1)) == 0.3
    assert floor_quantity(1.23, MarketRules("X/USDT")) == 1.23


def test_limit_prices_round_away_from_the_market() -> None:
    assert round_limit_price(100.019, "buy", BTC) == 100.01
    assert round_limit_price(100.011, "sell", BTC) == 100.02


def test_entry_quantity_buys_at_most_the_notional() -> None:
    quantity = entry_quantity(100.0, 60_000.0, BTC)
    assert quantity == 0.00166
    assert quantity * 60_000.0 <= 100.0


def test_entry_below_min_notional_is_refused_with_the_rule() -> None:
    with pytest.raises(OrderNotPlaceable, match=r"notional .* below the exchange minimum 5"):
        entry_quantity(4.0, 60_000.0, BTC)


def test_entry_without_a_price_is_refused() -> None:
    with pytest.raises(OrderNotPlaceable, match="no usable price"):
        entry_quantity(100.0, 0.0, BTC)


def test_exit_sells_everything_by_default() -> None:
    assert exit_quantity(0.0123456, None, 60_000.0, BTC) == 0.01234


def test_partial_exit_that_would_leave_dust_takes_the_dust_too() -> None:
    # Selling 0.01 of 0.01005 would leave 0.00005 BTC (3 USDT): below the 5 USDT minimum.
    assert exit_quantity(0.01005, 0.01, 60_000.0, BTC) == 0.01005


def test_partial_exit_with_a_sellable_remainder_stays_partial() -> None:
    assert exit_quantity(0.02, 0.01, 60_000.0, BTC) == 0.01


def test_exit_of_dust_is_refused() -> None:
    assert is_dust(0.00005, 60_000.0, BTC)
    with pytest.raises(OrderNotPlaceable, match="cannot exit"):
        exit_quantity(0.00005, None, 60_000.0, BTC)


def test_max_quantity_is_enforced() -> None:
    rules = MarketRules("X/USDT", max_quantity=10.0)
    with pytest.raises(OrderNotPlaceable, match="above the exchange maximum"):
        entry_quantity(1100.0, 100.0, rules)

"""The one sizing path and exit-level function (trading_core.position_sizing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trading_core import fills
from trading_core.position_sizing import all_in_quantity, entry_notional, exit_levels


def test_entry_notional_is_fraction_times_position_fraction_times_equity() -> None:
    assert entry_notional(
        equity=10_000.0, cash=10_000.0, size_fraction=0.5, position_fraction=0.2
    ) == pytest.approx(1_000.0)
    # None means "the strategy set none": the whole allowed share
    assert entry_notional(
        equity=10_000.0, cash=10_000.0, size_fraction=None, position_fraction=0.2
    ) == pytest.approx(2_000.0)
    # a fraction above 1 is capped at 1
    assert entry_notional(equity=500.0, cash=500.0, size_fraction=3.0) == 500.0


def test_entry_notional_all_in_default_equals_fraction_of_cash_when_flat() -> None:
    # the backtester's convention: flat -> equity == cash, position_fraction == 1
    cash = 12_345.678
    assert entry_notional(equity=cash, cash=cash, size_fraction=0.25) == cash * 0.25
    assert entry_notional(equity=cash, cash=cash, size_fraction=1.0) == cash


def test_entry_notional_never_above_cash_never_negative() -> None:
    assert entry_notional(equity=10_000.0, cash=300.0, size_fraction=1.0) == 300.0
    assert entry_notional(equity=0.0, cash=0.0, size_fraction=1.0) == 0.0
    assert entry_notional(equity=100.0, cash=100.0, size_fraction=0.0) == 0.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("equity", math.nan),
        ("equity", -1.0),
        ("equity", math.inf),
        ("cash", math.nan),
        ("cash", -5.0),
        ("size_fraction", math.nan),
        ("size_fraction", -0.1),
        ("size_fraction", math.inf),
        ("position_fraction", math.nan),
        ("position_fraction", -0.5),
        ("position_fraction", 1.5),
        ("equity", "100"),
        ("cash", None),
        ("equity", True),
    ],
)
def test_entry_notional_rejects_hostile_input_naming_the_argument(
    field: str, value: object
) -> None:
    kwargs: dict[str, object] = {
        "equity": 1_000.0,
        "cash": 1_000.0,
        "size_fraction": 0.5,
        "position_fraction": 1.0,
    }
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        entry_notional(**kwargs)  # type: ignore[arg-type]


def test_entry_notional_accepts_numpy_scalars() -> None:
    assert (
        entry_notional(equity=np.float64(100.0), cash=np.int64(100), size_fraction=np.float32(0.5))
        == 50.0
    )


def test_all_in_quantity_value_plus_fee_equals_notional() -> None:
    q = all_in_quantity(1_000.0, 2.5, 0.001)
    assert q == fills.all_in_quantity(1_000.0, 2.5, 0.001)
    assert q * 2.5 + fills.fee_amount(q * 2.5, 0.001) == pytest.approx(1_000.0, rel=1e-15)
    assert all_in_quantity(0.0, 2.5, 0.001) == 0.0


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((math.nan, 1.0, 0.001), "notional"),
        ((-1.0, 1.0, 0.001), "notional"),
        ((100.0, 0.0, 0.001), "price"),
        ((100.0, -2.0, 0.001), "price"),
        ((100.0, math.inf, 0.001), "price"),
        ((100.0, 1.0, -0.001), "fee_rate"),
        ((100.0, 1.0, math.nan), "fee_rate"),
        ((100.0, 1.0, 1.0), "fee_rate"),
    ],
)
def test_all_in_quantity_rejects_hostile_input(
    args: tuple[float, float, float], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        all_in_quantity(*args)


def test_exit_levels_strategy_levels_win_over_defaults() -> None:
    assert exit_levels(
        100.0,
        stop_loss=90.0,
        take_profit=130.0,
        default_stop_fraction=0.02,
        default_take_fraction=0.04,
    ) == (90.0, 130.0)


def test_exit_levels_defaults_are_fractions_of_the_entry_price() -> None:
    stop, take = exit_levels(
        1.2345,
        stop_loss=None,
        take_profit=math.nan,
        default_stop_fraction=0.02,
        default_take_fraction=0.04,
    )
    # exactly the formulas the live asset and the backtester used before (bit for bit)
    assert stop == 1.2345 * (1.0 - 0.02)
    assert take == 1.2345 * (1.0 + 0.04)


def test_exit_levels_none_without_level_or_default() -> None:
    assert exit_levels(100.0, stop_loss=None, take_profit=None) == (None, None)
    assert exit_levels(
        100.0, stop_loss=np.float64(np.nan), take_profit=None, default_take_fraction=0.5
    ) == (None, 150.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entry_price": math.nan}, "entry_price"),
        ({"entry_price": 0.0}, "entry_price"),
        ({"entry_price": -3.0}, "entry_price"),
        ({"stop_loss": -1.0}, "stop_loss"),
        ({"stop_loss": math.inf}, "stop_loss"),
        ({"take_profit": 0.0}, "take_profit"),
        ({"take_profit": "high"}, "take_profit"),
        ({"default_stop_fraction": 1.0}, "default_stop_fraction"),
        ({"default_stop_fraction": -0.1}, "default_stop_fraction"),
        ({"default_stop_fraction": math.nan}, "default_stop_fraction"),
        ({"default_take_fraction": 0.0}, "default_take_fraction"),
        ({"default_take_fraction": math.inf}, "default_take_fraction"),
    ],
)
def test_exit_levels_rejects_hostile_input(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "entry_price": 100.0,
        "stop_loss": None,
        "take_profit": None,
        "default_stop_fraction": None,
        "default_take_fraction": None,
    }
    args.update(kwargs)
    price = args.pop("entry_price")
    with pytest.raises(ValueError, match=field):
        exit_levels(price, **args)  # type: ignore[arg-type]


def test_the_compiled_sweep_kernel_uses_the_same_formulas() -> None:
    from trading_core.backtest import sweep_simulate as sweep
    from trading_core.position_sizing import notional_arithmetic, quantity_arithmetic

    rng = np.random.default_rng(7)
    for cash, price, fee in rng.uniform([1.0, 1e-4, 0.0], [1e7, 1e5, 0.01], size=(200, 3)):
        notional = entry_notional(equity=cash, cash=cash, size_fraction=1.0)
        assert notional == notional_arithmetic(cash, cash, 1.0, 1.0) == cash
        assert sweep._entry_notional(cash, cash, 1.0, 1.0) == notional
        assert sweep._all_in_quantity(notional, price, fee) == quantity_arithmetic(
            notional, price, fee
        )
        assert all_in_quantity(notional, price, fee) == fills.all_in_quantity(cash, price, fee)

"""The pure parts of trading_core.incremental_history: which markets a run takes, which
points are at the edge, and the configuration that bounds it."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from trading_core.config_operations import OperationsConfig
from trading_core.incremental_history import (
    AT_EDGE,
    HISTORY_ENV,
    choose_markets,
    classify,
    history_budget,
)


def costs(*rows: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"exchange": "binance", "symbol": [s for s, _ in rows], "rows": [n for _, n in rows]}
    )


def test_markets_are_taken_in_key_order_while_they_fit() -> None:
    found = costs(("ETH/USDT", 400), ("BTC/USDT", 500), ("SOL/USDT", 100))
    assert len(choose_markets(found, 1000)) == 3
    assert choose_markets(found, 950) == {("binance", "BTC/USDT"), ("binance", "ETH/USDT")}
    # SOL alone would fit after BTC, but the order is the keys': it never jumps ahead of ETH
    assert choose_markets(found, 899) == {("binance", "BTC/USDT")}


def test_the_first_market_is_taken_whatever_its_size() -> None:
    assert choose_markets(costs(("BTC/USDT", 10**9)), 1) == {("binance", "BTC/USDT")}
    assert choose_markets(costs(), 10) == set()


@pytest.mark.parametrize("budget", [-1, -5])
def test_a_negative_budget_is_refused(budget: int) -> None:
    with pytest.raises(ValueError, match="history_rows_per_run"):
        choose_markets(costs(("BTC/USDT", 1)), budget)


def test_a_zero_budget_defers_every_market() -> None:
    assert choose_markets(costs(("BTC/USDT", 1), ("ETH/USDT", 0)), 0) == set()


def test_the_history_mode_comes_from_the_environment() -> None:
    assert history_budget(5000, {}) == 5000
    assert history_budget(5000, {HISTORY_ENV: "fold"}) == 5000
    assert history_budget(5000, {HISTORY_ENV: "defer"}) == 0


@pytest.mark.parametrize("mode", ["", "DEFER", "0", "later", "defer "])
def test_an_unknown_history_mode_names_the_variable_and_the_modes(mode: str) -> None:
    with pytest.raises(
        ValueError, match=r"TRADING_SIGNAL_HISTORY must be one of \['fold', 'defer'\]"
    ):
        history_budget(5000, {HISTORY_ENV: mode})


def test_points_are_classified_against_their_series_edge() -> None:
    edges = pd.DataFrame(
        {
            "exchange": ["binance"],
            "symbol": ["BTC/USDT"],
            "timeframe": ["1h"],
            "edge_from": [pd.Timestamp("2024-06-01")],
        }
    )
    plan = pd.DataFrame(
        {
            "exchange": "binance",
            "symbol": ["BTC/USDT", "BTC/USDT", "ETH/USDT"],
            "timeframe": "1h",
            "recompute_from": pd.to_datetime(
                ["2024-05-31 23:00", "2024-06-01 00:00", "2024-07-01 00:00"]
            ),
        }
    )
    # behind the edge: history; at or after it: the edge; a series never stored: history
    assert classify(plan, edges)[AT_EDGE].tolist() == [False, True, False]
    assert classify(plan.iloc[:0], edges).empty


@pytest.mark.parametrize("value", [0, 999, -1, "lots", float("nan"), 10**9])
def test_the_operations_budget_names_its_field(value: object) -> None:
    with pytest.raises(ValidationError, match="signal_history_rows_per_run"):
        OperationsConfig(signal_history_rows_per_run=value)

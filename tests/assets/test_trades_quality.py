"""The trades and perpetual-data checks on hostile frames: every row ends up clean or
quarantined with its reason, and each check counts exactly the rows of its reasons."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from trading_core.quality.funding import assess_funding
from trading_core.quality.trades import TRADE_CHECK_SPECS, assess_trades

DAY = datetime(2026, 1, 1)
WINDOW = (DAY, DAY + timedelta(days=1))


def trades(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "exchange": ["sim"] * n,
        "symbol": ["BTC/USDT"] * n,
        "ts": [DAY + timedelta(minutes=i) for i in range(n)],
        "trade_id": [str(i) for i in range(n)],
        "side": ["buy"] * n,
        "price": [100.0] * n,
        "amount": [1.0] * n,
    }
    return pd.DataFrame({**base, **columns})


def reasons(frame: pd.DataFrame, now: datetime | None = None) -> list[str]:
    result = assess_trades(frame, WINDOW, now)
    assert len(result.clean) + len(result.quarantined) == len(frame)
    by_row = dict.fromkeys(frame["trade_id"].astype(str), "")
    for row in result.quarantined.itertuples():
        by_row[str(row.trade_id)] = row.reason
    return list(by_row.values())


def test_row_faults_each_get_their_reason() -> None:
    frame = trades(
        price=[100.0, np.nan, -1.0, 0.0, np.inf, 1e300],
        side=["buy", "sell", "buy", "BUY", "sell", "sell"],
    )
    assert reasons(frame) == [
        "",
        "missing_value",
        "non_positive_price",
        "non_positive_price;unknown_side",
        "non_positive_price",
        "",  # huge but a valid number: the checks do not invent a price ceiling
    ]


def test_window_and_now_bound_the_partition() -> None:
    frame = trades(ts=[DAY - timedelta(seconds=1), DAY, DAY + timedelta(hours=2),
                       DAY + timedelta(days=1)])  # fmt: skip
    assert reasons(frame, now=DAY + timedelta(hours=1)) == [
        "out_of_window", "", "out_of_window", "out_of_window",
    ]  # fmt: skip


def test_duplicates_copies_stay_once_and_versions_never() -> None:
    frame = trades(trade_id=["a", "a", "b", "b", "c"], price=[1.0, 1.0, 2.0, 3.0, 4.0],
                   ts=[DAY] * 5)  # fmt: skip
    result = assess_trades(frame, WINDOW)
    assert result.clean["trade_id"].tolist() == ["a", "c"]
    assert sorted(result.quarantined["reason"]) == [
        "conflicting_duplicate", "conflicting_duplicate", "duplicate_record",
    ]  # fmt: skip
    counts = {o.name: o.failing_count for o in result.outcomes}
    assert counts["trades_unique_ids"] == 2 and counts["trades_no_copies"] == 1
    assert [o.name for o in result.outcomes] == [s.name for s in TRADE_CHECK_SPECS]


def test_wrong_types_fail_the_schema_and_unreadable_cells_are_missing() -> None:
    frame = trades(price=["100", "abc", 5], side=["buy", 1, "sell"])
    result = assess_trades(frame, WINDOW)
    schema = next(o for o in result.outcomes if o.name == "trades_schema")
    assert not schema.passed and "price is object" in schema.detail
    assert "side holds" in schema.detail
    assert result.clean["price"].tolist() == [100.0, 5.0]
    assert result.quarantined["reason"].tolist() == ["missing_value"]
    assert result.clean["price"].dtype == np.float64


def test_missing_columns_name_themselves() -> None:
    with pytest.raises(ValueError, match=r"\['side'\]"):
        assess_trades(trades(price=[1.0]).drop(columns="side"), WINDOW)


def test_funding_rates_outside_the_plausible_range_are_quarantined() -> None:
    frame = pd.DataFrame({
        "exchange": "binance", "symbol": "XRP/USDT", "contract": "XRP/USDT:USDT",
        "ts": [DAY, DAY + timedelta(hours=8), DAY + timedelta(hours=16)],
        "funding_rate": [0.0001, -0.2, 0.05],
    })  # fmt: skip
    result = assess_funding(frame, WINDOW)
    assert result.quarantined["reason"].tolist() == ["implausible_rate"]
    assert result.clean["funding_rate"].tolist() == [0.0001, 0.05]  # the limit itself is fine

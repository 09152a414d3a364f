"""int_trade_flow (dbt): buy/sell volume, imbalance and large trades per bar, point in time:
a day's large-trade threshold comes from the day before, a bar sees only the funding rate
known at its end, and a blocked raw/trades partition is left out."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.dbt_models import dbt_models
from trading_core.warehouse import ensure_schema, replace_slice
from trading_pipelines.dbt import dbt_resource

pytestmark = pytest.mark.integration

DAY1, DAY2 = datetime(2026, 1, 1), datetime(2026, 1, 2)


def _trades() -> pd.DataFrame:
    rows = [  # day 1: notionals 100..1000, so day 2's 0.95 quantile is 955
        (DAY1 + timedelta(minutes=i), f"a{i}", "buy" if i % 2 else "sell", 100.0 * (i + 1), 1.0)
        for i in range(10)
    ]
    rows += [
        (DAY2 + timedelta(minutes=1), "b1", "buy", 500.0, 1.0),
        (DAY2 + timedelta(minutes=2), "b2", "buy", 960.0, 1.0),  # large
        (DAY2 + timedelta(minutes=3), "b3", "sell", 1000.0, 2.0),  # large (notional 2000)
        (DAY2 + timedelta(hours=6, minutes=5), "b4", "buy", 100.0, 1.0),
        (DAY2 + timedelta(hours=7, minutes=5), "b5", "sell", 100.0, 3.0),
        (DAY2 + timedelta(hours=9), "b6", "buy", 1e9, 1.0),  # huge: day 3's threshold only
    ]
    frame = pd.DataFrame(rows, columns=["ts", "trade_id", "side", "price", "amount"])
    return frame.assign(exchange="sim", symbol="BTC/USDT", source="sim", ingested_at=DAY2)


def _funding() -> pd.DataFrame:
    return pd.DataFrame({
        "exchange": "sim", "symbol": "BTC/USDT", "contract": "BTC/USDT:USDT",
        "ts": [DAY2, DAY2 + timedelta(hours=8)], "funding_rate": [0.0001, 0.0009],
        "source": "sim", "ingested_at": DAY2,
    })  # fmt: skip


def build(home) -> pd.DataFrame:
    result = dg.materialize(
        [dbt_models],
        selection=dg.AssetSelection.assets("int_trade_flow"),
        resources={"dbt": dbt_resource(home)},
    )
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute("select * from intermediate.int_trade_flow order by bar_ts").df()


def test_trade_flow_is_point_in_time(trading_home) -> None:
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        ensure_schema(conn)
        replace_slice(conn, "raw.trades", _trades(), "true")
        replace_slice(conn, "raw.funding_rates", _funding(), "true")
    flow = build(trading_home).set_index("bar_ts")
    first = flow.loc[pd.Timestamp(DAY1)]
    assert first["trades"] == 10 and first["buy_volume"] == 5 and first["sell_volume"] == 5
    assert first["volume_imbalance"] == 0 and pd.isna(first["large_trades"])  # no day before
    opening = flow.loc[pd.Timestamp(DAY2)]
    assert opening["large_trade_threshold"] == pytest.approx(955.0)
    assert (opening["large_trades"], opening["large_buys"], opening["large_sells"]) == (2, 1, 1)
    assert opening["volume_imbalance"] == pytest.approx((2 - 2) / 4)
    assert opening["funding_rate"] == 0.0001
    assert flow.loc[pd.Timestamp(DAY2 + timedelta(hours=6)), "funding_rate"] == 0.0001
    late = flow.loc[pd.Timestamp(DAY2 + timedelta(hours=7))]
    assert late["funding_rate"] == 0.0009  # known at 08:00, the bar's end
    assert late["volume_imbalance"] == -1
    # the huge trade of day 2 leaves day 2's threshold alone
    assert flow.loc[pd.Timestamp(DAY2 + timedelta(hours=9)), "large_trade_threshold"] == (
        pytest.approx(955.0)
    )

    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        conn.execute(
            "insert into raw.partition_checks values ('raw/trades', '2026-01-01|BTC-USDT', "
            "'trades_valid_values', false, 'ERROR', 1, ?)",
            [DAY2],
        )
    blocked = build(trading_home)
    assert blocked["bar_ts"].min() == pd.Timestamp(DAY2)  # day 1 left out
    assert blocked["large_trade_threshold"].isna().all()  # and no threshold from it

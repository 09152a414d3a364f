"""The journal models carry the strategy instance through a real dbt-duckdb build: two
instances trade BTC/USDT on one account (real Binance candles from ../shared/data); each
one's fills are its own sub-position (its own book), so positions, round trips, daily P&L
and fct_strategy_performance are per instance, and the equity curve still sums the account."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.dbt.test_journal_accounting import intent, lake_fill, real_candles, write_lake

pytestmark = pytest.mark.integration  # a dbt build: about a minute


def instance_intent(intent_id: str, day: str, side: str, action: str, instance: str) -> dict:
    row = intent(intent_id, day, side, action)
    return {**row, "reasons": json.dumps({"why": "test", "instance": instance})}


def test_a_dbt_build_keeps_each_instances_sub_position(trading_home: Path) -> None:
    from tests.dbt.test_incremental_signals import dbt
    from trading_core.warehouse import ensure_schema, replace_slice, table_columns

    btc = real_candles("BTC/USDT")
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        ensure_schema(conn)
        raw = btc.assign(ingested_at=pd.Timestamp("2023-02-01"))
        replace_slice(conn, "raw.ohlcv", raw[table_columns("raw.ohlcv")], "true")
        intents = pd.DataFrame(
            [
                instance_intent("a1", "2023-01-02", "buy", "open", "btc-a"),
                instance_intent("b1", "2023-01-03", "buy", "open", "btc-b"),
                instance_intent("a2", "2023-01-04", "sell", "close", "btc-a"),
                intent("d1", "2023-01-05", "buy", "open"),  # written before instances
            ]
        )
        replace_slice(
            conn, "strategy.order_intents", intents[table_columns("strategy.order_intents")], "true"
        )
    write_lake(
        trading_home,
        "batch",
        [
            lake_fill(1, "2023-01-02", "buy", 0.1, 16700.0, 1.67, "USDT", "entry", "a1"),
            lake_fill(2, "2023-01-03", "buy", 0.05, 16750.0, 0.8375, "USDT", "entry", "b1"),
            lake_fill(3, "2023-01-04", "sell", 0.1, 16800.0, 1.68, "USDT", "exit", "a2"),
            lake_fill(4, "2023-01-05", "buy", 0.02, 16850.0, 0.337, "USDT", "entry", "d1"),
            lake_fill(5, "2023-01-06", "buy", 0.01, 16900.0, 0.169, "USDT", "entry"),  # external
        ],
        None,
    )
    dbt(trading_home, "build", "--select", "+fct_trades", "+fct_positions",
        "+fct_strategy_performance", "+fct_instance_daily_pnl", "+fct_daily_pnl")  # fmt: skip
    with duckdb.connect(str(trading_home / "warehouse.duckdb"), read_only=True) as conn:
        journal = conn.execute("select * from journals.fct_trade_journal order by sequence").df()
        positions = conn.execute("select * from journals.fct_positions order by 4").df()
        performance = conn.execute("select * from journals.fct_strategy_performance").df()
        daily = conn.execute("select * from journals.fct_instance_daily_pnl order by 3").df()
        trades = conn.execute("select * from journals.fct_trades order by opened_at").df()
        curve = conn.execute("select * from journals.fct_equity_curve order by as_of").df()
        staged = conn.execute("select intent_id, instance_id from staging.stg_order_intents").df()

    assert dict(zip(staged["intent_id"], staged["instance_id"], strict=True)) == {
        "a1": "btc-a", "b1": "btc-b", "a2": "btc-a", "d1": "default",
    }  # fmt: skip
    assert journal["instance_id"].tolist() == ["btc-a", "btc-b", "btc-a", "default", "manual"]
    # each instance's book: btc-a goes 0.1 -> 0 while btc-b holds 0.05 (the exchange: 0.15)
    assert journal["position_after"].tolist() == pytest.approx([0.1, 0.05, 0.0, 0.02, 0.01])
    assert journal["realized_pnl_gross"].tolist() == pytest.approx([0, 0, 10.0, 0, 0])
    assert positions["instance_id"].tolist() == ["btc-b", "default", "manual"]
    assert positions["quantity"].tolist() == pytest.approx([0.05, 0.02, 0.01])
    assert positions["average_cost"].tolist() == pytest.approx([16750.0, 16850.0, 16900.0])
    [closed] = performance.to_dict("records")
    assert (closed["instance_id"], closed["round_trips"], closed["wins"]) == ("btc-a", 1, 1)
    assert closed["realized_pnl_net"] == pytest.approx(10.0 - 1.67 - 1.68)
    a_day = daily[(daily["instance_id"] == "btc-a") & (daily["round_trips_closed"] == 1)]
    assert a_day["realized_pnl_gross"].tolist() == pytest.approx([10.0])
    assert str(a_day["day"].iloc[0])[:10] == "2023-01-04"
    assert sorted(trades["instance_id"]) == ["btc-a", "btc-b", "default", "manual"]
    # the account's curve sums every sub-position: 0.05 + 0.02 + 0.01 held at the end
    last = curve.iloc[-1]
    assert last["open_positions"] == 3

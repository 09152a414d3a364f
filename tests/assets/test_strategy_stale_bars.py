"""strategy/order_intents on real candles (Binance BTCUSDT 1h from ../shared/data) in a
real DuckDB warehouse and ledger: a bar that closed more than one bar before the market clock
yields no entry, with an outcome saying so; an exit on such a bar still goes out."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.strategy import order_intents, stale_entry
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import Fill, NewOrder, OrderUpdate
from tests.assets.conftest import market_resource
from trading_core.config import load_config
from trading_core.market.replay import read_candle_file
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import get_strategy
from trading_pipelines.resources.ledger import LedgerResource
from trading_pipelines.resources.strategy import StrategyResource

HOUR = timedelta(hours=1)
SERIES = SeriesKey("binance", "BTC/USDT", "1h")


@pytest.fixture(scope="module")
def candles(shared_data: Path) -> pd.DataFrame:
    bars = read_candle_file(shared_data / "market" / "binance_BTCUSDT_1h.csv").head(400)
    return bars.sort_values("ts").reset_index(drop=True)


@pytest.fixture
def strategy() -> StrategyResource:
    cfg = load_config(environ={"TRADING_STRATEGY_TIMEFRAME": "1h"})
    return StrategyResource.from_config(cfg.strategy, cfg.risk, "USDT", 500.0)


@pytest.fixture
def setup(tmp_path: Path, candles: pd.DataFrame, strategy: StrategyResource):
    """fct_signals holding the candles; the bars where the live strategy enters and exits."""
    warehouse = DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))
    frame = candles.assign(exchange=SERIES.exchange, symbol=SERIES.symbol, timeframe="1h")
    with warehouse.get_connection() as conn:
        conn.register("candles_frame", frame)
        conn.execute("create schema signals")
        conn.execute("create table signals.fct_signals as select * from candles_frame")
    signals = get_strategy(strategy.name, strategy.params).signals(candles)
    live = signals.index > get_strategy(strategy.name, strategy.params).warmup + 2
    entry = candles.loc[(signals["entry"] & live).idxmax(), "ts"].to_pydatetime()
    exit_ = candles.loc[(signals["exit"] & live).idxmax(), "ts"].to_pydatetime()
    return warehouse, f"sqlite:///{tmp_path / 'ledger.sqlite'}", entry, exit_


def evaluate(setup, strategy, bar: datetime, market_now: datetime):
    warehouse, ledger_url, _, _ = setup
    bar_key = str(BarKey(SERIES, bar))
    result = dg.materialize(
        [order_intents],
        resources={
            "warehouse": warehouse,
            "ledger": LedgerResource(url=ledger_url),
            "strategy": strategy,
            "market": market_resource(as_of=market_now, start_date=date(2021, 4, 1)),
        },
        run_config={"ops": {order_intents.op.name: {"config": {"bars": [bar_key]}}}},
    )
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    [outcome] = metadata["outcomes"].value
    ledger = Ledger(ledger_url)
    try:
        intents = [r.intent for r in ledger.new_intents()]
    finally:
        ledger.close()
    return outcome["outcome"], intents, metadata["market_clock"].value


def hold_btc(ledger_url: str) -> None:
    """A position the exit can close: one filled buy in the ledger."""
    ledger = Ledger(ledger_url)
    try:
        ledger.create_order(
            NewOrder(
                client_order_id="tp-held-e0", exchange="binance", symbol="BTC/USDT",
                side="buy", order_type="market", role="entry", quantity=0.01,
                intent_id="held", strategy="macd",
            )
        )  # fmt: skip
        ledger.apply_order_update(
            "tp-held-e0",
            OrderUpdate(OrderState.FILLED, exchange_order_id="x1", filled_quantity=0.01,
                        average_price=58000.0, fee=0.01, fee_currency="USDT"),
            [Fill("binance", "t1", "BTC/USDT", "buy", 0.01, 58000.0, 0.01, "USDT", "taker",
                  datetime(2021, 4, 5))],
        )  # fmt: skip
    finally:
        ledger.close()


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=59), HOUR])
def test_an_entry_within_one_bar_of_its_close_goes_out(setup, strategy, late) -> None:
    entry = setup[2]
    outcome, intents, clock = evaluate(setup, strategy, entry, entry + HOUR + late)
    assert outcome == "open buy"
    assert [(i.action, i.bar_ts) for i in intents] == [("open", entry)]
    assert clock == (entry + HOUR + late).isoformat()


@pytest.mark.parametrize("late", [HOUR + timedelta(seconds=1), timedelta(days=30)])
def test_an_entry_on_a_bar_older_than_its_timeframe_is_skipped(setup, strategy, late) -> None:
    entry = setup[2]
    outcome, intents, _ = evaluate(setup, strategy, entry, entry + HOUR + late)
    assert intents == []
    assert outcome.startswith("skipped entry: the bar closed")
    assert "more than one 1h bar; exits still run" in outcome


def test_an_exit_on_a_stale_bar_still_goes_out(setup, strategy) -> None:
    _, ledger_url, _, exit_ = setup
    hold_btc(ledger_url)
    outcome, intents, _ = evaluate(setup, strategy, exit_, exit_ + 10 * HOUR)
    assert outcome == "close sell"
    assert [(i.action, i.symbol) for i in intents] == [("close", "BTC/USDT")]


def test_staleness_is_measured_from_the_bar_close_on_its_own_timeframe() -> None:
    bar = BarKey(SeriesKey("sim", "BTC/USDT", "1m"), datetime(2026, 1, 1, 10, 5))
    assert stale_entry(bar, datetime(2026, 1, 1, 10, 7)) is None  # closed 10:06, 60 s
    assert "61 s before" in stale_entry(bar, datetime(2026, 1, 1, 10, 7, 1))
    assert stale_entry(bar, datetime(2026, 1, 1, 9, 0)) is None  # a clock before the bar

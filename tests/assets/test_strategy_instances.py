"""strategy/order_intents evaluates every enabled instance of a portfolio in one real Dagster
run, each on its own symbols, timeframe and parameters, on real candles (Binance 1h / 4h from
../shared/data) in a real DuckDB warehouse and SQLite ledger. Without `strategies:` the
single strategy is instance `default` with the intent ids it always had."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.strategy import order_intents
from executor.intents import InvalidIntent, make_intent_id
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import Fill, NewOrder, OrderUpdate
from tests.assets.conftest import market_resource
from trading_core.config import load_config
from trading_core.config_portfolio import InstanceConfig
from trading_core.market.replay import read_candle_file
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import get_strategy
from trading_pipelines.resources.ledger import LedgerResource
from trading_pipelines.resources.strategy import StrategyResource

HOUR = timedelta(hours=1)
MACD = {"fast": 12, "slow": 26, "signal": 9}
FAST_MACD = {"fast": 8, "slow": 21, "signal": 5}


def _instance(iid: str, symbols: list[str], timeframe: str = "1h", **extra) -> InstanceConfig:
    return InstanceConfig(
        id=iid,
        strategy="macd",
        params=extra.pop("params", MACD),
        exchange="binance",
        symbols=symbols,
        timeframe=timeframe,
        allocation=extra.pop("allocation", 0.3),
        **extra,
    )


@pytest.fixture(scope="module")
def candles(shared_data: Path) -> dict[tuple[str, str], pd.DataFrame]:
    out = {}
    for symbol, tf, rows in (
        ("BTC/USDT", "1h", 1500),
        ("ETH/USDT", "1h", 1500),
        ("BTC/USDT", "4h", 1500),
    ):
        name = f"binance_{symbol.replace('/', '')}_{tf}.csv"
        bars = read_candle_file(shared_data / "market" / name).sort_values("ts").head(rows)
        out[(symbol, tf)] = bars.reset_index(drop=True)
    return out


@pytest.fixture
def warehouse(tmp_path: Path, candles) -> DuckDBResource:
    wh = DuckDBResource(database=str(tmp_path / "warehouse.duckdb"))
    frame = pd.concat(
        [b.assign(exchange="binance", symbol=s, timeframe=tf) for (s, tf), b in candles.items()]
    )
    with wh.get_connection() as conn:
        conn.register("candles_frame", frame)
        conn.execute("create schema signals")
        conn.execute("create table signals.fct_signals as select * from candles_frame")
    return wh


def entry_bars(bars: pd.DataFrame, params: dict) -> list[datetime]:
    strategy = get_strategy("macd", params)
    signals = strategy.signals(bars)
    live = signals.index > 2 * strategy.warmup_bars + 2
    return [bars.loc[i, "ts"].to_pydatetime() for i in signals.index[signals["entry"] & live]]


def resource(instances: list | None = None) -> StrategyResource:
    cfg = load_config(environ={"TRADING_STRATEGY_TIMEFRAME": "1h"})
    if instances and isinstance(instances[0], dict):  # raw dumps, as a hand-built resource
        single = StrategyResource.from_config(cfg.strategy, cfg.risk, "USDT", 500.0)
        fields = {k: getattr(single, k) for k in type(single).model_fields if k != "instances"}
        return StrategyResource(**fields, instances=instances)
    return StrategyResource.from_config(cfg.strategy, cfg.risk, "USDT", 500.0, instances)


def evaluate(tmp_path, warehouse, strategy, bars: list[BarKey], market_now: datetime):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    result = dg.materialize(
        [order_intents],
        resources={
            "warehouse": warehouse,
            "ledger": LedgerResource(url=url),
            "strategy": strategy,
            "market": market_resource(as_of=market_now, start_date=date(2017, 1, 1)),
        },
        run_config={"ops": {order_intents.op.name: {"config": {"bars": [str(b) for b in bars]}}}},
    )
    [event] = result.get_asset_materialization_events()
    ledger = Ledger(url)
    try:
        rows = [r.intent for r in ledger.new_intents()]
    finally:
        ledger.close()
    return event.materialization.metadata, rows


def bar(symbol: str, tf: str, ts: datetime) -> BarKey:
    return BarKey(SeriesKey("binance", symbol, tf), ts)


def test_two_instances_on_one_symbol_and_bar_get_their_own_intents(
    tmp_path, warehouse, candles
) -> None:
    entry = entry_bars(candles[("BTC/USDT", "1h")], MACD)[0]
    strategy = resource([_instance("btc-a", ["BTC/USDT"]), _instance("btc-b", ["BTC/USDT"])])
    metadata, intents = evaluate(
        tmp_path, warehouse, strategy, [bar("BTC/USDT", "1h", entry)], entry + HOUR
    )
    assert sorted((i.instance, i.action, i.bar_ts) for i in intents) == [
        ("btc-a", "open", entry),
        ("btc-b", "open", entry),
    ]
    assert len({i.intent_id for i in intents}) == 2
    for intent in intents:
        assert intent.reasons["instance"] == intent.instance
        assert intent.reasons["size_fraction"] == 1.0
        # medium profile: an ATR(14) stop, so the protocol gets the ATR at the bar
        assert intent.reasons["atr"] > 0
        assert intent.notional == pytest.approx(500.0 * 0.3 * 0.15)
    summary = metadata["instances"].value
    assert sorted(summary) == ["btc-a", "btc-b"]
    assert summary["btc-a"]["intents"] == 1 and summary["btc-a"]["new_intents"] == 1
    assert metadata["instance_ids"].value == ["btc-a", "btc-b"]


def test_each_instance_runs_on_its_own_symbols_timeframe_and_params(
    tmp_path, warehouse, candles
) -> None:
    fast = entry_bars(candles[("ETH/USDT", "1h")], FAST_MACD)[0]
    slow_4h = entry_bars(candles[("BTC/USDT", "4h")], MACD)[0]
    strategy = resource(
        [
            _instance("eth-fast", ["ETH/USDT"], params=FAST_MACD, risk_profile="high"),
            _instance("btc-4h", ["BTC/USDT"], timeframe="4h", risk_profile="low"),
            _instance("idle", ["ETH/USDT"], enabled=False, allocation=0.1),
        ]
    )
    named = [bar("ETH/USDT", "1h", fast), bar("BTC/USDT", "4h", slow_4h)]
    # one run per bar, each on a market clock just after its close (neither is stale)
    _, eth = evaluate(tmp_path / "a", warehouse, strategy, named[:1], fast + HOUR)
    metadata, btc = evaluate(tmp_path / "b", warehouse, strategy, named[1:], slow_4h + 4 * HOUR)
    assert [(i.instance, i.symbol, i.timeframe) for i in eth] == [("eth-fast", "ETH/USDT", "1h")]
    assert [(i.instance, i.symbol, i.timeframe) for i in btc] == [("btc-4h", "BTC/USDT", "4h")]
    assert "atr" not in eth[0].reasons  # high profile: a percent stop, no ATR needed
    assert eth[0].reasons["params"] == FAST_MACD
    summary = metadata["instances"].value
    assert sorted(summary) == ["btc-4h", "eth-fast"]  # the disabled instance never runs
    # no 1h bar named: the 1h instance takes its series' latest bar (stale here: no entry)
    [caught_up] = summary["eth-fast"]["outcomes"]
    latest = candles[("ETH/USDT", "1h")]["ts"].iloc[-1].to_pydatetime()
    assert caught_up["bar"] == str(bar("ETH/USDT", "1h", latest))
    assert summary["eth-fast"]["intents"] == 0


def test_an_instance_exits_only_its_own_sub_position(tmp_path, warehouse, candles) -> None:
    bars = candles[("BTC/USDT", "1h")]
    signals = get_strategy("macd", MACD).signals(bars)
    exit_ts = bars.loc[signals.index[signals["exit"]][-1], "ts"].to_pydatetime()
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url)
    try:  # btc-a holds BTC; btc-b does not
        ledger.create_order(
            NewOrder(
                client_order_id="held-e0", exchange="binance", symbol="BTC/USDT", side="buy",
                order_type="market", role="entry", quantity=0.01, intent_id="held",
                strategy="macd", instance_id="btc-a",
            )
        )  # fmt: skip
        ledger.apply_order_update(
            "held-e0",
            OrderUpdate(OrderState.FILLED, exchange_order_id="x1", filled_quantity=0.01,
                        average_price=58000.0, fee=0.01, fee_currency="USDT"),
            [Fill("binance", "t1", "BTC/USDT", "buy", 0.01, 58000.0, 0.01, "USDT", "taker",
                  datetime(2021, 4, 5))],
        )  # fmt: skip
    finally:
        ledger.close()
    strategy = resource([_instance("btc-a", ["BTC/USDT"]), _instance("btc-b", ["BTC/USDT"])])
    metadata, intents = evaluate(
        tmp_path, warehouse, strategy, [bar("BTC/USDT", "1h", exit_ts)], exit_ts + HOUR
    )
    assert [(i.instance, i.action) for i in intents] == [("btc-a", "close")]
    outcomes = {o["instance"]: o["outcome"] for o in metadata["outcomes"].value}
    assert outcomes == {"btc-a": "close sell", "btc-b": "no action"}


def test_without_strategies_the_default_instance_keeps_its_intent_ids(
    tmp_path, warehouse, candles
) -> None:
    strategy = resource()
    entry = entry_bars(candles[("BTC/USDT", "1h")], dict(strategy.params))[0]
    _, intents = evaluate(
        tmp_path, warehouse, strategy, [bar("BTC/USDT", "1h", entry)], entry + HOUR
    )
    [intent] = intents
    old_key = "|".join([strategy.name, "binance", "BTC/USDT", "1h", entry.isoformat(), "open"])
    assert intent.intent_id == hashlib.sha256(old_key.encode()).hexdigest()[:24]
    assert intent.instance == "default"
    assert "size_fraction" not in intent.reasons  # today's reasons, plus the instance


def test_make_intent_id_separates_instances_and_keeps_default() -> None:
    ts = datetime(2024, 1, 1)
    args = ("macd", "sim", "BTC/USDT", "1h", ts, "open")
    old = hashlib.sha256("|".join([*args[:4], ts.isoformat(), "open"]).encode()).hexdigest()[:24]
    assert make_intent_id(*args) == old
    assert make_intent_id(*args, instance="default") == old
    ids = {make_intent_id(*args, instance=i) for i in ("a", "b", "default")}
    assert len(ids) == 3
    # an instance id that could forge another's key is refused, not hashed
    for bad in ("A", "a|b", "", "x" * 41, 7, "manual "):
        with pytest.raises(InvalidIntent, match="instance must be"):
            make_intent_id(*args, instance=bad)


def test_a_bad_instance_in_the_resource_is_refused_naming_the_field(
    tmp_path, warehouse, candles
) -> None:
    broken = {**_instance("ok", ["BTC/USDT"]).model_dump(), "timeframe": "7m"}
    strategy = resource([broken])
    with pytest.raises(Exception, match="unknown timeframe '7m'"):
        evaluate(tmp_path, warehouse, strategy, [], datetime(2021, 5, 1))


def test_with_no_bars_named_each_instance_takes_the_latest_bar_of_its_series(
    tmp_path, warehouse, candles
) -> None:
    strategy = resource(
        [
            _instance("btc-1h", ["BTC/USDT"]),
            _instance("eth-1h", ["ETH/USDT"]),
            _instance("btc-4h", ["BTC/USDT"], timeframe="4h"),
        ]
    )
    newest = max(b["ts"].iloc[-1] for b in candles.values()).to_pydatetime()
    metadata, _ = evaluate(tmp_path, warehouse, strategy, [], newest + 4 * HOUR)
    bars = {o["instance"]: o["bar"] for o in metadata["outcomes"].value}
    for iid, symbol, tf in (("btc-1h", "BTC/USDT", "1h"), ("eth-1h", "ETH/USDT", "1h"),
                            ("btc-4h", "BTC/USDT", "4h")):  # fmt: skip
        last = candles[(symbol, tf)]["ts"].iloc[-1].to_pydatetime()
        assert bars[iid] == str(bar(symbol, tf, last))
    assert metadata["bars_evaluated"].value == 3

"""The same held bar in a live evaluation and in a backtest.

The rule (README, data quality): a bar the spike hold held when it closed is no decision
point, in live (it is not in the signals at its close: ``evaluate_bar`` skips it) and in the
backtest (``trading_core.backtest.decisions.may_decide``), even when later bars or an
operator release it; once released it is history for later decisions in both
(``tests/assets/test_spike_release_parity.py``).

The 10x spike goes through the real asset and dbt (stg_ohlcv); the held-then-released level
shift goes hour by hour through the ingest functions the asset calls, with the market clock
at each bar's close, and through ``evaluate_bar``, the live decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.dbt_models import dbt_models
from assets.strategy import evaluate_bar
from tests.assets.conftest import table
from tests.assets.test_ingest_corruption import FILE, ingest, keys, real_lines, spiked, write
from trading_core.backtest.data import read_ohlcv_csv, to_naive_utc
from trading_core.backtest.decisions import may_decide
from trading_core.config import MarketConfig
from trading_core.market.factory import make_market_source
from trading_core.market.ingest_plan import fetch_partition, settle_partitions
from trading_core.market.ingest_write import read_held, read_stored, write_partitions
from trading_core.quality.spike_policy import assess_spikes, spike_policy_of
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import get_strategy
from trading_core.warehouse import ensure_schema, transaction
from trading_pipelines.dbt import dbt_resource

SERIES = SeriesKey("binance", "BTC/USDT", "1h")
DAY = datetime(2023, 6, 1)
SHIFT = 9  # the 09:00 bar and every later one trade at twice the real price


@dataclass
class Sizing:
    name: str = "macd"
    params: dict[str, Any] = field(default_factory=dict)
    position_fraction: float = 0.2
    stop_loss_pct: float | None = 0.02
    take_profit_pct: float | None = 0.04
    trailing_stop_pct: float | None = None


def shifted_day(shared_data: Path) -> list[str]:
    """2023-06-01's real BTCUSDT 1h lines, prices doubled from 09:00 on: a level shift that
    the next bars confirm (held, then released)."""
    out = []
    for i, line in enumerate(real_lines(shared_data, "2023-06-01", 1)):
        stamp, *prices, volume = line.split(",")
        factor = 2.0 if i >= SHIFT else 1.0
        out.append(",".join([stamp, *(repr(float(p) * factor) for p in prices), volume]))
    return out


def live_decisions(cfg: MarketConfig, db: Path, closes: list[datetime]) -> dict[datetime, str]:
    """Per bar (open time): the live outcome at its close. Each close runs what raw/ohlcv
    runs for the day in progress (stored rows and held bars read back, one quarantine split
    and spike hold, one write), then the live decision on the clean candles."""
    source = make_market_source(cfg)
    strategy = get_strategy("macd", {})
    key, window = "2023-06-01|BTC-USDT", (DAY, DAY + timedelta(days=1))
    outcomes = {}
    with duckdb.connect(str(db)) as conn:
        ensure_schema(conn)
        for now in closes:
            stored = read_stored(conn, "BTC/USDT", *window)
            held = read_held(conn, "BTC/USDT", *window)
            batch = fetch_partition(
                source, cfg, key, "BTC/USDT", window, now, stored, held_from=held,
                validate=False,
            )  # fmt: skip
            [batch] = settle_partitions([batch], source, cfg)
            assert not batch.blocked  # a held bar never blocks its day: stg_ohlcv keeps it
            with transaction(conn):
                write_partitions(conn, [batch])
            history = conn.execute(
                "select ts, open, high, low, close, volume from raw.ohlcv order by ts"
            ).df()
            bar = now - timedelta(hours=1)
            outcomes[bar] = evaluate_bar(
                history, BarKey(SERIES, bar), strategy, in_position=False, equity=1000.0,
                cash=1000.0, cfg=Sizing(), market_now=now,
            ).outcome  # fmt: skip
        stored_ts = set(conn.execute("select ts from raw.ohlcv").df()["ts"])
    assert {DAY + timedelta(hours=h) for h in range(SHIFT, SHIFT + 3)} <= stored_ts  # released
    return outcomes


@pytest.mark.parametrize("confirm_bars", [2, 3])
def test_a_held_then_released_bar_is_a_decision_point_in_neither_path(
    tmp_path: Path, shared_data: Path, confirm_bars: int
) -> None:
    replay = tmp_path / "replay"
    write(replay, shifted_day(shared_data))
    cfg = MarketConfig(
        source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
        replay_dir=replay, start_date=date(2023, 1, 1), spike_confirm_bars=confirm_bars,
    )  # fmt: skip
    closes = [DAY + timedelta(hours=h) for h in range(SHIFT - 1, SHIFT + confirm_bars + 2)]
    live = live_decisions(cfg, tmp_path / "warehouse.duckdb", closes)
    skipped = sorted(bar for bar, outcome in live.items() if outcome.startswith("skipped"))
    # the shifted bar and the next ones up to its release: held at their close
    held = [DAY + timedelta(hours=SHIFT + k) for k in range(confirm_bars)]
    assert skipped == held
    backtest = read_ohlcv_csv(replay / FILE, spike_policy_of(cfg))
    decided = set(backtest["ts"][may_decide(backtest)])
    assert not set(held) & decided
    assert {bar for bar in live if bar not in skipped} <= decided
    # released: every bar is history, all but the held ones decide
    assert len(backtest) == 24 and len(decided) == 24 - confirm_bars
    # judged with the later bars the shift is confirmed: a backtest using that verdict
    # traded on a bar live never decided on
    bars = pd.read_csv(replay / FILE)
    whole = assess_spikes(
        to_naive_utc(bars["timestamp"]), bars["open"], bars["close"], spike_policy_of(cfg)
    )
    assert [(d.position, d.status) for d in whole] == [(SHIFT, "released_confirmed")]


def test_a_held_bar_is_out_of_the_live_signals_and_out_of_the_backtest(
    trading_home, warehouse, shared_data
) -> None:
    lines, at = spiked(shared_data, 9)
    write(trading_home / "replay", lines)
    assert ingest(trading_home, warehouse, keys("2023-06-01", 2)).success
    staged = dg.materialize(
        [dbt_models], selection=["stg_ohlcv"], resources={"dbt": dbt_resource(trading_home)}
    )
    assert staged.success
    live = table(trading_home / "warehouse.duckdb", "select ts from staging.stg_ohlcv order by ts")
    backtest = read_ohlcv_csv(trading_home / "replay" / FILE)
    assert at not in set(live["ts"]) and at not in set(backtest["ts"])
    assert list(live["ts"]) == list(backtest["ts"])  # 47 bars, the same ones
    assert len(backtest) == 47
    # the untouched file keeps every bar in both
    clean = read_ohlcv_csv(shared_data / "market" / FILE)
    assert pd.Timestamp(at) in set(clean["ts"])

"""A held bar that is released later: the same decisions live and in the backtest.

Real data: ADAUSDT 1h on 2025-03-02, the 15:00 bar (+29 %, then +18 % at 16:00). Live runs
hour by hour what ``raw/ohlcv`` runs for the day in progress (the market clock at each
bar's close, the operator's release ledger read as it stood then), then the live decision
``evaluate_bar``; ``stg_ohlcv`` is built by dbt while the bar is held and after its
release. The backtest reads the same file through ``read_ohlcv_csv`` with the configured
spike policy and the same ledger, and decides with ``decision_signals``. At every close
both have the same bars in their history and take the same decision; a held bar decides in
neither.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.dbt_models import dbt_models
from assets.strategy import evaluate_bar
from tests.assets.conftest import table
from tests.assets.test_spike_hold_parity import Sizing
from trading_core.backtest.data import read_ohlcv_csv
from trading_core.backtest.decisions import VISIBLE_FROM, decision_signals, may_decide
from trading_core.config import MarketConfig
from trading_core.market.factory import make_market_source
from trading_core.market.ingest_plan import fetch_partition, settle_partitions
from trading_core.market.ingest_write import read_held, read_stored, write_partitions
from trading_core.quality.releases import (
    append_release,
    ledger_path,
    make_release,
    read_releases,
)
from trading_core.quality.spike_policy import spike_policy_of
from trading_core.series import BarKey, SeriesKey
from trading_core.strategies import get_strategy
from trading_core.warehouse import ensure_schema, transaction
from trading_pipelines.dbt import dbt_resource

FILE = "binance_ADAUSDT_1h.csv"
SERIES = SeriesKey("binance", "ADA/USDT", "1h")
DAY = datetime(2025, 3, 2)
SPIKE = DAY + timedelta(hours=15)
HOUR = timedelta(hours=1)
CLOSES = [DAY + timedelta(hours=h) for h in range(13, 24)]  # bars 12:00 .. 22:00


def write_days(folder: Path, shared_data: Path) -> None:
    """The real file's lines of 2025-02-28 .. 2025-03-02 (the MACD needs the history)."""
    lines = (shared_data / "market" / FILE).read_text().splitlines()
    wanted = ("2025-02-28", "2025-03-01", "2025-03-02")
    folder.mkdir(parents=True, exist_ok=True)
    body = [lines[0], *(line for line in lines[1:] if line[:10] in wanted)]
    (folder / FILE).write_text("\n".join(body) + "\n")


def ingest_at(conn, cfg: MarketConfig, home: Path, day: datetime, now: datetime) -> None:
    """What raw/ohlcv runs for ``day``'s partition at ``now``, with the ledger as it
    stood then (its rows are appended at their ``released_at``)."""
    source = make_market_source(cfg)
    window = (day, day + timedelta(days=1))
    released = [
        r.key for r in read_releases(ledger_path(home)) if r.released_at <= now
    ]  # fmt: skip
    batch = fetch_partition(
        source, cfg, f"{day.date().isoformat()}|ADA-USDT", "ADA/USDT", window, now,
        read_stored(conn, "ADA/USDT", *window), held_from=read_held(conn, "ADA/USDT", *window),
        validate=False, released=released,
    )  # fmt: skip
    [batch] = settle_partitions([batch], source, cfg, released=released)
    assert not batch.blocked
    with transaction(conn):
        write_partitions(conn, [batch])


def stg_ts(home: Path) -> list[pd.Timestamp]:
    staged = dg.materialize(
        [dbt_models], selection=["stg_ohlcv"], resources={"dbt": dbt_resource(home)}
    )
    assert staged.success
    rows = table(home / "warehouse.duckdb", "select ts from staging.stg_ohlcv order by ts")
    return list(rows["ts"])


def live(cfg: MarketConfig, home: Path, release_at: datetime | None, dbt: bool) -> dict:
    """Per bar: the bars in the live history at its close, and its two live decisions
    (flat, in a position). With ``dbt``, ``stg_ohlcv`` after the 16:00 bar's close and at
    the end is that history."""
    strategy = get_strategy("macd", {})
    out: dict[datetime, tuple[list, str, str]] = {}
    staged = {}
    with duckdb.connect(str(home / "warehouse.duckdb")) as conn:
        ensure_schema(conn)
        for day in (DAY - 2 * timedelta(days=1), DAY - timedelta(days=1)):
            ingest_at(conn, cfg, home, day, DAY)
        for now in CLOSES:
            if release_at is not None and now - HOUR < release_at <= now:
                release = make_release(
                    "binance", "ADA/USDT", "1h", SPIKE.isoformat(), "ops", "real move", release_at
                )
                append_release(ledger_path(home), release)
            ingest_at(conn, cfg, home, DAY, now)
            history = conn.execute(
                "select ts, open, high, low, close, volume from raw.ohlcv order by ts"
            ).df()
            bar = now - HOUR
            flat, holding = (
                evaluate_bar(
                    history, BarKey(SERIES, bar), strategy, in_position=held, equity=1000.0,
                    cash=1000.0, cfg=Sizing(), market_now=now,
                ).outcome
                for held in (False, True)
            )  # fmt: skip
            out[bar] = (list(history["ts"]), flat, holding)
            if dbt and bar in (SPIKE + HOUR, CLOSES[-1] - HOUR):
                conn.close()
                staged[bar] = stg_ts(home)
                conn = duckdb.connect(str(home / "warehouse.duckdb"))
    for bar, ts in staged.items():
        assert ts == out[bar][0]  # stg_ohlcv is what the live history read
    return out


def backtest(cfg: MarketConfig, home: Path) -> dict:
    bars = read_ohlcv_csv(
        cfg.replay_dir / FILE, spike_policy_of(cfg), releases=read_releases(ledger_path(home))
    )
    signals = decision_signals(get_strategy("macd", {}), bars)
    decides = may_decide(bars)
    visible = bars[VISIBLE_FROM] if VISIBLE_FROM in bars else bars["ts"]
    out = {}
    for i, bar in enumerate(bars["ts"]):
        if not CLOSES[0] - HOUR <= bar < CLOSES[-1]:
            continue
        history = list(bars["ts"][(bars["ts"] <= bar) & (visible <= bar)])
        out[bar.to_pydatetime()] = (history, decides[i], signals.iloc[i])
    return out


def outcome(decides: bool, flag: bool, action: str) -> str:
    if not decides:
        return "skipped"
    return action if flag else "no action"


@pytest.mark.parametrize(
    ("confirm_bars", "release_at", "held", "dbt"),
    [
        (2, None, [SPIKE, SPIKE + HOUR], True),  # released by the next bars at 17:00's close
        # five bars to confirm; the operator releases it at 17:20, so the bar of 17:00
        # (closed at 18:00) decides with it, and the later ones
        (5, SPIKE + 2 * HOUR + timedelta(minutes=20), [SPIKE, SPIKE + HOUR], True),
        # released by the next five bars at 20:00's close
        (5, None, [SPIKE + timedelta(hours=h) for h in range(5)], False),
    ],
)
def test_a_released_bar_is_history_for_later_decisions_live_and_in_the_backtest(
    trading_home: Path, shared_data: Path, confirm_bars: int, release_at, held: list, dbt: bool
) -> None:
    replay = trading_home / "replay"
    write_days(replay, shared_data)
    cfg = MarketConfig(
        source="replay", exchanges=["binance"], symbols=["ADA/USDT"], timeframes=["1h"],
        replay_dir=replay, start_date=date(2025, 1, 1), spike_confirm_bars=confirm_bars,
    )  # fmt: skip
    seen_live = live(cfg, trading_home, release_at, dbt)
    seen_backtest = backtest(cfg, trading_home)
    assert sorted(seen_live) == sorted(seen_backtest)
    skipped = [bar for bar, (_, flat, _) in seen_live.items() if flat.startswith("skipped")]
    assert skipped == held
    for bar, (history, flat, holding) in seen_live.items():
        bt_history, decides, signal = seen_backtest[bar]
        assert [pd.Timestamp(t) for t in history] == bt_history, bar
        assert outcome(decides, signal["entry"], "open buy") == (
            "skipped" if flat.startswith("skipped") else flat
        ), bar
        assert outcome(decides, signal["exit"], "close sell") == (
            "skipped" if holding.startswith("skipped") else holding
        ), bar
    # the released bar is history for the bars after its release, never before
    release = max(held) + HOUR
    assert SPIKE in seen_backtest[release][0]
    assert SPIKE not in seen_backtest[max(held)][0]
    assert not set(held) & {b for b, (_, d, _) in seen_backtest.items() if d}

"""End to end: a news event and an on-chain z-score change a composite decision, in live
evaluation (the bars of fct_signals, built by a real dbt run on a small warehouse) and in
the backtest (the same items from a directory in the layout of ../shared/data) alike."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.alt_data.helpers import hash_rate, hash_rate_csv, rss
from tests.dbt.test_incremental_signals import candles, dbt
from trading_core.alt_data_dir import load_alt_directory
from trading_core.alt_inputs import ALT_COLUMNS, assemble
from trading_core.news import NewsFeeds
from trading_core.onchain import ReplayOnchain
from trading_core.strategies import get_strategy
from trading_core.warehouse import ensure_schema, replace_slice, table_columns
from trading_pipelines.resources.research import ResearchWarehouse, export_candles

pytestmark = pytest.mark.integration

MODELS = [
    "stg_ohlcv", "stg_order_book_snapshots", "stg_reddit_posts", "stg_x_posts",
    "stg_news_items", "int_sentiment_hourly", "stg_onchain_metrics", "int_onchain_daily",
    "int_order_book_features", "int_indicators", "int_regimes", "int_signal_inputs",
    "fct_signals",
]  # fmt: skip
PARAMS = {"weights": {"rsi": 1.0, "onchain": 2.0, "news": 2.0}}
NEWS = ["news_score", "news_count", "news_hack", "news_classes"]
ONCHAIN = [c for c in ALT_COLUMNS if c.startswith("onchain_")]
FOREVER = (pd.Timestamp("2000-01-01"), pd.Timestamp("2100-01-01"))


def _alt_directory(root: Path, bars: pd.DataFrame) -> tuple[Path, pd.Timestamp]:
    (root / "news").mkdir(parents=True)
    (root / "onchain").mkdir()
    hack_at = bars["ts"].iloc[500] + pd.Timedelta(minutes=10)
    rss(
        root / "news" / "feed.xml",
        [
            ("h1", "Hackers drain $50M of Bitcoin from a bridge in an exploit",
             "Attackers stole BTC from the bridge.", hack_at),
            ("q1", "Markets quiet", "Nothing happened.", hack_at - pd.Timedelta(days=3)),
        ],
    )  # fmt: skip
    start = bars["ts"].iloc[0].floor("D")
    days = (bars["ts"].iloc[-1] - start).days + 1
    hash_rate_csv(root / "onchain" / "blockchaincom_btc_hash_rate.csv", hash_rate(days, 15, start))
    return root, hack_at


def _seed(home: Path, bars: pd.DataFrame, alt: Path) -> None:
    now = pd.Timestamp("2030-01-01")
    news = NewsFeeds([str(alt / "news" / "feed.xml")]).fetch_items(*FOREVER).frame
    chain = ReplayOnchain(alt / "onchain").fetch_metrics(*FOREVER).frame
    with duckdb.connect(str(home / "warehouse.duckdb")) as conn:
        ensure_schema(conn)
        rows = bars.assign(ingested_at=now)[table_columns("raw.ohlcv")]
        replace_slice(conn, "raw.ohlcv", rows, "true")
        replace_slice(conn, "raw.news_items", news, "true")
        replace_slice(conn, "raw.onchain_metrics", chain, "true")


def _blank(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = rows.copy()
    for column in columns:
        out[column] = False if column == "news_hack" else np.nan
    return out


def test_news_and_onchain_change_the_composite_decision_live_and_in_the_backtest(
    trading_home: Path, tmp_path: Path, shared_data: Path
) -> None:
    bars = candles(shared_data, "BTC/USDT", "1h").iloc[:700].reset_index(drop=True)
    alt, hack_at = _alt_directory(tmp_path / "alt", bars)
    _seed(trading_home, bars, alt)
    dbt(trading_home, "run", "--select", *MODELS)
    with duckdb.connect(str(trading_home / "warehouse.duckdb"), read_only=True) as conn:
        live = conn.execute(
            "select * from signals.fct_signals where symbol = 'BTC/USDT' and timeframe = '1h' "
            "order by ts"
        ).df()
    assert len(live) == len(bars)

    # the backtest's bars: the same candles, the same items read from the directory
    loaded = load_alt_directory(alt)
    backtest = pd.concat([bars, assemble(bars, loaded.items, "BTC").columns], axis=1)
    for column in ("news_score", "onchain_hash_rate_z", "onchain_z", "sentiment_score"):
        np.testing.assert_allclose(
            live[column].to_numpy(float),
            backtest[column].to_numpy(float),
            rtol=1e-12,
            err_msg=f"{column}: live {live[column].notna().sum()} defined, "
            f"backtest {backtest[column].notna().sum()}",
        )
    assert (live["news_hack"].fillna(False) == backtest["news_hack"]).all()

    strategy = get_strategy("composite", PARAMS)
    rsi_norm = (50 - live["rsi_14"]) / 20
    # on-chain: a bar where the hash-rate jump turns HOLD into BUY
    candidates = np.flatnonzero((live["onchain_z"] > 2.5) & rsi_norm.between(-0.2, 0.45))
    assert len(candidates), "no bar where the on-chain z-score alone decides"
    k = int(candidates[0])
    entered = strategy.decide(live.iloc[: k + 1], in_position=False)
    assert entered is not None and entered.action == "enter"
    assert strategy.decide(_blank(live, ONCHAIN).iloc[: k + 1], in_position=False) is None
    # news: the hack is known at the end of its hour and exits the position
    k2 = int(np.flatnonzero(live["news_hack"].fillna(False).to_numpy())[0])
    assert live["available_at"].iloc[k2] == hack_at.floor("h") + pd.Timedelta(hours=1)
    assert live["news_classes"].iloc[k2] == "hack" and live["news_score"].iloc[k2] == -1.0
    left = strategy.decide(live.iloc[: k2 + 1], in_position=True)
    assert left is not None and left.action == "exit"
    blank = strategy.decide(_blank(live, NEWS).iloc[: k2 + 1], in_position=True)
    assert blank is None or blank.reason != left.reason

    # the backtest takes the same decisions on those bars
    replayed = strategy.signals(backtest)
    assert bool(replayed["entry"].iloc[k]) and bool(replayed["exit"].iloc[k2])
    assert replayed["reason"].iloc[k2] == left.reason
    plain = strategy.signals(_blank(_blank(backtest, ONCHAIN), NEWS))
    assert not plain["entry"].iloc[k]

    # the research assets' snapshot carries the same point-in-time inputs
    research = ResearchWarehouse(
        database=str(tmp_path / "research.duckdb"), snapshot=str(tmp_path / "candles.parquet")
    )
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        export_candles(conn, Path(research.snapshot))
    with research.get_connection() as conn:
        (snap,) = research.bars(conn, "1h", ["BTC/USDT"]).values()
    assert set(ALT_COLUMNS) <= set(snap.columns) and len(snap) == len(bars)
    seen = strategy.signals(snap)
    assert bool(seen["entry"].iloc[k]) and bool(seen["exit"].iloc[k2])


def test_a_late_onchain_correction_reaches_fct_signals_incrementally(
    trading_home: Path, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dbt.test_incremental_signals import assert_same, full_refresh_of_copy, snapshot

    bars = candles(shared_data, "BTC/USDT", "1h").iloc[:600].reset_index(drop=True)
    alt, _ = _alt_directory(tmp_path / "alt", bars)
    chain = ReplayOnchain(alt / "onchain").fetch_metrics(*FOREVER).frame
    cut = bars["ts"].iloc[400]
    _seed(trading_home, bars.iloc[:450], alt)
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        replace_slice(
            conn, "raw.onchain_metrics", chain[chain["ts"] < cut - pd.Timedelta(days=3)], "true"
        )
    dbt(trading_home, "run", "--select", *MODELS)
    before = snapshot(trading_home / "warehouse.duckdb")["fct_signals"]

    # later days arrive, and an older day is corrected (x10): bars from that day on change
    corrected = chain.copy()
    old_day = cut - pd.Timedelta(days=6)
    corrected.loc[corrected["ts"].dt.floor("D") == old_day.floor("D"), "value"] *= 10
    now = pd.Timestamp("2030-01-02")
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        replace_slice(conn, "raw.onchain_metrics", corrected, "true")
        rows = bars.iloc[450:].assign(ingested_at=now)[table_columns("raw.ohlcv")]
        conn.register("incoming", rows)
        replace_slice(
            conn, "raw.ohlcv", rows,
            "(exchange, symbol, timeframe, ts) in (select (exchange, symbol, timeframe, ts) "
            "from incoming)",
        )  # fmt: skip
    dbt(trading_home, "run", "--select", *MODELS)
    after = snapshot(trading_home / "warehouse.duckdb")
    changed = before.merge(after["fct_signals"], on=["exchange", "symbol", "timeframe", "ts"])
    moved = changed["onchain_z_x"].fillna(99) != changed["onchain_z_y"].fillna(99)
    assert moved.any(), "the correction changed no stored bar"
    assert_same(after, full_refresh_of_copy(trading_home, tmp_path, monkeypatch))

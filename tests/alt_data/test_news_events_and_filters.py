"""News event classes, and the regime / multi-timeframe entry conditions of the composite
and swing strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.alt_data.helpers import hourly_bars
from trading_core.news_events import classify_event, news_events
from trading_core.strategies import StrategyError, get_strategy
from trading_core.strategies.filters import mtf_aligned


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        ("CrossCurve Threatens Legal Action After $3M Cross-Chain Bridge Exploit", "", ("hack",)),
        ("Figure Technology suffers data breach", None, ("hack",)),
        ("Nevada Court Grants Temporary Restraining Order Against Polymarket", "", ("regulation",)),
        ("Binance lists SOL perpetuals", "", ("listing",)),
        ("Exchange delisted three tokens", "", ("regulation",)),
        ("Ethereum mainnet upgrade goes live", "", ("upgrade",)),
        ("Ripple partners with a bank", "after the SEC suit", ("regulation", "partnership")),
        ("Bitcoin price steady", "analysts wait", ()),
        (None, None, ()),
        (float("nan"), 3, ()),
    ],
)
def test_event_classes(title: object, summary: object, expected: tuple[str, ...]) -> None:
    assert classify_event(title, summary) == expected


def test_news_events_name_the_assets_concerned() -> None:
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "published_at": pd.to_datetime(["2024-01-02", "2024-01-01", None, "2024-01-03"]),
            "title": ["Solana hacked", "Coinbase lists BTC and ETH", "BTC hack", "nothing new"],
            "summary": [None, "", "", "BTC"],
            "symbols": [None, "BTC,ETH", "BTC", "BTC"],
        }
    )
    out = news_events(items)
    assert out[["item_id", "asset", "event_class"]].values.tolist() == [
        ["b", "BTC", "listing"],
        ["b", "ETH", "listing"],
        ["a", "SOL", "hack"],
    ]
    with pytest.raises(ValueError, match=r"lack columns \['title'\]"):
        news_events(items.drop(columns="title"))


@pytest.mark.parametrize("name", ["composite", "swing"])
def test_regime_and_mtf_params_are_validated(name: str) -> None:
    with pytest.raises(StrategyError, match="regime_trend"):
        get_strategy(name, {"regime_trend": "sideways"})
    with pytest.raises(StrategyError, match="mtf_timeframes: '5x' is not a timeframe"):
        get_strategy(name, {"mtf_timeframes": "4h,5x"})
    with pytest.raises(StrategyError, match="lists a timeframe twice"):
        get_strategy(name, {"mtf_timeframes": "4h|4h"})
    with pytest.raises(StrategyError, match="mtf_span"):
        get_strategy(name, {"mtf_span": 1})
    ok = get_strategy(name, {"mtf_timeframes": " 4h ; 1d ", "regime_vol": "low_vol"})
    assert ok.params.mtf_timeframes == "4h,1d"


def test_mtf_alignment_has_no_lookahead_and_needs_higher_timeframes() -> None:
    bars = hourly_bars(24 * 30, seed=4)
    full = mtf_aligned(bars, ["4h", "1d"], 5)
    assert full.any() and not full.all()
    changed = bars.copy()
    changed.loc[500:, ["open", "high", "low", "close"]] *= 0.5
    cut = mtf_aligned(changed, ["4h", "1d"], 5)
    # a 1d bar becomes usable at its close: bar 500's day closes at hour 504
    assert (cut.iloc[:480] == full.iloc[:480]).all()
    with pytest.raises(ValueError, match="is not above the bars' timeframe"):
        mtf_aligned(bars, ["1h"], 5)


@pytest.mark.parametrize("name", ["composite", "swing"])
def test_conditions_only_remove_entries(name: str) -> None:
    bars = hourly_bars(24 * 60, seed=9)
    base = {"weights": {"rsi": 1.0}} if name == "composite" else {}
    free = get_strategy(name, base).signals(bars)
    assert free["entry"].sum() > 5
    for extra in (
        {"regime_trend": "ranging"},
        {"regime_vol": "low_vol"},
        {"mtf_timeframes": "4h,1d", "mtf_span": 5},
    ):
        held = get_strategy(name, {**base, **extra}).signals(bars)
        assert not (held["entry"] & ~free["entry"]).any()
        assert held["entry"].sum() < free["entry"].sum(), extra
        entries = held["reason"][held["entry"]]
        assert entries.str.contains(r"\(").all()
        np.testing.assert_array_equal(held["exit"], free["exit"])


def test_a_hack_exits_the_composite() -> None:
    bars = hourly_bars(300)
    bars["rsi_14"] = 50.0
    bars["news_hack"] = False
    bars.loc[250, "news_hack"] = True
    strategy = get_strategy("composite", {"weights": {"rsi": 1.0}})
    decision = strategy.decide(bars.iloc[:251], in_position=True)
    assert decision is not None and decision.action == "exit"
    assert decision.reason == "hack/exploit news about the asset"
    off = get_strategy("composite", {"weights": {"rsi": 1.0}, "exit_on_hack": False})
    assert off.decide(bars.iloc[:251], in_position=True) is None


def test_the_conditions_are_swept_like_any_parameter(tmp_path, shared_data) -> None:
    from trading_pipelines.cli import main

    params = tmp_path / "params.csv"
    params.write_text(
        "rsi_period,regime_trend,regime_vol,mtf_timeframes\n"
        "14,any,any,\n14,ranging,any,\n14,any,low_vol,1d\n10,not_trending_down,any,1d\n"
    )
    out = tmp_path / "results.csv"
    argv = ["sweep", "--ohlcv", str(shared_data / "market" / "binance_BTCUSDT_4h.csv"),
            "--strategy", "swing", "--params-file", str(params), "--out", str(out),
            "--pbo-blocks", "0", "--start", "2022-01-01", "--end", "2023-01-01"]  # fmt: skip
    assert main(argv) == 0
    results = pd.read_csv(out)
    assert len(results) == 4 and {"regime_trend", "mtf_timeframes"} <= set(results.columns)
    trades = results.filter(regex="trades").iloc[:, 0].tolist()
    assert trades[0] > trades[1] and trades[0] > trades[2]


@pytest.mark.parametrize("name", ["composite", "swing"])
def test_the_regime_condition_counts_in_warmup_bars(name: str) -> None:
    base = {"weights": {"rsi": 1.0}} if name == "composite" else {}
    plain = get_strategy(name, base)
    held = get_strategy(name, {**base, "regime_trend": "ranging"})
    assert held.warmup_bars > plain.warmup_bars
    bars = hourly_bars(2400, seed=2)
    start = 2400 - 500
    full = held.signals(bars)["entry"].iloc[start:].to_numpy()
    cut = bars.iloc[start - held.warmup_bars :].reset_index(drop=True)
    windowed = held.signals(cut)["entry"].iloc[held.warmup_bars :].to_numpy()
    np.testing.assert_array_equal(windowed, full)

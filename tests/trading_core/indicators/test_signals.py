"""Normalised inputs, the composite signal, regimes and multi-timeframe confluence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core import signals
from trading_core.backtest import read_ohlcv_csv
from trading_core.indicators import compute_all


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pd.DataFrame:
    bars = read_ohlcv_csv(shared_data / "market" / "binance_BTCUSDT_1d.csv")
    rng = np.random.default_rng(3)
    sentiment = pd.Series(rng.uniform(-1, 1, len(bars))).where(rng.random(len(bars)) > 0.2)
    return pd.concat([bars, compute_all(bars)], axis=1).assign(
        sentiment_score=sentiment,
        sentiment_count=rng.integers(0, 30, len(bars)),
        book_imbalance=rng.uniform(-1, 1, len(bars)),
        news_score=pd.Series(rng.uniform(-1, 1, len(bars))).where(rng.random(len(bars)) > 0.9),
        news_count=1,
        onchain_z=rng.normal(0, 2, len(bars)),
        sentiment_z=rng.normal(0, 1, len(bars)),
        sentiment_velocity=rng.normal(0, 0.2, len(bars)),
    )


def test_every_input_is_normalised_with_a_confidence(frame: pd.DataFrame) -> None:
    inputs = signals.normalise(frame)
    assert {c.rsplit("_", 1)[0] for c in inputs.columns} == set(signals.SIGNAL_INPUTS)
    for name in signals.SIGNAL_INPUTS:
        norm, conf = inputs[f"{name}_norm"].dropna(), inputs[f"{name}_conf"]
        assert norm.between(-1, 1).all(), name
        assert conf.between(0, 1).all() and conf.notna().all(), name
    # Undefined input -> zero confidence: warm-up for indicators, no posts for sentiment.
    assert inputs["trend_conf"].iloc[:199].eq(0).all()
    assert (inputs["sentiment_conf"][frame["sentiment_score"].isna()] == 0).all()


def test_composite_score_confidence_action_and_reasons(frame: pd.DataFrame) -> None:
    out = signals.composite(frame)
    assert list(out.columns) == ["score", "confidence", "action", "reasons"]
    assert out["score"].between(-1, 1).all() and out["confidence"].between(0, 1).all()
    buy = (out["score"] >= 0.5) & (out["confidence"] > 0.6)
    sell = (out["score"] <= -0.5) & (out["confidence"] > 0.6)
    expected = np.where(buy, "BUY", np.where(sell, "SELL", "HOLD"))
    assert (out["action"] == expected).all()
    assert {"BUY", "SELL", "HOLD"} <= set(out["action"])
    last = json.loads(out["reasons"].iloc[-1])
    assert set(last) == set(signals.SIGNAL_INPUTS)
    assert set(last["macd"]) == {"value", "normalised", "confidence", "weight", "contribution"}
    contributions = sum(item["contribution"] for item in last.values())
    assert contributions == pytest.approx(out["score"].iloc[-1], abs=1e-5)


def test_composite_on_hand_built_inputs() -> None:
    bar = pd.DataFrame(
        {
            "rsi_14": [30.0, 70.0],  # contrarian: oversold is bullish (+1), overbought -1
            "book_imbalance": [0.5, -0.2],
        }
    )
    out = signals.composite(bar, {"rsi": 1.0, "order_book": 1.0})
    assert out["score"].tolist() == pytest.approx([0.75, -0.6])
    assert out["confidence"].tolist() == [1.0, 1.0]
    assert out["action"].tolist() == ["BUY", "SELL"]
    lower = signals.composite(bar, {"rsi": 1.0, "order_book": 3.0}, buy_threshold=0.7)
    assert lower["score"].tolist() == pytest.approx([0.625, -0.4])
    assert lower["action"].tolist() == ["HOLD", "HOLD"]


def test_absent_inputs_are_left_out_and_weights_are_validated(frame: pd.DataFrame) -> None:
    alt = ["news_score", "news_count", "onchain_z", "sentiment_z", "sentiment_velocity"]
    plain = frame.drop(columns=["sentiment_score", "sentiment_count", "book_imbalance", *alt])
    reasons = json.loads(signals.composite(plain)["reasons"].iloc[-1])
    assert set(reasons) == {"macd", "rsi", "bollinger", "trend"}
    zero_weight = signals.composite(frame, {**signals.DEFAULT_WEIGHTS, "sentiment": 0.0})
    assert "sentiment" not in json.loads(zero_weight["reasons"].iloc[-1])
    with pytest.raises(ValueError, match=r"unknown signal input\(s\) \['vibes'\]; allowed"):
        signals.validate_weights({"vibes": 1.0})
    with pytest.raises(ValueError, match="weight of 'rsi' must be a finite number >= 0"):
        signals.validate_weights({"rsi": -1})
    with pytest.raises(ValueError, match="at least one weight must be > 0"):
        signals.validate_weights({"rsi": 0})
    with pytest.raises(ValueError, match="has its columns in the frame"):
        signals.composite(plain, {"sentiment": 1.0})


def test_regimes_are_labelled_without_lookahead(frame: pd.DataFrame) -> None:
    labels = signals.classify_regime(frame)
    assert set(labels) <= {*signals.REGIMES, "unknown"}
    assert labels.iloc[:99].eq("unknown").all() and labels.iloc[200:].ne("unknown").all()
    assert len(set(labels) - {"unknown"}) == 6
    for t in (150, 900, 2000, len(frame) - 1):
        assert signals.classify_regime(frame.iloc[: t + 1]).iloc[-1] == labels.iloc[t]
    up = frame[(frame["adx_14"] >= 25) & (frame["plus_di_14"] > frame["minus_di_14"])].index
    assert labels[up[up >= 200]].str.startswith("trending_up").all()


def test_confluence_uses_a_higher_timeframe_bar_only_after_it_closed() -> None:
    hours = pd.DataFrame(
        {"ts": pd.date_range("2025-01-01", periods=48, freq="h"), "score": np.linspace(-1, 1, 48)}
    )
    four = pd.DataFrame(
        {"ts": pd.date_range("2025-01-01", periods=12, freq="4h"), "score": np.arange(12.0) + 1}
    )
    days = pd.DataFrame(
        {"ts": pd.date_range("2025-01-01", periods=2, freq="D"), "score": [0.5, -1]}
    )
    out = signals.confluence({"1d": days, "1h": hours, "4h": four})
    assert list(out.columns) == [
        "ts",
        "score_1h",
        "score_4h",
        "score_1d",
        "confluence",
        "aligned",
    ]
    by_ts = out.set_index("ts")
    # The 00:00 4h bar closes at 04:00: the 1h bar closing then (ts 03:00) is the first to see it.
    assert np.isnan(by_ts.loc["2025-01-01 02:00", "score_4h"])
    assert by_ts.loc["2025-01-01 03:00", "score_4h"] == 1.0
    assert by_ts.loc["2025-01-01 07:00", "score_4h"] == 2.0
    # The first daily bar is usable from the 23:00 hour on (it closes at midnight).
    assert np.isnan(by_ts.loc["2025-01-01 22:00", "score_1d"])
    assert by_ts.loc["2025-01-01 23:00", "score_1d"] == 0.5
    row = by_ts.loc["2025-01-02 03:00"]
    assert row["confluence"] == pytest.approx((row["score_1h"] + row["score_4h"] + 0.5) / 3)
    assert bool(row["aligned"]) == (row["score_1h"] > 0)

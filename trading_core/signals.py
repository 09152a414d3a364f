"""Signals: normalised inputs, the composite score, market regimes, multi-timeframe confluence.

Pure pandas functions over one series' frame (indicator columns from
``trading_core.indicators.compute_all`` joined to the bars), importable without Dagster.

Every input becomes a value in [-1, 1] (+1 = bullish) with a confidence in [0, 1]:

- ``macd`` (macd_hist_12_26_9, atr_14): tanh(3 x histogram / ATR), trend-following;
  confidence 1 once defined.
- ``rsi`` (rsi_14): (50 - RSI) / 20, clipped, contrarian (RSI 30 -> +1); confidence 1.
- ``bollinger`` (close, bb_upper_20_2, bb_middle_20_2): -(close - middle) / (upper - middle),
  clipped, contrarian (at the lower band -> +1); confidence 1.
- ``trend`` (ema_9, ema_21, ema_50, ema_200, adx_14): mean sign of ema9 > ema21,
  ema21 > ema50, ema50 > ema200; confidence (ADX - 10) / 20 clipped to [0, 1].
- ``sentiment`` (sentiment_score in [-1, 1], optional sentiment_count): the score;
  confidence 1 - exp(-count / 5), or 1 without a count.
- ``order_book`` (book_imbalance = (bid - ask) / (bid + ask) volume, in [-1, 1]): the
  imbalance; confidence 1 where present.

Alternative-data inputs (columns from :mod:`trading_core.alt_inputs`, point in time). They
are *sparse*: an input that has nothing to say on a bar (no news event, no on-chain source
for the asset) neither backs nor dilutes the confidence - its weight counts in the
denominator of ``confidence`` only on bars where its own confidence is > 0:

- ``news`` (news_score, news_count): the summed event values of the last 24h (listing +0.6,
  partnership +0.4, upgrade +0.3, regulation -0.4, hack -1.0; clipped to [-1, 1]);
  confidence 1 on bars with an event. Weight 1.0: a discrete event about the asset itself
  is the most specific information the signal gets, and a hack must be able to outvote a
  bullish indicator on its own.
- ``onchain`` (onchain_z): tanh(z / 2) of the mean on-chain z-score (active addresses,
  transactions, hash rate up = bullish, exchange net inflow up = bearish); confidence 1
  where defined. Weight 0.5: slow-moving daily data, a background tilt rather than a timer.
- ``sentiment_momentum`` (sentiment_z, sentiment_velocity, sentiment_count): the mean of
  tanh(z / 2) and tanh(velocity / 0.2) (a 0.2 change of the 24h mean VADER compound in a
  day is large); confidence 1 - exp(-count / 5). Weight 0.25: crowd mood turns are noisy.

A bar where an input is undefined (warm-up, no posts that hour) has confidence 0 for it. An
input whose columns are absent from the frame is left out entirely.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trading_core import signal_reasons
from trading_core.timeframes import timeframe_delta, timeframe_seconds

MACD_SCALE = 3.0  # |hist/ATR| is ~0.13 at the median and ~0.3 at the 90th percentile


@dataclass(frozen=True)
class SignalInput:
    name: str
    columns: tuple[str, ...]
    compute: Callable[[pd.DataFrame], tuple[pd.Series, pd.Series, pd.Series]]
    sparse: bool = False


def _defined(*series: pd.Series) -> pd.Series:
    return pd.concat(series, axis=1).notna().all(axis=1).astype(float)


def _macd(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw = f["macd_hist_12_26_9"]
    ratio = raw / f["atr_14"].where(f["atr_14"] > 0)
    return raw, np.tanh(MACD_SCALE * ratio), _defined(ratio)


def _rsi(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw = f["rsi_14"]
    return raw, ((50.0 - raw) / 20.0).clip(-1, 1), _defined(raw)


def _bollinger(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    half_width = (f["bb_upper_20_2"] - f["bb_middle_20_2"]).where(lambda w: w > 0)
    position = (f["close"] - f["bb_middle_20_2"]) / half_width
    return position, (-position).clip(-1, 1), _defined(position)


def _trend(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    pairs = (("ema_9", "ema_21"), ("ema_21", "ema_50"), ("ema_50", "ema_200"))
    votes = [np.sign(f[a] - f[b]) for a, b in pairs]
    raw = sum(votes) / 3.0
    confidence = ((f["adx_14"] - 10.0) / 20.0).clip(0, 1) * _defined(raw)
    return raw, raw, confidence.fillna(0.0)


def _sentiment(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw = f["sentiment_score"]
    strength = (
        1.0 - np.exp(-f["sentiment_count"].fillna(0).clip(lower=0) / 5.0)
        if "sentiment_count" in f
        else pd.Series(1.0, index=f.index)
    )
    return raw, raw.clip(-1, 1), strength * _defined(raw)


def _order_book(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw = f["book_imbalance"]
    return raw, raw.clip(-1, 1), _defined(raw)


def _news(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw = pd.to_numeric(f["news_score"], errors="coerce")
    present = raw.notna()
    if "news_count" in f:
        present &= pd.to_numeric(f["news_count"], errors="coerce").fillna(0) > 0
    return raw, raw.clip(-1, 1), present.astype(float)


def _onchain(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    raw = pd.to_numeric(f["onchain_z"], errors="coerce").where(np.isfinite)
    return raw, np.tanh(raw / 2.0), _defined(raw)


def _sentiment_momentum(f: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    z = pd.to_numeric(f["sentiment_z"], errors="coerce").where(np.isfinite)
    parts = [np.tanh(z / 2.0)]
    if "sentiment_velocity" in f:
        velocity = pd.to_numeric(f["sentiment_velocity"], errors="coerce").where(np.isfinite)
        parts.append(np.tanh(velocity / 0.2))
    norm = pd.concat(parts, axis=1).mean(axis=1, skipna=True).where(z.notna())
    strength = (
        1.0 - np.exp(-f["sentiment_count"].fillna(0).clip(lower=0) / 5.0)
        if "sentiment_count" in f
        else pd.Series(1.0, index=f.index)
    )
    return z, norm.clip(-1, 1), strength * _defined(norm)


SIGNAL_INPUTS: dict[str, SignalInput] = {
    spec.name: spec
    for spec in (
        SignalInput("macd", ("macd_hist_12_26_9", "atr_14"), _macd),
        SignalInput("rsi", ("rsi_14",), _rsi),
        SignalInput("bollinger", ("close", "bb_upper_20_2", "bb_middle_20_2"), _bollinger),
        SignalInput("trend", ("ema_9", "ema_21", "ema_50", "ema_200", "adx_14"), _trend),
        SignalInput("sentiment", ("sentiment_score",), _sentiment),
        SignalInput("order_book", ("book_imbalance",), _order_book),
        SignalInput("news", ("news_score",), _news, sparse=True),
        SignalInput("onchain", ("onchain_z",), _onchain, sparse=True),
        SignalInput("sentiment_momentum", ("sentiment_z",), _sentiment_momentum, sparse=True),
    )
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "macd": 1.0,
    "rsi": 1.0,
    "bollinger": 1.0,
    "trend": 1.0,
    "sentiment": 0.5,
    "order_book": 0.5,
    "news": 1.0,
    "onchain": 0.5,
    "sentiment_momentum": 0.25,
}

ACTIONS: tuple[str, ...] = ("BUY", "SELL", "HOLD")


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights by input name: known names, finite and >= 0, not all zero."""
    unknown = sorted(set(weights) - set(SIGNAL_INPUTS))
    if unknown:
        raise ValueError(f"unknown signal input(s) {unknown}; allowed: {list(SIGNAL_INPUTS)}")
    out: dict[str, float] = {}
    for name, weight in weights.items():
        value = float(weight)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight of {name!r} must be a finite number >= 0, got {weight!r}")
        out[name] = value
    if not any(out.values()):
        raise ValueError(f"at least one weight must be > 0; got {dict(weights)}")
    return out


def normalise(frame: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """``<input>_raw``, ``<input>_norm``, ``<input>_conf`` for each input present in ``frame``."""
    chosen = list(SIGNAL_INPUTS) if names is None else names
    columns: dict[str, pd.Series] = {}
    for name in chosen:
        spec = SIGNAL_INPUTS[name]
        if not all(c in frame.columns for c in spec.columns):
            continue
        raw, norm, confidence = spec.compute(frame)
        columns[f"{name}_raw"] = raw.astype(float)
        columns[f"{name}_norm"] = norm.astype(float)
        columns[f"{name}_conf"] = confidence.where(norm.notna(), 0.0).astype(float)
    return pd.DataFrame(columns, index=frame.index)


def composite(
    frame: pd.DataFrame,
    weights: Mapping[str, float] | None = None,
    buy_threshold: float = 0.5,
    sell_threshold: float = -0.5,
    min_confidence: float = 0.6,
    explain: bool = True,
) -> pd.DataFrame:
    """The composite signal per bar: ``score``, ``confidence``, ``action``, ``reasons``.

    ``score`` = sum(w * c * v) / sum(w * c), in [-1, 1]: a confidence-weighted mean of the
    normalised inputs (0 when nothing is confident). ``confidence`` = sum(w * c) / sum(w), the
    share of the configured weight backed by confident inputs (a sparse input's weight counts
    in sum(w) only on bars where its confidence is > 0). ``action`` is BUY when
    ``score >= buy_threshold`` and ``confidence > min_confidence``, SELL when
    ``score <= sell_threshold`` and ``confidence > min_confidence``, else HOLD. ``reasons`` is
    a JSON object per bar: for each input its raw value, normalised value, confidence, weight
    and contribution to the score (contributions sum to the score); ``explain=False`` leaves
    it out (it is most of the cost on long histories).
    """
    if not sell_threshold < 0 < buy_threshold <= 1:
        raise ValueError(
            f"thresholds must satisfy -1 <= sell < 0 < buy <= 1; got buy={buy_threshold}, "
            f"sell={sell_threshold}"
        )
    if not 0 <= min_confidence < 1:
        raise ValueError(f"min_confidence must be in [0, 1), got {min_confidence}")
    chosen = validate_weights(DEFAULT_WEIGHTS if weights is None else weights)
    active = [name for name, weight in chosen.items() if weight > 0]
    inputs = normalise(frame, active)
    present = [name for name in active if f"{name}_norm" in inputs]
    if not present:
        raise ValueError(
            f"none of the weighted inputs {active} has its columns in the frame; "
            f"needed: { {n: list(SIGNAL_INPUTS[n].columns) for n in active} }"
        )
    weight = np.array([chosen[n] for n in present])
    values = inputs[[f"{n}_norm" for n in present]].fillna(0.0).to_numpy()
    confidences = inputs[[f"{n}_conf" for n in present]].to_numpy()
    backed = confidences * weight
    backing = backed.sum(axis=1)
    safe = np.where(backing > 0, backing, 1.0)
    contributions = backed * values / safe[:, None]
    score = contributions.sum(axis=1)
    sparse = np.array([SIGNAL_INPUTS[n].sparse for n in present])
    counted = np.where(sparse, confidences > 0, True) * weight
    total = counted.sum(axis=1)
    confidence = np.where(total > 0, backing / np.where(total > 0, total, 1.0), 0.0)
    confident = confidence > min_confidence
    action = np.where(
        confident & (score >= buy_threshold),
        "BUY",
        np.where(confident & (score <= sell_threshold), "SELL", "HOLD"),
    )
    out = pd.DataFrame(
        {"score": score, "confidence": confidence, "action": action}, index=frame.index
    )
    if explain:
        out["reasons"] = signal_reasons.explain(
            present,
            chosen,
            {
                "confidence": confidences,
                "contribution": contributions,
                "normalised": inputs[[f"{n}_norm" for n in present]].to_numpy(),
                "value": inputs[[f"{n}_raw" for n in present]].to_numpy(),
            },
        )
    return out


REGIMES: tuple[str, ...] = tuple(
    f"{trend}_{vol}"
    for trend in ("trending_up", "trending_down", "ranging")
    for vol in ("high_vol", "low_vol")
)


def rolling_percentile(values: pd.Series, window: int) -> pd.Series:
    """Share of the last ``window`` values (this bar included) that are <= this bar's value."""
    return values.rolling(window, min_periods=window).rank(method="max", pct=True)


def classify_regime(
    frame: pd.DataFrame, adx_threshold: float = 25.0, window: int = 100
) -> pd.Series:
    """A regime label per bar (one of ``REGIMES``, or ``unknown`` during warm-up).

    Trend: ADX >= ``adx_threshold`` is trending, up when +DI > -DI, else down; below it,
    ranging. Volatility: the mean of two rolling percentiles over the last ``window`` bars -
    of ATR / close and of the Bollinger width - is high above 0.5, low otherwise. Rolling
    windows end at the bar itself, so no label uses later data.
    """
    needed = ["adx_14", "plus_di_14", "minus_di_14", "atr_14", "close", "bb_width_20_2"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"classify_regime needs columns {needed}; missing {missing}")
    trending = frame["adx_14"] >= adx_threshold
    trend = np.where(
        trending,
        np.where(frame["plus_di_14"] > frame["minus_di_14"], "trending_up", "trending_down"),
        "ranging",
    )
    vol_score = (
        rolling_percentile(frame["atr_14"] / frame["close"], window)
        + rolling_percentile(frame["bb_width_20_2"], window)
    ) / 2.0
    vol = np.where(vol_score > 0.5, "high_vol", "low_vol")
    known = frame["adx_14"].notna() & vol_score.notna()
    labels = np.where(known, np.char.add(np.char.add(trend.astype(str), "_"), vol), "unknown")
    return pd.Series(labels, index=frame.index, name="regime", dtype=object)


def confluence(
    frames_by_timeframe: Mapping[str, pd.DataFrame], column: str = "score"
) -> pd.DataFrame:
    """Align one column of several timeframes (e.g. 1h/4h/1d) on the finest one, point in time.

    Each frame has ``ts`` (bar OPEN time, naive UTC) and ``column``. A bar becomes usable at
    its close, ``ts + timeframe``; each finest-timeframe bar (decided at its own close) gets
    the latest value of every other timeframe whose bar had closed by then. Returns the finest
    frame's ``ts``, one ``<column>_<tf>`` per timeframe, ``confluence`` (their mean, ignoring
    missing ones) and ``aligned`` (every timeframe present and of the same non-zero sign).
    """
    if not frames_by_timeframe:
        raise ValueError("confluence needs at least one timeframe")
    ordered = sorted(frames_by_timeframe, key=timeframe_seconds)
    base_tf = ordered[0]
    for tf in ordered:
        missing = [c for c in ("ts", column) if c not in frames_by_timeframe[tf].columns]
        if missing:
            raise ValueError(f"frame for {tf} lacks columns {missing}")
    base = frames_by_timeframe[base_tf][["ts", column]].sort_values("ts")
    out = base.rename(columns={column: f"{column}_{base_tf}"}).assign(
        known_at=lambda f: f["ts"] + timeframe_delta(base_tf)
    )
    for tf in ordered[1:]:
        other = (
            frames_by_timeframe[tf][["ts", column]]
            .assign(known_at=lambda f, tf=tf: f["ts"] + timeframe_delta(tf))
            .drop(columns="ts")
            .rename(columns={column: f"{column}_{tf}"})
            .sort_values("known_at")
        )
        out = pd.merge_asof(out, other, on="known_at", direction="backward")
    value_columns = [f"{column}_{tf}" for tf in ordered]
    values = out[value_columns]
    signs = np.sign(values)
    out["confluence"] = values.mean(axis=1, skipna=True)
    out["aligned"] = values.notna().all(axis=1) & (
        (signs > 0).all(axis=1) | (signs < 0).all(axis=1)
    )
    return out[["ts", *value_columns, "confluence", "aligned"]].reset_index(drop=True)

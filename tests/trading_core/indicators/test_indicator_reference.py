"""Indicators against independent references on real Binance series.

The references are deliberately naive pure-Python loops written from the TA-Lib definitions
(no numba, no shared helpers), plus pandas' own ``ewm`` for the pandas convention.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core import indicators as ind

NAN = float("nan")


@pytest.fixture(scope="module", params=["btc_1d", "xrp_1h"])
def bars(request: pytest.FixtureRequest, shared_data: Path) -> pd.DataFrame:
    if request.param == "btc_1d":
        return pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1d.csv")
    frame = pd.read_csv(shared_data / "market" / "binance_XRPUSDT_1h.csv")
    return frame.iloc[-6000:].reset_index(drop=True)


def ref_sma(x: list[float], n: int) -> list[float]:
    return [NAN if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def ref_ema_talib(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    start = next(i for i, v in enumerate(x) if not math.isnan(v))
    k = 2 / (n + 1)
    prev = sum(x[start : start + n]) / n
    out[start + n - 1] = prev
    for i in range(start + n, len(x)):
        prev = prev + k * (x[i] - prev)
        out[i] = prev
    return out


def ref_macd_talib(x: list[float], fast: int, slow: int, signal: int) -> tuple[list, list]:
    # TA-Lib seeds both EMAs on windows ending at bar slow-1.
    out = [NAN] * len(x)
    slow_prev = sum(x[:slow]) / slow
    fast_prev = sum(x[slow - fast : slow]) / fast
    out[slow - 1] = fast_prev - slow_prev
    for i in range(slow, len(x)):
        fast_prev += 2 / (fast + 1) * (x[i] - fast_prev)
        slow_prev += 2 / (slow + 1) * (x[i] - slow_prev)
        out[i] = fast_prev - slow_prev
    return out, ref_ema_talib(out, signal)


def ref_rsi(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    changes = [x[i] - x[i - 1] for i in range(1, len(x))]
    gain = sum(max(c, 0) for c in changes[:n]) / n
    loss = sum(max(-c, 0) for c in changes[:n]) / n
    out[n] = 100 * gain / (gain + loss)
    for i in range(n + 1, len(x)):
        c = changes[i - 1]
        gain = (gain * (n - 1) + max(c, 0)) / n
        loss = (loss * (n - 1) + max(-c, 0)) / n
        out[i] = 100 * gain / (gain + loss)
    return out


def ref_tr(h: list[float], lo: list[float], c: list[float]) -> list[float]:
    return [NAN] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))
    ]


def ref_atr(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    tr = ref_tr(h, lo, c)
    out = [NAN] * len(c)
    prev = sum(tr[1 : n + 1]) / n
    out[n] = prev
    for i in range(n + 1, len(c)):
        prev = (prev * (n - 1) + tr[i]) / n
        out[i] = prev
    return out


def ref_adx(h: list[float], lo: list[float], c: list[float], n: int) -> tuple[list, list, list]:
    tr = ref_tr(h, lo, c)
    plus_dm, minus_dm = [NAN], [NAN]
    for i in range(1, len(c)):
        up, down = h[i] - h[i - 1], lo[i - 1] - lo[i]
        plus_dm.append(up if up > down and up > 0 else 0.0)
        minus_dm.append(down if down > up and down > 0 else 0.0)
    sp, sm, st = sum(plus_dm[1:n]), sum(minus_dm[1:n]), sum(tr[1:n])
    pdi, mdi, dx = [NAN] * len(c), [NAN] * len(c), [NAN] * len(c)
    for i in range(n, len(c)):
        sp = sp - sp / n + plus_dm[i]
        sm = sm - sm / n + minus_dm[i]
        st = st - st / n + tr[i]
        pdi[i], mdi[i] = 100 * sp / st, 100 * sm / st
        dx[i] = 100 * abs(pdi[i] - mdi[i]) / (pdi[i] + mdi[i])
    adx = [NAN] * len(c)
    prev = sum(dx[n : 2 * n]) / n
    adx[2 * n - 1] = prev
    for i in range(2 * n, len(c)):
        prev = (prev * (n - 1) + dx[i]) / n
        adx[i] = prev
    return adx, pdi, mdi


def ref_stoch(h: list, lo: list, c: list, k: int, sk: int, d: int) -> tuple[list, list]:
    fast = [NAN] * len(c)
    for i in range(k - 1, len(c)):
        hh, ll = max(h[i - k + 1 : i + 1]), min(lo[i - k + 1 : i + 1])
        fast[i] = 100 * (c[i] - ll) / (hh - ll) if hh != ll else 0.0
    slow_k = [NAN if i < k + sk - 2 else sum(fast[i - sk + 1 : i + 1]) / sk for i in range(len(c))]
    slow_d = [
        NAN if i < k + sk + d - 3 else sum(slow_k[i - d + 1 : i + 1]) / d for i in range(len(c))
    ]
    return slow_k, slow_d


def ref_cci(h: list, lo: list, c: list, n: int) -> list[float]:
    tp = [(h[i] + lo[i] + c[i]) / 3 for i in range(len(c))]
    out = [NAN] * len(c)
    for i in range(n - 1, len(c)):
        window = tp[i - n + 1 : i + 1]
        mean = sum(window) / n
        mad = sum(abs(v - mean) for v in window) / n
        out[i] = (tp[i] - mean) / (0.015 * mad) if mad else 0.0
    return out


def ref_willr(h: list, lo: list, c: list, n: int) -> list[float]:
    out = [NAN] * len(c)
    for i in range(n - 1, len(c)):
        hh, ll = max(h[i - n + 1 : i + 1]), min(lo[i - n + 1 : i + 1])
        out[i] = -100 * (hh - c[i]) / (hh - ll) if hh != ll else 0.0
    return out


def ref_bollinger(x: list[float], n: int, k: float) -> tuple[list, list, list]:
    upper, middle, lower = [NAN] * len(x), [NAN] * len(x), [NAN] * len(x)
    for i in range(n - 1, len(x)):
        window = x[i - n + 1 : i + 1]
        mean = sum(window) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in window) / n)
        upper[i], middle[i], lower[i] = mean + k * std, mean, mean - k * std
    return upper, middle, lower


def ref_obv(c: list[float], v: list[float]) -> list[float]:
    out = [v[0]]
    for i in range(1, len(c)):
        step = v[i] if c[i] > c[i - 1] else -v[i] if c[i] < c[i - 1] else 0.0
        out.append(out[-1] + step)
    return out


def ref_vwap(h: list, lo: list, c: list, v: list, n: int) -> list[float]:
    tp = [(h[i] + lo[i] + c[i]) / 3 for i in range(len(c))]
    out = [NAN] * len(c)
    for i in range(n - 1, len(c)):
        out[i] = sum(tp[j] * v[j] for j in range(i - n + 1, i + 1)) / sum(v[i - n + 1 : i + 1])
    return out


def assert_matches(actual: pd.Series, expected: list[float], warmup: int) -> None:
    """NaN exactly before the warm-up; 1e-9 relative after it.

    Values that cross zero (MACD histogram, CCI, ROC) get an absolute floor of 1e-9 of the
    column's typical magnitude, where a purely relative test is meaningless.
    """
    got = actual.to_numpy()
    want = np.asarray(expected, dtype=float)
    assert np.isnan(got[:warmup]).all(), f"{actual.name}: values before warm-up {warmup}"
    assert not np.isnan(got[warmup:]).any(), f"{actual.name}: NaN after warm-up {warmup}"
    scale = float(np.median(np.abs(want[warmup:])))
    np.testing.assert_allclose(
        got[warmup:], want[warmup:], rtol=1e-9, atol=1e-9 * scale, err_msg=str(actual.name)
    )


def test_talib_convention_columns_match_references(bars: pd.DataFrame) -> None:
    h, lo, c, v = (bars[k].tolist() for k in ("high", "low", "close", "volume"))
    out = ind.compute_all(bars)
    w = ind.WARMUP
    assert_matches(out["sma_20"], ref_sma(c, 20), w["sma_20"])
    assert_matches(out["sma_50"], ref_sma(c, 50), w["sma_50"])
    for n in (9, 21, 50, 200):
        assert_matches(out[f"ema_{n}"], ref_ema_talib(c, n), w[f"ema_{n}"])
    line, signal = ref_macd_talib(c, 12, 26, 9)
    assert_matches(out["macd_12_26_9"], line, w["macd_12_26_9"])
    assert_matches(out["macd_signal_12_26_9"], signal, w["macd_signal_12_26_9"])
    hist = [a - b for a, b in zip(line, signal, strict=True)]
    assert_matches(out["macd_hist_12_26_9"], hist, w["macd_hist_12_26_9"])
    assert_matches(out["rsi_14"], ref_rsi(c, 14), w["rsi_14"])
    upper, middle, lower = ref_bollinger(c, 20, 2.0)
    assert_matches(out["bb_upper_20_2"], upper, w["bb_upper_20_2"])
    assert_matches(out["bb_middle_20_2"], middle, w["bb_middle_20_2"])
    assert_matches(out["bb_lower_20_2"], lower, w["bb_lower_20_2"])
    width = [(a - b) / m for a, b, m in zip(upper, lower, middle, strict=True)]
    assert_matches(out["bb_width_20_2"], width, w["bb_width_20_2"])
    assert_matches(out["atr_14"], ref_atr(h, lo, c, 14), w["atr_14"])
    adx, pdi, mdi = ref_adx(h, lo, c, 14)
    assert_matches(out["adx_14"], adx, w["adx_14"])
    assert_matches(out["plus_di_14"], pdi, w["plus_di_14"])
    assert_matches(out["minus_di_14"], mdi, w["minus_di_14"])
    slow_k, slow_d = ref_stoch(h, lo, c, 14, 3, 3)
    assert_matches(out["stoch_k_14_3"], slow_k, w["stoch_k_14_3"])
    assert_matches(out["stoch_d_14_3_3"], slow_d, w["stoch_d_14_3_3"])
    assert_matches(out["obv"], ref_obv(c, v), w["obv"])
    assert_matches(out["vwap_20"], ref_vwap(h, lo, c, v, 20), w["vwap_20"])
    assert_matches(out["cci_20"], ref_cci(h, lo, c, 20), w["cci_20"])
    assert_matches(out["willr_14"], ref_willr(h, lo, c, 14), w["willr_14"])
    roc = [NAN] * 10 + [(c[i] / c[i - 10] - 1) * 100 for i in range(10, len(c))]
    assert_matches(out["roc_10"], roc, w["roc_10"])
    mid = ref_ema_talib(c, 20)
    atr20 = ref_atr(h, lo, c, 20)
    assert_matches(
        out["keltner_upper_20_2"], [m + 2 * a for m, a in zip(mid, atr20, strict=True)], 20
    )
    assert_matches(out["keltner_middle_20_2"], mid, 20)
    assert_matches(
        out["keltner_lower_20_2"], [m - 2 * a for m, a in zip(mid, atr20, strict=True)], 20
    )


def test_pandas_convention_matches_pandas_ewm(bars: pd.DataFrame) -> None:
    close = bars["close"]

    def ewm(series: pd.Series, span: int) -> pd.Series:
        return series.ewm(span=span, adjust=False, min_periods=span).mean()

    for n in (9, 21, 50, 200):
        assert_matches(ind.ema(close, n, "pandas"), ewm(close, n).tolist(), n - 1)
    for fast, slow, signal in ((12, 26, 9), (30, 60, 15), (2, 3, 2)):
        got = ind.macd(close, fast, slow, signal, convention="pandas")
        line = ewm(close, fast) - ewm(close, slow)
        trigger = ewm(line, signal)
        suffix = f"{fast}_{slow}_{signal}"
        assert_matches(got[f"macd_{suffix}"], line.tolist(), slow - 1)
        assert_matches(got[f"macd_signal_{suffix}"], trigger.tolist(), slow + signal - 2)
        assert_matches(got[f"macd_hist_{suffix}"], (line - trigger).tolist(), slow + signal - 2)


def test_compute_all_pandas_convention_switches_only_ema_and_macd(bars: pd.DataFrame) -> None:
    talib = ind.compute_all(bars)
    pandas_style = ind.compute_all(bars, convention="pandas")
    differs = [c for c in talib if not talib[c].equals(pandas_style[c])]
    assert sorted(differs) == sorted(
        ["ema_9", "ema_21", "ema_50", "ema_200", *[c for c in talib if c.startswith("macd")]]
    )


def test_talib_macd_is_not_the_difference_of_standalone_emas(bars: pd.DataFrame) -> None:
    # The TA-Lib quirk the talib convention reproduces: the fast EMA is seeded late.
    close = bars["close"]
    line = ind.macd(close)["macd_12_26_9"]
    naive = ind.ema(close, 12) - ind.ema(close, 26)
    # the first bar TA-Lib shows (slow + signal - 2 = 33)
    assert abs(line.iloc[33] - naive.iloc[33]) > 1e-9 * abs(close.iloc[33])
    np.testing.assert_allclose(line.iloc[-100:], naive.iloc[-100:], rtol=1e-9)

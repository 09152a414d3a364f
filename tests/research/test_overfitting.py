"""PBO by CSCV and the deflated Sharpe ratio: the papers' numbers, the kernel's block sums."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trading_core.backtest import BacktestConfig, read_ohlcv_csv
from trading_core.backtest.sweep import block_counts, sweep_blocks
from trading_core.research.overfitting import (
    block_moments,
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
    robustness,
    sample_moments,
)
from trading_core.research.selection import backtest_returns, sweep_overfitting


def test_deflated_sharpe_reproduces_the_papers_worked_example() -> None:
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: 100
    # trials whose annualised Sharpe ratios vary with V = 1/2, a selected annualised SR of
    # 2.5 over 5 years of daily returns (T = 1250, 250 a year), skewness -3, kurtosis 10.
    # The paper gives SR0 = 0.1132 (daily; 1.7894 annualised) and DSR = 0.9004.
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=5e-5)
    out = deflated_sharpe(
        2.5 / math.sqrt(250), 1250, n_trials=100, variance=0.5 / 250, skew=-3.0, kurtosis=10.0
    )
    assert out["dsr"] == pytest.approx(0.9004, abs=5e-5)
    assert out["sr0"] == sr0


def test_probabilistic_sharpe_matches_its_formula_and_limits() -> None:
    # normal returns: PSR(0) = Z(SR sqrt(T - 1) / sqrt(1 + SR^2 / 2))
    sr, n = 0.1, 500
    expected = stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe(sr, 0.0, n) == pytest.approx(expected, rel=1e-12)
    assert probabilistic_sharpe(0.0, 0.0, n) == pytest.approx(0.5)
    assert math.isnan(probabilistic_sharpe(math.nan, 0.0, n))
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe(0.1, 0.0, 1)


def test_more_trials_raise_the_bar() -> None:
    values = [expected_max_sharpe(n, 1.0) for n in (1, 2, 10, 100, 1000)]
    assert values[0] == 0.0 and values == sorted(values)
    # the paper's Figure: about 2.5 for 100 trials of unit variance
    assert values[3] == pytest.approx(2.5306, abs=1e-3)


@pytest.mark.parametrize(
    ("n", "variance", "field"),
    [(0, 1.0, "n_trials"), (True, 1.0, "n_trials"), (2.5, 1.0, "n_trials"),
     (10, math.nan, "variance"), (10, -1.0, "variance"), (10, math.inf, "variance")],
)  # fmt: skip
def test_expected_max_sharpe_rejects_hostile_input(n: object, variance: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        expected_max_sharpe(n, variance)  # type: ignore[arg-type]


def test_deflated_sharpe_from_trial_sharpes_uses_their_count_and_variance() -> None:
    trials = np.array([0.01, 0.03, -0.02, 0.05, math.nan])
    out = deflated_sharpe(0.05, 1000, trials)
    assert out["n_trials"] == 5
    assert out["variance"] == pytest.approx(np.var(trials[:4], ddof=1))
    with pytest.raises(ValueError, match="trial_sharpes"):
        deflated_sharpe(0.05, 1000)


def test_sample_moments_match_scipy() -> None:
    r = np.random.default_rng(3).standard_t(5, size=2000) * 0.01 + 0.0005
    sharpe, skew, kurt = sample_moments(r)
    assert sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert skew == pytest.approx(stats.skew(r))
    assert kurt == pytest.approx(stats.kurtosis(r, fisher=False))
    assert all(math.isnan(v) for v in sample_moments(np.zeros(10)))


def _two_block_returns(reverse: bool) -> np.ndarray:
    """3 trials, 2 blocks of 4 bars: trial 0 best in block A; in block B trial 0 is worst
    (``reverse``) or still best."""
    a = np.array([[0.03, 0.01, -0.01], [0.01, 0.0, 0.01], [0.03, 0.01, -0.01], [0.01, 0.0, 0.01]])
    b = a[:, ::-1] if reverse else a
    return np.vstack([a, b + np.array([0.0, 0.001, 0.002])])


def test_pbo_by_hand_on_two_blocks() -> None:
    # Two blocks make two splits (A in-sample, B out; and back). When the in-sample winner
    # is the out-of-sample loser both times, PBO = 1; when it stays the winner, 0.
    for reverse, expected in ((True, 1.0), (False, 0.0)):
        moments, counts = block_moments(_two_block_returns(reverse), 2)
        result = pbo_cscv(moments, counts)
        assert result.combinations == 2 and result.pbo == expected
    # winner ranks last of 3 out of sample: w = 1 / 4, logit = log(1/3)
    moments, counts = block_moments(_two_block_returns(True), 2)
    np.testing.assert_allclose(pbo_cscv(moments, counts).logits, math.log(1 / 3))


def test_pbo_uses_every_split_when_allowed() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, (320, 6))
    moments, counts = block_moments(r, 16)
    full = pbo_cscv(moments, counts, max_combinations=20_000)
    assert full.combinations == full.all_combinations == math.comb(16, 8) == 12870
    sampled = pbo_cscv(moments, counts)
    assert sampled.combinations == 2000 and sampled.all_combinations == 12870
    assert abs(sampled.pbo - full.pbo) < 0.05


def test_pbo_is_about_one_half_for_noise_and_zero_for_real_skill() -> None:
    values = []
    for seed in range(30):
        r = np.random.default_rng(seed).normal(0, 0.01, (400, 20))
        values.append(pbo_cscv(*block_moments(r, 8)).pbo)
    assert 0.38 < np.mean(values) < 0.62
    r = np.random.default_rng(1).normal(0, 0.01, (1000, 30))
    r[:, 7] += 0.004
    skilled = pbo_cscv(*block_moments(r, 10))
    assert skilled.pbo == 0.0 and skilled.probability_oos_loss == 0.0


@pytest.mark.parametrize(
    ("returns", "blocks", "message"),
    [
        (np.full((10, 3), np.nan), 2, "finite"),
        (np.zeros(10), 2, "T x N"),
        (np.zeros((10, 3)), 11, "blocks"),
    ],
)
def test_block_moments_rejects_hostile_input(
    returns: np.ndarray, blocks: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        block_moments(returns, blocks)


def test_pbo_rejects_odd_blocks_one_trial_and_bad_shapes() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, (60, 4))
    moments, counts = block_moments(r, 3)
    with pytest.raises(ValueError, match="even number"):
        pbo_cscv(moments, counts)
    moments, counts = block_moments(r[:, :1], 4)
    with pytest.raises(ValueError, match="at least 2 trials"):
        pbo_cscv(moments, counts)
    with pytest.raises(ValueError, match="trials x blocks x 2"):
        pbo_cscv(np.zeros((3, 4)), np.ones(4))
    moments, counts = block_moments(r, 4)
    moments[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        pbo_cscv(moments, counts)


def test_robustness_names_every_failed_test() -> None:
    assert robustness(pbo=0.2, dsr=0.99, is_oos_correlation=0.3) == {"robust": True, "reasons": []}
    bad = robustness(pbo=0.7, dsr=0.5, is_oos_correlation=-0.07)
    assert not bad["robust"] and len(bad["reasons"]) == 3
    assert "0.70 > 0.5" in bad["reasons"][0] and "-0.07 <= 0" in bad["reasons"][2]
    assert not robustness(dsr=math.nan)["robust"]
    assert not robustness(is_oos_correlation=0.0)["robust"]


@pytest.fixture(scope="module")
def xrp_4h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_4h.csv").iloc[-3000:]


def test_kernel_block_sums_equal_the_backtesters_returns(xrp_4h: pd.DataFrame) -> None:
    grid = pd.DataFrame(
        {
            "fast": [12, 5, 20],
            "slow": [26, 35, 40],
            "signal": [9, 5, 7],
            "stop_loss": [None, 0.03, None],
        }
    )
    config = BacktestConfig(fill="next_open", trailing_stop_pct=0.05)
    for strategy, params in (("macd", grid), ("swing", pd.DataFrame({"rsi_period": [14, 7]}))):
        swept = sweep_blocks(xrp_4h, strategy, params, config, start=500, blocks=6)
        window = len(xrp_4h) - 500
        np.testing.assert_array_equal(swept.counts, block_counts(window, 6))
        for i, record in enumerate(params.to_dict(orient="records")):
            choice = {k: v for k, v in record.items() if not pd.isna(v)}
            returns, _ = backtest_returns(xrp_4h, strategy, choice, config, 500)
            expected, counts = block_moments(returns[:, None], 6)
            np.testing.assert_array_equal(counts, swept.counts)
            np.testing.assert_allclose(swept.moments[i], expected[0], rtol=1e-9, atol=1e-13)
    with pytest.raises(ValueError, match="blocks"):
        sweep_blocks(xrp_4h, "macd", grid, config, start=len(xrp_4h) - 3, blocks=6)


def test_sweep_overfitting_on_real_data(xrp_4h: pd.DataFrame) -> None:
    grid = pd.DataFrame(
        [(f, s, g) for f in (5, 12, 20) for s in (26, 40) for g in (5, 9)],
        columns=["fast", "slow", "signal"],
    )
    out = sweep_overfitting(xrp_4h, "macd", grid, start=200, blocks=8)
    assert out["pbo"]["combinations"] == math.comb(8, 4) and 0 <= out["pbo"]["pbo"] <= 1
    assert out["dsr"]["n_trials"] == len(grid) and 0 <= out["dsr"]["dsr"] <= 1
    assert set(out["best"]["params"]) == {"fast", "slow", "signal"}
    assert out["robust"] == (not out["reasons"])


def test_kernel_returns_of_one_row_equal_the_backtesters(xrp_4h: pd.DataFrame) -> None:
    from trading_core.research.selection import kernel_returns

    config = BacktestConfig(fill="next_open", stop_loss_pct=0.04)
    row = pd.DataFrame({"fast": [12], "slow": [26], "signal": [9], "take_profit": [0.08]})
    got = kernel_returns(xrp_4h, "macd", row, config, 300)
    expected, _ = backtest_returns(
        xrp_4h, "macd", {"fast": 12, "slow": 26, "signal": 9, "take_profit": 0.08}, config, 300
    )
    assert got.shape == expected.shape == (len(xrp_4h) - 300,)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)

"""How much of a backtest's best result is selection luck: PBO by CSCV and the deflated Sharpe.

- **PBO** (Bailey, Borwein, López de Prado, Zhu, "The Probability of Backtest Overfitting",
  2015), by combinatorially symmetric cross-validation: the T x N matrix of per-bar returns
  (N trials) is cut into S equal blocks; for every one of the C(S, S/2) ways to pick S/2
  blocks as in-sample (the rest out-of-sample) the trial with the best in-sample Sharpe is
  taken and its out-of-sample rank among the N trials is turned into a relative rank
  ``w = rank / (N + 1)`` and a logit ``log(w / (1 - w))``. PBO is the share of combinations
  whose logit is <= 0: the in-sample winner ranked no better than the out-of-sample median.
  The blocks come as sums (``moments``: N x S x 2, the sums of the returns and of their
  squares, and ``counts``: bars per block), so a sweep never holds the T x N matrix.
- **Deflated Sharpe ratio** (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014):
  the probabilistic Sharpe ratio of the selected trial against the Sharpe ratio expected
  from the best of N unskilled trials, ``SR0 = sqrt(V) ((1 - g) Z^-1(1 - 1/N) +
  g Z^-1(1 - 1/(N e)))`` (g: Euler-Mascheroni, V: the variance of the trials' Sharpe
  ratios); ``DSR = Z((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2))``.
  Every Sharpe ratio here is per observation (not annualised); ``kurtosis`` is the plain
  (non-excess) kurtosis, 3 for normal returns.

The verdict (``robustness``) calls a result not robust when PBO > 0.5, when the deflated
Sharpe ratio is below the confidence level (0.95), or when the in-sample/out-of-sample
correlation is <= 0 - each reason stated.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

EULER_GAMMA = 0.5772156649015329
DSR_CONFIDENCE = 0.95
PBO_LIMIT = 0.5


_NORMAL = NormalDist()


def _norm_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


def _norm_ppf(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """The Sharpe ratio expected from the best of ``n_trials`` trials without skill whose
    Sharpe ratios vary with ``variance`` (the DSR paper's SR0)."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if not math.isfinite(variance) or variance < 0:
        raise ValueError(f"variance must be a finite number >= 0, got {variance!r}")
    if n_trials == 1:
        return 0.0
    n = float(n_trials)
    return math.sqrt(variance) * (
        (1.0 - EULER_GAMMA) * _norm_ppf(1.0 - 1.0 / n)
        + EULER_GAMMA * _norm_ppf(1.0 - 1.0 / (n * math.e))
    )


def probabilistic_sharpe(
    sharpe: float, benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """P(true Sharpe > ``benchmark``) given the per-observation ``sharpe`` of ``n_obs``
    returns with that skewness and (non-excess) kurtosis; NaN when undefined."""
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2, got {n_obs}")
    values = (sharpe, benchmark, skew, kurtosis)
    if not all(math.isfinite(v) for v in values):
        return math.nan
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if spread <= 0:
        return math.nan
    return _norm_cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread))


def deflated_sharpe(
    sharpe: float,
    n_obs: int,
    trial_sharpes: Sequence[float] | np.ndarray | None = None,
    *,
    n_trials: int | None = None,
    variance: float | None = None,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> dict[str, float]:
    """The deflated Sharpe ratio of a selected trial (all Sharpe ratios per observation).

    Give the trials' Sharpe ratios (NaN ones are dropped; N = how many were given, V their
    variance), or ``n_trials`` and ``variance`` directly. Returns ``dsr``, the benchmark
    ``sr0``, ``n_trials`` and ``variance``."""
    if trial_sharpes is not None:
        values = np.asarray(trial_sharpes, dtype=float)
        finite = values[np.isfinite(values)]
        n_trials = int(values.size)
        variance = float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0
    if n_trials is None or variance is None:
        raise ValueError("give trial_sharpes, or n_trials and variance")
    sr0 = expected_max_sharpe(n_trials, variance)
    return {
        "dsr": probabilistic_sharpe(sharpe, sr0, n_obs, skew, kurtosis),
        "sr0": sr0,
        "n_trials": n_trials,
        "variance": variance,
    }


def sample_moments(returns: np.ndarray) -> tuple[float, float, float]:
    """Per-observation Sharpe (mean / std ddof 1), skewness and non-excess kurtosis."""
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 3:
        return math.nan, math.nan, math.nan
    std = float(r.std(ddof=1))
    central = r - r.mean()
    m2 = float(np.mean(central**2))
    if std == 0 or m2 == 0:
        return math.nan, math.nan, math.nan
    skew = float(np.mean(central**3)) / m2**1.5
    kurt = float(np.mean(central**4)) / m2**2
    return float(r.mean()) / std, skew, kurt


@dataclass(frozen=True)
class Pbo:
    pbo: float
    combinations: int
    all_combinations: int
    blocks: int
    trials: int
    logits: np.ndarray
    is_sharpe: np.ndarray  # the in-sample winner's in-sample Sharpe, per combination
    oos_sharpe: np.ndarray  # its out-of-sample Sharpe, per combination
    degradation_slope: float  # OLS slope of oos_sharpe on is_sharpe
    probability_oos_loss: float  # share of combinations whose winner lost out-of-sample

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("logits", "is_sharpe", "oos_sharpe"):
            out.pop(key)
        out["median_logit"] = float(np.median(self.logits))
        return out


def block_moments(returns: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """``(moments, counts)`` of a T x N return matrix cut into ``blocks`` equal row blocks
    (bar ``t`` in block ``t * blocks // T``, as the sweep kernel cuts its window)."""
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"returns must be a T x N matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("returns must be finite (no NaN or inf)")
    rows = matrix.shape[0]
    if not 2 <= blocks <= rows:
        raise ValueError(f"blocks must be between 2 and the {rows} rows, got {blocks}")
    which = np.arange(rows) * blocks // rows
    counts = np.bincount(which, minlength=blocks)
    moments = np.zeros((matrix.shape[1], blocks, 2))
    for b in range(blocks):
        part = matrix[which == b]
        moments[:, b, 0] = part.sum(axis=0)
        moments[:, b, 1] = (part**2).sum(axis=0)
    return moments, counts


def _sharpes(sums: np.ndarray, squares: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sharpe (mean / std ddof 1) from sums; rows = combinations, columns = trials."""
    mean = sums / n
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = (squares - sums * mean) / (n - 1)
        out = mean / np.sqrt(variance)
    out[~(variance > 1e-300)] = np.nan
    return out


def pbo_cscv(
    moments: np.ndarray, counts: np.ndarray, *, max_combinations: int = 2_000, seed: int = 0
) -> Pbo:
    """PBO of N trials from their per-block sums (``block_moments`` or ``sweep_blocks``).

    With more than ``max_combinations`` splits (16 blocks make 12,870) a seeded random
    subset of them is used, each with its complement, keeping the symmetry; ``combinations``
    in the result says how many were used (pass a larger ``max_combinations`` for all). A
    trial whose Sharpe is undefined (no variance) ranks below every defined one."""
    moments = np.asarray(moments, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    if moments.ndim != 3 or moments.shape[2] != 2 or moments.shape[1] != counts.size:
        raise ValueError(
            f"moments must be trials x blocks x 2 with one count per block; got {moments.shape}"
            f" and {counts.size} counts"
        )
    trials, blocks = moments.shape[0], counts.size
    if blocks < 2 or blocks % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, got {blocks}")
    if trials < 2:
        raise ValueError(f"PBO needs at least 2 trials, got {trials}")
    if not np.isfinite(moments).all():
        raise ValueError("moments must be finite")
    if (counts < 2).any():
        raise ValueError("every block needs at least 2 bars")
    half = [c for c in itertools.combinations(range(blocks), blocks // 2) if 0 in c]
    every = 2 * len(half)
    if 2 * len(half) > max_combinations:
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(half), size=max(1, max_combinations // 2), replace=False)
        half = [half[i] for i in sorted(pick)]
    mask = np.zeros((2 * len(half), blocks))
    for k, combo in enumerate(half):
        mask[2 * k, list(combo)] = 1.0
    mask[1::2] = 1.0 - mask[0::2]
    logits, is_best, oos_best = [], [], []
    sums, squares = moments[:, :, 0].T.copy(), moments[:, :, 1].T.copy()
    all_sums, all_squares, all_n = sums.sum(axis=0), squares.sum(axis=0), counts.sum()
    for first in range(0, mask.shape[0], 256):
        train = mask[first : first + 256]
        n_train = (train @ counts)[:, None]
        s_train, q_train = train @ sums, train @ squares
        is_sr = _sharpes(s_train, q_train, n_train)
        oos_sr = _sharpes(all_sums - s_train, all_squares - q_train, all_n - n_train)
        best = np.argmax(np.nan_to_num(is_sr, nan=-np.inf), axis=1)
        rows = np.arange(best.size)
        chosen = oos_sr[rows, best][:, None]
        ranked = np.nan_to_num(oos_sr, nan=-np.inf)
        pick = np.nan_to_num(chosen, nan=-np.inf)
        rank = (ranked < pick).sum(axis=1) + ((ranked == pick).sum(axis=1) + 1) / 2.0
        omega = rank / (trials + 1.0)
        logits.append(np.log(omega / (1.0 - omega)))
        is_best.append(is_sr[rows, best])
        oos_best.append(chosen[:, 0])
    logit = np.concatenate(logits)
    is_sharpe = np.concatenate(is_best)
    oos_sharpe = np.concatenate(oos_best)
    both = np.isfinite(is_sharpe) & np.isfinite(oos_sharpe)
    slope = math.nan
    if both.sum() > 1 and np.ptp(is_sharpe[both]) > 0:
        slope = float(np.polyfit(is_sharpe[both], oos_sharpe[both], 1)[0])
    return Pbo(
        pbo=float((logit <= 0).mean()),
        combinations=int(logit.size),
        all_combinations=every,
        blocks=blocks,
        trials=trials,
        logits=logit,
        is_sharpe=is_sharpe,
        oos_sharpe=oos_sharpe,
        degradation_slope=slope,
        probability_oos_loss=float((np.nan_to_num(oos_sharpe, nan=0.0) < 0).mean()),
    )


def robustness(
    pbo: float | None = None,
    dsr: float | None = None,
    is_oos_correlation: float | None = None,
    confidence: float = DSR_CONFIDENCE,
) -> dict[str, Any]:
    """``{"robust": bool, "reasons": [...]}``: every test given that fails is a reason; an
    undefined (NaN) statistic fails its test."""
    reasons: list[str] = []
    if pbo is not None and not pbo <= PBO_LIMIT:
        reasons.append(
            f"probability of backtest overfitting {pbo:.2f} > {PBO_LIMIT}: the in-sample "
            "winner ranks below the out-of-sample median more often than not"
        )
    if dsr is not None and not dsr >= confidence:
        reasons.append(
            f"deflated Sharpe ratio {dsr:.3f} < {confidence}: the best Sharpe is not "
            "significant once the number of trials is accounted for"
        )
    if is_oos_correlation is not None and not is_oos_correlation > 0:
        reasons.append(
            f"in-sample/out-of-sample rank correlation {is_oos_correlation:.2f} <= 0: "
            "in-sample ranking does not predict out-of-sample ranking"
        )
    return {"robust": not reasons, "reasons": reasons}

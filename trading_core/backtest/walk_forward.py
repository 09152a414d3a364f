"""Walk-forward validation: optimise in-sample, trade the winner out-of-sample, repeat.

Folds (in bars): in-sample ``[is_start, is_end)`` then out-of-sample ``[is_end, is_end +
out_of_sample_bars)``; the next fold moves forward by ``out_of_sample_bars``. ``rolling``
keeps the in-sample length fixed; ``expanding`` anchors it at the first bar. Every window may
use up to ``history_bars`` earlier bars to warm up indicators - they were known at the time,
so this is point in time - but no trade and no metric comes from them.

In-sample, every parameter set is evaluated with the sweep kernel (``sweep_strategy``); the
winner maximises ``objective`` among sets with at least ``min_trades`` entries (ties: the
earlier row). Out-of-sample, the winner is backtested with ``close_at_end=True`` so each fold
ends flat and the folds chain into one out-of-sample equity curve starting from
``initial_cash``. A fold with no eligible set stays in cash.

Reported: one row per fold (windows, winner, its in-sample and out-of-sample numbers), the
combined out-of-sample metrics (plus ``efficiency`` = out-of-sample CAGR / mean in-sample
CAGR of the winners, NaN when the latter is <= 0), and a parameter-stability table.

Honest about overfitting: in every fold all candidates are also swept out-of-sample, and
``is_oos_rank_correlation`` is the Spearman correlation of their in-sample and
out-of-sample objective; ``overfitting`` holds the mean of those correlations, the Spearman
correlation of the winners' in-sample and out-of-sample objective across folds, PBO by
CSCV over the candidates on the walk-forward span (``pbo_blocks`` blocks, 0 = skip) and the
deflated Sharpe ratio of the chained out-of-sample returns against the candidates' Sharpe
ratios, with the verdict of ``research.overfitting.robustness``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trading_core.backtest import metrics
from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import check_bars, infer_bars_per_year
from trading_core.backtest.engine import run_backtest
from trading_core.backtest.result import TRADE_COLUMNS, json_safe
from trading_core.backtest.sweep import sweep_strategy
from trading_core.research.objectives import Objective, objective_column
from trading_core.strategies import get_strategy


class WalkForwardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    in_sample_bars: int = Field(gt=10)
    out_of_sample_bars: int = Field(gt=1)
    mode: Literal["rolling", "expanding"] = "rolling"
    objective: Objective = "sharpe"
    min_trades: int = Field(3, ge=0)
    history_bars: int = Field(1000, ge=0)
    pbo_blocks: int = Field(16, ge=0)


@dataclass(frozen=True)
class Fold:
    number: int
    is_start: int
    is_end: int
    oos_end: int


def fold_windows(
    n_bars: int, in_sample: int, out_of_sample: int, mode: str = "rolling"
) -> list[Fold]:
    """The folds over ``n_bars`` bars; the last out-of-sample window may be shorter."""
    folds: list[Fold] = []
    is_end = in_sample
    while is_end + 1 < n_bars:
        is_start = 0 if mode == "expanding" else is_end - in_sample
        folds.append(Fold(len(folds), is_start, is_end, min(is_end + out_of_sample, n_bars)))
        is_end += out_of_sample
    if not folds:
        raise ValueError(
            f"{n_bars} bars cannot hold {in_sample} in-sample bars plus an out-of-sample window"
        )
    return folds


@dataclass(frozen=True)
class WalkForwardResult:
    header: dict[str, Any]
    folds: pd.DataFrame
    stability: pd.DataFrame
    equity: pd.Series
    trades: pd.DataFrame
    metrics: dict[str, float | int]
    overfitting: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                **self.header,
                "metrics": self.metrics,
                "overfitting": self.overfitting,
                "folds": self.folds.to_dict(orient="records"),
                "stability": self.stability.reset_index().to_dict(orient="records"),
            }
        )

    def describe(self) -> str:
        h = self.header
        lines = [
            f"Walk-forward {h['strategy']} ({h['mode']}, {h['folds']} folds, "
            f"{h['in_sample_bars']} in-sample / {h['out_of_sample_bars']} out-of-sample bars)",
            f"  out-of-sample window  {h['window']['start']} -> {h['window']['end']}",
            f"  objective             {h['objective']} (min {h['min_trades']} entries in-sample)",
            f"  fills                 at {h['conventions']['fill']}; fee "
            f"{h['conventions']['taker_fee']:.4%}; slippage {h['conventions']['slippage_bps']:g}"
            " bps; each fold closes at its end",
            "",
        ]
        for key in (
            "total_return",
            "buy_and_hold",
            "sharpe",
            "max_drawdown",
            "entries",
            "closed_trades",
            "win_rate",
            "efficiency",
        ):
            lines.append(f"  {key:<21} {self.metrics[key]}")
        lines += ["", "Parameter stability:", self.stability.to_string()]
        return "\n".join(lines)


def _pick(results: pd.DataFrame, objective: str, min_trades: int) -> pd.Series | None:
    values = objective_column(results, objective)
    eligible = values[(results["entries"] >= min_trades) & values.notna()]
    if eligible.empty:
        return None
    return results.loc[eligible.idxmax()]


def _rank_correlation(a: pd.Series, b: pd.Series) -> float:
    """Spearman correlation of two columns over rows where both are defined; NaN with
    fewer than 3 such rows or no spread."""
    both = pd.concat([a, b], axis=1).dropna()
    if len(both) < 3 or both.nunique().min() < 2:
        return math.nan
    return float(both.iloc[:, 0].rank().corr(both.iloc[:, 1].rank()))


def _annualised(total_return: float, bars: int, bars_per_year: float) -> float:
    return metrics.cagr(total_return, bars, bars_per_year)


def parameter_stability(chosen: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: how the in-sample winner moved across folds.

    ``mode_share`` is the fraction of folds that picked the most common value; ``cv`` the
    coefficient of variation (std / mean). Stable parameters have a high share and low cv.
    """
    rows = {}
    for column in chosen.columns:
        values = chosen[column].dropna()
        if values.empty:
            continue
        counts = values.value_counts()
        numeric = pd.to_numeric(values, errors="coerce")
        mean = float(numeric.mean()) if numeric.notna().all() else math.nan
        std = float(numeric.std(ddof=0)) if numeric.notna().all() else math.nan
        rows[column] = {
            "mean": mean,
            "std": std,
            "cv": std / abs(mean) if mean else math.nan,
            "min": values.min(),
            "max": values.max(),
            "distinct": int(values.nunique()),
            "mode": counts.index[0],
            "mode_share": float(counts.iloc[0] / len(values)),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def walk_forward(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    wf: WalkForwardConfig,
    config: BacktestConfig | None = None,
    start: int = 0,
) -> WalkForwardResult:
    """Walk-forward over ``bars`` choosing among the parameter sets in ``params``; the first
    in-sample window opens at bar ``start`` (earlier bars only warm up, ``history_bars``)."""
    cfg = config or BacktestConfig()
    fold_cfg = cfg.model_copy(update={"close_at_end": True})
    bars = check_bars(bars)
    if not 0 <= start < len(bars):
        raise ValueError(f"start must index one of the {len(bars)} bars, got {start}")
    scale = cfg.bars_per_year or infer_bars_per_year(bars["ts"])
    folds = [
        Fold(f.number, f.is_start + start, f.is_end + start, f.oos_end + start)
        for f in fold_windows(len(bars) - start, wf.in_sample_bars, wf.out_of_sample_bars, wf.mode)
    ]
    params = params.reset_index(drop=True)

    cash = cfg.initial_cash
    equity_parts: list[pd.Series] = []
    trade_parts: list[pd.DataFrame] = []
    rows: list[dict[str, Any]] = []
    chosen_rows: list[dict[str, Any]] = []
    for fold in folds:
        first = max(0, fold.is_start - wf.history_bars)
        in_sample = sweep_strategy(
            bars.iloc[first : fold.is_end], strategy, params, cfg, start=fold.is_start - first
        )
        best = _pick(in_sample, wf.objective, wf.min_trades)
        oos_first = max(0, fold.is_end - wf.history_bars)
        oos_bars = bars.iloc[oos_first : fold.oos_end]
        oos_ts = bars["ts"].iloc[fold.is_end : fold.oos_end]
        out_sample = sweep_strategy(
            oos_bars, strategy, params, fold_cfg, start=fold.is_end - oos_first
        )
        row: dict[str, Any] = {
            "fold": fold.number,
            "is_start": bars["ts"].iloc[fold.is_start],
            "is_end": bars["ts"].iloc[fold.is_end - 1],
            "oos_start": oos_ts.iloc[0],
            "oos_end": oos_ts.iloc[-1],
            "is_oos_rank_correlation": _rank_correlation(
                objective_column(in_sample, wf.objective),
                objective_column(out_sample, wf.objective),
            ),
        }
        if best is None:
            equity_parts.append(pd.Series(cash, index=pd.DatetimeIndex(oos_ts)))
            chosen_rows.append(dict.fromkeys(params.columns))
            rows.append({**row, **dict.fromkeys(params.columns), "oos_total_return": 0.0})
            continue
        choice = {k: best[k] for k in params.columns if not pd.isna(best[k])}
        result = run_backtest(
            oos_bars,
            get_strategy(strategy, choice),
            fold_cfg.model_copy(update={"initial_cash": cash}),
            trade_from=oos_ts.iloc[0],
        )
        cash = float(result.equity.iloc[-1])
        equity_parts.append(result.equity)
        trade_parts.append(result.trades)
        chosen_rows.append({k: best[k] for k in params.columns})
        is_bars = fold.is_end - fold.is_start
        rows.append(
            {
                **row,
                **{k: best[k] for k in params.columns},
                f"is_{wf.objective}": float(
                    objective_column(in_sample.iloc[[int(best.name)]], wf.objective).iloc[0]
                ),
                f"oos_{wf.objective}_swept": float(
                    objective_column(out_sample.iloc[[int(best.name)]], wf.objective).iloc[0]
                ),
                "is_total_return": best["total_return"],
                "is_cagr": _annualised(best["total_return"], is_bars, scale),
                "is_entries": int(best["entries"]),
                "oos_total_return": result.metrics["total_return"],
                "oos_cagr": result.metrics["cagr"],
                "oos_sharpe": result.metrics["sharpe"],
                "oos_max_drawdown": result.metrics["max_drawdown"],
                "oos_entries": result.metrics["entries"],
                "oos_closed_trades": result.metrics["closed_trades"],
            }
        )

    equity = pd.concat(equity_parts).rename("equity")
    trades = (
        pd.concat(trade_parts, ignore_index=True)
        if trade_parts
        else pd.DataFrame(columns=TRADE_COLUMNS)
    )
    fold_table = pd.DataFrame(rows)
    oos_start = folds[0].is_end
    close = bars["close"].to_numpy()
    combined: dict[str, float | int] = {
        **metrics.equity_statistics(equity.to_numpy(), cfg.initial_cash, scale),
        **metrics.trade_statistics(
            trades["pnl"].to_numpy(dtype=float), trades["return"].to_numpy(dtype=float)
        ),
        "entries": int(fold_table["oos_entries"].sum()) if "oos_entries" in fold_table else 0,
        "buy_and_hold": float(close[-1] / close[oos_start] - 1.0),
    }
    is_cagr = fold_table["is_cagr"].mean() if "is_cagr" in fold_table else math.nan
    combined["efficiency"] = combined["cagr"] / is_cagr if is_cagr and is_cagr > 0 else math.nan
    header = {
        "strategy": strategy,
        "mode": wf.mode,
        "folds": len(folds),
        "in_sample_bars": wf.in_sample_bars,
        "out_of_sample_bars": wf.out_of_sample_bars,
        "objective": wf.objective,
        "min_trades": wf.min_trades,
        "history_bars": wf.history_bars,
        "candidates": len(params),
        "window": {
            "start": bars["ts"].iloc[oos_start].isoformat(),
            "end": bars["ts"].iloc[-1].isoformat(),
            "bars": len(equity),
        },
        "conventions": {
            "fill": cfg.fill,
            "taker_fee": cfg.fee,
            "maker_fee": cfg.maker,
            "slippage_bps": cfg.slippage_bps,
            "initial_cash": cfg.initial_cash,
            "fold_end": "positions closed at each fold's last close",
        },
    }
    chosen = pd.DataFrame(chosen_rows, columns=params.columns)
    overfitting = _overfitting(
        bars, strategy, params, cfg, wf, fold_table, equity, scale, oos_start
    )
    return WalkForwardResult(
        header=header,
        folds=fold_table,
        stability=parameter_stability(chosen),
        equity=equity,
        trades=trades,
        metrics=combined,
        overfitting=overfitting,
    )


def _overfitting(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    cfg: BacktestConfig,
    wf: WalkForwardConfig,
    folds: pd.DataFrame,
    equity: pd.Series,
    scale: float,
    oos_start: int,
) -> dict[str, Any]:
    """The statistics of the module docstring's last paragraph."""
    from trading_core.backtest.sweep import sweep_blocks
    from trading_core.research.overfitting import pbo_cscv, robustness
    from trading_core.research.selection import selection_dsr

    mean_corr = float(folds["is_oos_rank_correlation"].mean()) if len(folds) else math.nan
    is_col, oos_col = f"is_{wf.objective}", f"oos_{wf.objective}_swept"
    winners = _rank_correlation(folds[is_col], folds[oos_col]) if is_col in folds else math.nan
    first = max(0, oos_start - wf.history_bars)
    span = bars.iloc[first:]
    window = len(bars) - oos_start
    blocks = wf.pbo_blocks - wf.pbo_blocks % 2
    swept = sweep_blocks(
        span,
        strategy,
        params,
        cfg,
        start=oos_start - first,
        blocks=blocks if window >= 2 * blocks else 0,
    )
    pbo = None
    if len(params) >= 2 and swept.counts.size >= 2:
        pbo = pbo_cscv(swept.moments, swept.counts).summary()
    returns = metrics.per_bar_returns(equity.to_numpy(dtype=float), cfg.initial_cash)
    dsr = selection_dsr(returns, swept.table["sharpe"].to_numpy(), scale)
    verdict = robustness(
        pbo=None if pbo is None else pbo["pbo"], dsr=dsr["dsr"], is_oos_correlation=mean_corr
    )
    return {
        "is_oos_rank_correlation_mean": mean_corr,
        "winners_is_oos_rank_correlation": winners,
        "pbo": pbo,
        "deflated_sharpe": dsr,
        **verdict,
    }

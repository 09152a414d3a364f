"""``trading optimise``: an optuna search on the first part of the window, judged on the rest.

The window is cut at ``1 - holdout``: the search (``backtest.optimise``) only sees the
first part; the winner is then backtested once on the hold-out (warmed up on the bars
before it) - the number that says whether the search found anything. The winner's deflated
Sharpe ratio is computed against every completed trial's Sharpe ratio (N = completed
trials), and the verdict flags it when the deflated Sharpe is not significant or the
hold-out loses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.data import infer_bars_per_year
from trading_core.research.overfitting import robustness
from trading_core.research.selection import backtest_returns, selection_dsr

HEADLINE = ("total_return", "sharpe", "sortino", "calmar", "max_drawdown", "closed_trades")


@dataclass(frozen=True)
class OptimiseRun:
    document: dict[str, Any]
    trials: pd.DataFrame

    def describe(self) -> str:
        d = self.document
        lines = [
            f"Optimise {d['strategy']} ({d['sampler']}, objectives {', '.join(d['objectives'])})",
            f"  searched    {d['search_window']['start']} -> {d['search_window']['end']} "
            f"({d['search_window']['bars']} bars)",
            f"  hold-out    {_window_text(d['holdout_window'])}",
            f"  fills       at {d['conventions']['fill']}; fee {d['conventions']['fee']:.4%}; "
            f"slippage {d['conventions']['slippage_bps']:g} bps; warm-up {d['warmup']}",
            f"  gaps        {d['gaps']['gaps']} ({d['gaps']['missing_candles']} missing candles,"
            f" largest {d['gaps']['largest_gap_candles']}; {d['gaps']['gap_mode']})",
            f"  trials      {d['stop_reason']}",
            f"              {d['counts']['complete']} complete, {d['counts']['too_few_trades']} "
            f"pruned for fewer than {d['min_trades']} closed trades, "
            f"{d['counts']['undefined']} with an undefined objective",
            f"  best        {d['best_params']} -> {d['best_value']}",
        ]
        for part in ("in_sample", "holdout"):
            if d.get(part):
                shown = ", ".join(f"{k} {_num(d[part].get(k))}" for k in HEADLINE)
                lines.append(f"  {part:<11} {shown}")
        dsr = d.get("deflated_sharpe") or {}
        lines.append(
            f"  deflated Sharpe {_num(dsr.get('dsr'))} (SR0 {_num(dsr.get('sr0'))} per bar)"
        )
        lines += ["", *_verdict(d["overfitting"])]
        return "\n".join(lines)

    def write_report(self, directory: Path) -> Path:
        from trading_core.research.report import Report, line_chart, scatter, verdict_markdown

        d = self.document
        report = Report(directory, f"Optimise {d['strategy']}")
        report.text(verdict_markdown(d["overfitting"]))
        report.text("```\n" + self.describe() + "\n```")
        value = self.trials.get("value")
        if value is None and "values_0" in self.trials:
            value = self.trials["values_0"]
        if value is not None and value.notna().any():
            history = pd.Series(value.to_numpy(dtype=float), index=self.trials["number"])
            path = line_chart(
                report.chart_path("trials"),
                {"trial": history, "best so far": history.cummax()},
                "Objective by trial",
                d["objectives"][0],
            )
            report.image(path, "objective by trial")
        if len(d["objectives"]) >= 2 and "values_1" in self.trials:
            front = pd.DataFrame(d["pareto"])
            path = scatter(
                report.chart_path("pareto"),
                self.trials["values_0"],
                self.trials["values_1"],
                "Trials and the Pareto front",
                d["objectives"][0],
                d["objectives"][1],
                highlight=(front[d["objectives"][0]], front[d["objectives"][1]]),
            )
            report.image(path, "Pareto front")
        report.heading("Trials")
        report.table(self.trials)
        return report.write()


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _window_text(window: Mapping[str, Any] | None) -> str:
    if not window:
        return "none"
    return f"{window['start']} -> {window['end']} ({window['bars']} bars)"


def _verdict(overfitting: Mapping[str, Any]) -> list[str]:
    from trading_core.research.report import verdict_lines

    return verdict_lines(overfitting)


def _summary(result: Any) -> dict[str, Any]:
    return {k: result.metrics[k] for k in (*HEADLINE, "entries")}


def _window(ts: pd.Series) -> dict[str, Any]:
    return {
        "start": pd.Timestamp(ts.iloc[0]).isoformat(),
        "end": pd.Timestamp(ts.iloc[-1]).isoformat(),
        "bars": len(ts),
    }


def run_optimise(
    bars: pd.DataFrame,
    strategy: str,
    config: BacktestConfig,
    *,
    start: int = 0,
    space: Mapping[str, Any] | None = None,
    trials: int = 200,
    seed: int = 0,
    objectives: tuple[str, ...] = ("sharpe",),
    sampler: str | None = None,
    min_trades: int = 5,
    patience: int = 50,
    timeout: float | None = None,
    holdout: float = 0.3,
    gaps: Mapping[str, Any] | None = None,
) -> OptimiseRun:
    """The search, the hold-out backtest, the deflated Sharpe and the verdict."""
    from trading_core.backtest.optimise import OptimiseConfig, optimise

    if not (isinstance(holdout, float | int) and 0 <= holdout < 1) or isinstance(holdout, bool):
        raise ValueError(f"--holdout must be a fraction in [0, 1), got {holdout!r}")
    settings = OptimiseConfig.model_validate(
        {
            "n_trials": trials,
            "seed": seed,
            "objective": objectives[0],
            "objectives": objectives if len(objectives) > 1 else None,
            "sampler": sampler,
            "min_trades": min_trades,
            "patience": patience,
            "timeout": timeout,
        }
    )
    window = len(bars) - start
    split = start + int(window * (1.0 - holdout)) if holdout else len(bars)
    if split - start < 20 or (holdout and len(bars) - split < 2):
        raise ValueError(
            f"--holdout {holdout}: the {window}-bar window leaves {split - start} bars to "
            f"search and {len(bars) - split} to hold out; need >= 20 and >= 2"
        )
    searched = bars.iloc[:split].reset_index(drop=True)
    result = optimise(searched, strategy, space, config, settings, start=start)
    scale = config.bars_per_year or infer_bars_per_year(bars["ts"])
    doc: dict[str, Any] = {
        "strategy": strategy,
        "sampler": settings.sampler_name,
        "objectives": list(settings.targets),
        "min_trades": min_trades,
        "trials_requested": trials,
        "counts": result.counts,
        "stopped_early": result.stopped_early,
        "stop_reason": result.stop_reason,
        "search_window": _window(searched["ts"].iloc[start:]),
        "holdout_window": _window(bars["ts"].iloc[split:]) if holdout else None,
        "holdout_fraction": holdout,
        "conventions": {
            "fill": config.fill,
            "stops_from": config.stops_from,
            "fee": config.fee,
            "maker_fee": config.maker,
            "slippage_bps": config.slippage_bps,
            "stop_loss": config.stop_loss_pct,
            "take_profit": config.take_profit_pct,
            "trailing_stop": config.trailing_stop_pct,
        },
        "warmup": config.warmup,
        "gaps": dict(gaps or {}),
        "best_params": result.best_params,
        "best_value": result.best_value,
        "pareto": result.pareto,
    }
    checks: dict[str, Any] = {}
    if result.best_params is not None:
        returns, fitted = backtest_returns(searched, strategy, result.best_params, config, start)
        doc["in_sample"] = _summary(fitted)
        column = "user_attrs_sharpe"
        complete = result.trials[result.trials["state"] == "COMPLETE"]
        sharpes = complete[column].to_numpy(dtype=float) if column in complete else np.zeros(0)
        doc["deflated_sharpe"] = selection_dsr(returns, sharpes, scale)
        checks["dsr"] = doc["deflated_sharpe"]["dsr"]
        if holdout:
            _, held = backtest_returns(bars, strategy, result.best_params, config, split)
            doc["holdout"] = _summary(held)
    overfitting = robustness(**checks)
    if doc.get("holdout") and not doc["holdout"]["total_return"] > 0:
        overfitting["robust"] = False
        overfitting["reasons"].append(
            f"the winner returned {doc['holdout']['total_return']:+.2%} on the hold-out"
        )
    if result.best_params is None:
        overfitting = {"robust": False, "reasons": [result.stop_reason]}
    doc["overfitting"] = overfitting
    return OptimiseRun(doc, result.trials)

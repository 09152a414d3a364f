"""``trading walk-forward``: ``backtest.walk_forward`` plus its verdict, text and report.

The verdict (``result.overfitting``) is not robust when PBO over the candidates > 0.5, the
deflated Sharpe ratio of the chained out-of-sample returns is not significant, or the mean
in-sample/out-of-sample rank correlation of the candidates is <= 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.walk_forward import WalkForwardConfig, WalkForwardResult, walk_forward


@dataclass(frozen=True)
class WalkForwardRun:
    result: WalkForwardResult
    document: dict[str, Any]

    def describe(self) -> str:
        o = self.result.overfitting
        pbo = o.get("pbo") or {}
        dsr = o.get("deflated_sharpe") or {}
        gaps = self.document["gaps"]
        lines = [
            self.result.describe(),
            "",
            f"  gaps                  {gaps.get('gaps')} ({gaps.get('missing_candles')} missing "
            f"candles, largest {gaps.get('largest_gap_candles')}; {gaps.get('gap_mode')})",
            f"  IS/OOS rank corr.     {_num(o['is_oos_rank_correlation_mean'])} (mean over "
            f"folds, all candidates); winners across folds "
            f"{_num(o['winners_is_oos_rank_correlation'])}",
            f"  PBO (CSCV)            {_num(pbo.get('pbo'))} over {pbo.get('combinations', 0)} "
            f"splits of {pbo.get('blocks', 0)} blocks",
            f"  deflated Sharpe       {_num(dsr.get('dsr'))} (N = {dsr.get('n_trials')} "
            "candidates)",
            "",
            "Folds:",
            self.result.folds.to_string(index=False),
            "",
        ]
        from trading_core.research.report import verdict_lines

        return "\n".join([*lines, *verdict_lines(o)])

    def write_report(self, directory: Path) -> Path:
        from trading_core.research.report import (
            Report,
            line_chart,
            scatter,
            verdict_markdown,
        )

        r = self.result
        report = Report(directory, f"Walk-forward {r.header['strategy']}")
        report.text(verdict_markdown(r.overfitting))
        report.text("```\n" + r.describe() + "\n```")
        marks = list(pd.to_datetime(r.folds["oos_start"]))
        path = line_chart(
            report.chart_path("equity"),
            {"out-of-sample equity": r.equity},
            "Chained out-of-sample equity (dotted: fold starts)",
            "equity",
            marks=marks,
        )
        report.image(path, "out-of-sample equity")
        objective = r.header["objective"]
        is_col, oos_col = f"is_{objective}", f"oos_{objective}_swept"
        if is_col in r.folds:
            path = scatter(
                report.chart_path("is_vs_oos"),
                r.folds[is_col],
                r.folds[oos_col],
                "Fold winners: in-sample vs out-of-sample",
                f"in-sample {objective}",
                f"out-of-sample {objective}",
            )
            report.image(path, "in-sample vs out-of-sample")
        report.heading("Folds")
        report.table(r.folds)
        report.heading("Parameter stability")
        report.table(r.stability, index=True)
        report.heading("Overfitting statistics")
        report.text("```json\n" + _json(r.overfitting) + "\n```")
        return report.write()


def _json(value: Any) -> str:
    import json

    from trading_core.backtest.result import json_safe

    return json.dumps(json_safe(value), indent=2, default=str)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def run_walk_forward(
    bars: pd.DataFrame,
    strategy: str,
    params: pd.DataFrame,
    config: BacktestConfig,
    *,
    in_sample: int,
    out_of_sample: int,
    mode: str = "rolling",
    objective: str = "sharpe",
    min_trades: int = 3,
    history_bars: int = 1000,
    pbo_blocks: int = 16,
    gaps: Mapping[str, Any] | None = None,
    start: int = 0,
) -> WalkForwardRun:
    """``walk_forward`` from bar ``start`` (earlier bars warm up the first windows)."""
    wf = WalkForwardConfig.model_validate(
        {
            "in_sample_bars": in_sample,
            "out_of_sample_bars": out_of_sample,
            "mode": mode,
            "objective": objective,
            "min_trades": min_trades,
            "history_bars": history_bars,
            "pbo_blocks": pbo_blocks,
        }
    )
    result = walk_forward(bars, strategy, params, wf, config, start=start)
    document = {
        **result.to_dict(),
        "warmup": f"{history_bars} bars of history before every window (point in time)",
        "gaps": dict(gaps or {}),
    }
    return WalkForwardRun(result, document)

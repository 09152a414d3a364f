"""``trading monte-carlo``: one backtest, then three ways of asking how lucky it was.

- ``shuffle``: the closed trades in random orders (path risk; final equity unchanged);
- ``bootstrap``: trades drawn with replacement (how much the result owes to a few trades);
- ``block``: a moving-block bootstrap of the per-bar returns of the equity curve, whose
  drawdowns are bar-level (``research.bar_bootstrap``).

Each method reports percentiles of final equity (from 1), total return and max drawdown,
the observed values and the probability of a loss. Trade methods need a closed trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trading_core.backtest import metrics
from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.engine import run_backtest
from trading_core.backtest.monte_carlo import monte_carlo
from trading_core.research.bar_bootstrap import block_bootstrap
from trading_core.strategies import get_strategy

METHODS: tuple[str, ...] = ("shuffle", "bootstrap", "block")
# the trade methods hold runs x trades floats at once: 100,000 x 1,000 trades is 800 MB
MAX_RUNS = 100_000


@dataclass(frozen=True)
class MonteCarloRun:
    document: dict[str, Any]
    runs: dict[str, pd.DataFrame]

    def describe(self) -> str:
        d = self.document
        head = d["backtest"]
        lines = [
            f"Monte Carlo {head['strategy']}({head['params']}), {d['runs']} runs, seed {d['seed']}",
            f"  window      {head['window']['start']} -> {head['window']['end']} "
            f"({head['window']['bars']} bars); fills at {head['conventions']['fill']}, fee "
            f"{head['conventions']['taker_fee']:.4%}",
            f"  gaps        {d['gaps'].get('gaps')} ({d['gaps'].get('missing_candles')} missing"
            f" candles; {d['gaps'].get('gap_mode')})",
        ]
        for note in d.get("skipped", []):
            lines.append(f"  skipped     {note}")
        for name, method in d["methods"].items():
            extra = f", blocks of {method['block']} bars" if "block" in method else ""
            lines += [
                "",
                f"{name}{extra}: P(loss) {method['probability_of_loss']:.1%}; observed total "
                f"return {method['observed']['total_return']:+.2%}, max drawdown "
                f"{method['observed']['max_drawdown']:+.2%}",
                pd.DataFrame(method["summary"]).T.to_string(float_format=lambda v: f"{v:+.4f}"),
            ]
        return "\n".join(lines)

    def write_report(self, directory: Path) -> Path:
        from trading_core.research.report import Report, histogram

        d = self.document
        report = Report(directory, f"Monte Carlo {d['backtest']['strategy']}")
        report.text("```\n" + self.describe() + "\n```")
        for name, runs in self.runs.items():
            observed = d["methods"][name]["observed"]
            for column in ("total_return", "max_drawdown"):
                path = histogram(
                    report.chart_path(f"{name}_{column}"),
                    runs[column].to_numpy(),
                    f"{name}: {column.replace('_', ' ')}",
                    column,
                    observed=observed[column],
                )
                report.image(path, f"{name} {column}")
        return report.write()


def _method_doc(result: Any) -> dict[str, Any]:
    out = {
        "summary": result.summary.to_dict(orient="index"),
        "observed": result.observed,
        "probability_of_loss": result.probability_of_loss,
    }
    if hasattr(result, "block"):
        out["block"] = result.block
    return out


def run_monte_carlo(
    bars: pd.DataFrame,
    strategy: str,
    params: Mapping[str, Any],
    config: BacktestConfig,
    *,
    start: int = 0,
    method: str = "all",
    runs: int = 1000,
    seed: int = 0,
    block: int | None = None,
    gaps: Mapping[str, Any] | None = None,
) -> MonteCarloRun:
    if method not in ("all", *METHODS):
        raise ValueError(f"--method {method!r} is not allowed; allowed: ('all', *{METHODS})")
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= MAX_RUNS:
        raise ValueError(f"--runs must be an integer in [1, {MAX_RUNS}], got {runs!r}")
    trade_from = bars["ts"].iloc[start] if start else None
    result = run_backtest(bars, get_strategy(strategy, dict(params)), config, trade_from=trade_from)
    chosen = METHODS if method == "all" else (method,)
    trade_returns = result.trades["return"].to_numpy(dtype=float)
    docs: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    skipped: list[str] = []
    for name in chosen:
        if name == "block":
            returns = metrics.per_bar_returns(
                result.equity.to_numpy(dtype=float), config.initial_cash
            )
            outcome: Any = block_bootstrap(returns, runs=runs, block=block, seed=seed)
        elif trade_returns.size == 0:
            if method != "all":
                raise ValueError(f"--method {name} needs at least one closed trade; got none")
            skipped.append(f"{name}: the backtest closed no trade")
            continue
        else:
            outcome = monte_carlo(trade_returns, runs=runs, seed=seed, method=name)  # type: ignore[arg-type]
        docs[name] = _method_doc(outcome)
        tables[name] = outcome.runs
    document = {
        "backtest": result.header(),
        "metrics": {k: result.metrics[k] for k in ("total_return", "max_drawdown", "sharpe")},
        "closed_trades": int(trade_returns.size),
        "gaps": dict(gaps or {}),
        "runs": runs,
        "seed": seed,
        "methods": docs,
        "skipped": skipped,
    }
    return MonteCarloRun(document, tables)

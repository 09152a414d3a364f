"""PNG charts for research reports, drawn with matplotlib's Agg canvas (no display, no
pyplot global state, safe in Dagster runs and tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

AGGREGATIONS: tuple[str, ...] = ("max", "mean", "median", "min")


def sweep_heatmap(
    results: pd.DataFrame,
    path: Path | str,
    x: str = "fast",
    y: str = "slow",
    value: str = "total_return",
    agg: str = "max",
    title: str | None = None,
) -> Path:
    """A heatmap of ``value`` over two sweep parameters (other parameters aggregated by
    ``agg``), written to ``path`` as PNG. Returns the path."""
    for column in (x, y, value):
        if column not in results.columns:
            raise ValueError(f"sweep results lack column {column!r}; have {list(results.columns)}")
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg {agg!r} is not allowed; allowed: {AGGREGATIONS}")
    table = results.pivot_table(index=y, columns=x, values=value, aggfunc=agg).sort_index()
    figure = Figure(figsize=(10, 7), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    masked = np.ma.masked_invalid(table.to_numpy(dtype=float))
    image = axes.imshow(masked, origin="lower", aspect="auto", cmap="viridis")
    axes.set_xticks(range(len(table.columns)), [str(c) for c in table.columns], rotation=90)
    axes.set_yticks(range(len(table.index)), [str(i) for i in table.index])
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(title or f"{agg} {value} by {x} x {y}")
    figure.colorbar(image, ax=axes, label=value)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target


def equity_chart(
    equity: pd.Series, path: Path | str, benchmark: pd.Series | None = None, title: str = ""
) -> Path:
    """Equity (and optionally a buy-and-hold benchmark, rescaled to the same start) as PNG."""
    figure = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(equity.index, equity.to_numpy(), label="strategy")
    if benchmark is not None:
        scaled = benchmark / benchmark.iloc[0] * equity.iloc[0]
        axes.plot(scaled.index, scaled.to_numpy(), label="buy and hold", alpha=0.7)
    axes.set_yscale("log")
    axes.set_title(title)
    axes.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target

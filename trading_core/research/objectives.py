"""The objectives a search can maximise, read from a sweep row (``SWEEP_METRICS``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

OBJECTIVES: tuple[str, ...] = (
    "sharpe",
    "sortino",
    "calmar",
    "profit_over_drawdown",
    "total_return",
)
Objective = Literal["sharpe", "sortino", "calmar", "profit_over_drawdown", "total_return"]


def objective_value(row: Mapping[str, Any], name: str) -> float:
    """One objective of a sweep row; ``profit_over_drawdown`` = total return / |max
    drawdown|. NaN when undefined (no drawdown, no variance)."""
    if name == "profit_over_drawdown":
        worst = float(row["max_drawdown"])
        return float(row["total_return"]) / abs(worst) if worst < 0 else math.nan
    if name not in OBJECTIVES:
        raise ValueError(f"objective {name!r} is not allowed; allowed: {OBJECTIVES}")
    return float(row[name])


def objective_column(table: pd.DataFrame, name: str) -> pd.Series:
    """``objective_value`` of every row of a sweep table."""
    if name == "profit_over_drawdown":
        worst = table["max_drawdown"].astype(float)
        ratio = table["total_return"].astype(float) / worst.abs()
        return ratio.where(worst < 0, np.nan)
    if name not in OBJECTIVES:
        raise ValueError(f"objective {name!r} is not allowed; allowed: {OBJECTIVES}")
    return table[name].astype(float)

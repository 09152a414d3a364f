"""Bayesian parameter search with optuna (TPE), seeded and deterministic.

Each trial is one ``sweep_strategy`` row, so MACD trials run on the compiled kernel. A trial
with fewer than ``min_trades`` entries is pruned (it says nothing about the parameters), and
the search stops early once ``patience`` trials in a row brought no improvement. Optuna's own
logging is turned down to warnings for the duration of the search.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.sweep import sweep_strategy

# A dimension: (low, high) integers or floats (inclusive), or a list of choices.
Dimension = tuple[int, int] | tuple[float, float] | Sequence[Any]

MACD_SPACE: dict[str, Dimension] = {"fast": (2, 40), "slow": (3, 80), "signal": (2, 20)}
MACD_ORDER: dict[str, str] = {"slow": "fast"}


class OptimiseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trials: int = Field(200, ge=1)
    seed: int = 0
    objective: Literal["sharpe", "total_return"] = "sharpe"
    min_trades: int = Field(5, ge=0)
    patience: int = Field(50, ge=1)
    startup_trials: int = Field(10, ge=1)


@dataclass(frozen=True)
class OptimiseResult:
    best_params: dict[str, Any] | None
    best_value: float
    trials: pd.DataFrame
    stopped_early: bool


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def _suggest(
    trial: optuna.Trial, space: Mapping[str, Dimension], above: Mapping[str, str]
) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for name, dimension in space.items():
        if isinstance(dimension, tuple) and len(dimension) == 2:
            low, high = dimension
            if name in above:
                low = max(low, chosen[above[name]] + 1)
            if isinstance(low, int) and isinstance(high, int):
                chosen[name] = trial.suggest_int(name, low, high)
            else:
                chosen[name] = trial.suggest_float(name, float(low), float(high))
        else:
            chosen[name] = trial.suggest_categorical(name, list(dimension))
    return chosen


class _EarlyStop:
    """Stops the study after ``patience`` completed-or-pruned trials without a new best."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = -math.inf
        self.since = 0
        self.stopped = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        value = trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None
        if value is not None and value > self.best:
            self.best, self.since = value, 0
            return
        self.since += 1
        if self.since >= self.patience:
            self.stopped = True
            study.stop()


def optimise(
    bars: pd.DataFrame,
    strategy: str,
    space: Mapping[str, Dimension] | None = None,
    config: BacktestConfig | None = None,
    opt: OptimiseConfig | None = None,
    above: Mapping[str, str] | None = None,
) -> OptimiseResult:
    """Search ``space`` for the parameters maximising ``opt.objective`` on ``bars``.

    ``above`` maps a parameter to one it must exceed (MACD: slow > fast), which narrows the
    sampled range instead of wasting trials on invalid combinations. For ``macd`` both default
    to ``MACD_SPACE`` / ``MACD_ORDER``.
    """
    if space is None:
        if strategy != "macd":
            raise ValueError(f"give a search space for strategy {strategy!r}")
        space = MACD_SPACE
    order = above if above is not None else (MACD_ORDER if strategy == "macd" else {})
    settings = opt or OptimiseConfig()
    cfg = config or BacktestConfig()

    def objective(trial: optuna.Trial) -> float:
        params = _suggest(trial, space, order)
        row = sweep_strategy(bars, strategy, pd.DataFrame([params]), cfg).iloc[0]
        trial.set_user_attr("entries", int(row["entries"]))
        trial.set_user_attr("total_return", float(row["total_return"]))
        value = float(row[settings.objective])
        if row["entries"] < settings.min_trades or math.isnan(value):
            raise optuna.TrialPruned()
        return value

    sampler = optuna.samplers.TPESampler(
        seed=settings.seed, n_startup_trials=settings.startup_trials
    )
    stopper = _EarlyStop(settings.patience)
    with _quiet_optuna():
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=settings.n_trials, callbacks=[stopper])
    frame = study.trials_dataframe(attrs=("number", "value", "params", "state", "user_attrs"))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return OptimiseResult(None, math.nan, frame, stopper.stopped)
    return OptimiseResult(
        dict(study.best_trial.params), float(study.best_value), frame, stopper.stopped
    )

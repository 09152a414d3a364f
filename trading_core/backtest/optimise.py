"""Parameter search with optuna, seeded and deterministic: TPE, or NSGA-II for several
objectives at once.

Each trial is one ``sweep_strategy`` row, so every built-in strategy's trials run on the
compiled kernel; the exit rules ``stop_loss``, ``take_profit`` and ``trailing_stop`` can be
search dimensions like any strategy parameter (they become the sweep's exit-rule columns).
Objectives (``OBJECTIVES``): ``sharpe``, ``sortino``, ``calmar``, ``profit_over_drawdown``
(total return / |max drawdown|) and ``total_return``, all maximised. A trial with fewer than
``min_trades`` closed trades, or whose objective is undefined, is pruned (it says nothing
about the parameters) and counted by reason. The search stops early once ``patience`` trials
in a row brought no new best (for several objectives: no new best in any of them), or at
``timeout`` seconds; ``stop_reason`` says which, in words. Optuna's own logging is turned
down to warnings for the duration of the search.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.sweep import sweep_strategy
from trading_core.research.objectives import Objective, objective_value

# A dimension: (low, high) integers or floats (inclusive), or a list of choices.
Dimension = tuple[int, int] | tuple[float, float] | Sequence[Any]

MACD_SPACE: dict[str, Dimension] = {"fast": (2, 40), "slow": (3, 80), "signal": (2, 20)}
MACD_ORDER: dict[str, str] = {"slow": "fast"}
# The default search space and ordering of each built-in strategy that runs on candles.
DEFAULT_SPACES: dict[str, dict[str, Dimension]] = {
    "macd": MACD_SPACE,
    "swing": {
        "rsi_period": (5, 30),
        "bb_period": (10, 40),
        "bb_std": (1.5, 3.0),
        "oversold": (15.0, 45.0),
        "overbought": (55.0, 85.0),
    },
    "grid": {"lookback": (20, 500), "levels": (3, 30), "stop_pct": (0.005, 0.1)},
}
DEFAULT_ORDERS: dict[str, dict[str, str]] = {
    "macd": MACD_ORDER,
    "swing": {"overbought": "oversold"},
}


SAMPLERS: tuple[str, ...] = ("tpe", "nsga2")


class OptimiseConfig(BaseModel):
    """``objective`` alone uses TPE; ``objectives`` (two or more) use NSGA-II and give a
    Pareto front. ``min_trades`` counts closed trades."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_trials: int = Field(200, ge=1)
    seed: int = 0
    objective: Objective = "sharpe"
    objectives: tuple[Objective, ...] | None = None
    sampler: Literal["tpe", "nsga2"] | None = None
    min_trades: int = Field(5, ge=0)
    patience: int = Field(50, ge=1)
    startup_trials: int = Field(10, ge=1)
    timeout: float | None = Field(None, gt=0)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.objectives) if self.objectives else (self.objective,)

    @property
    def sampler_name(self) -> str:
        return self.sampler or ("nsga2" if len(self.targets) > 1 else "tpe")


@dataclass(frozen=True)
class OptimiseResult:
    best_params: dict[str, Any] | None
    best_value: float
    trials: pd.DataFrame
    stopped_early: bool
    stop_reason: str = ""
    objectives: tuple[str, ...] = ("sharpe",)
    sampler: str = "tpe"
    pareto: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


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
    """Stops the study after ``patience`` completed-or-pruned trials without a new best (in
    any objective)."""

    def __init__(self, patience: int, objectives: int) -> None:
        self.patience = patience
        self.best = [-math.inf] * objectives
        self.since = 0
        self.stopped = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        values = trial.values if trial.state == optuna.trial.TrialState.COMPLETE else None
        if values is not None:
            better = [v > b for v, b in zip(values, self.best, strict=True)]
            if any(better):
                self.best = [max(v, b) for v, b in zip(values, self.best, strict=True)]
                self.since = 0
                return
        self.since += 1
        if self.since >= self.patience:
            self.stopped = True
            study.stop()


def _stop_reason(
    stopper: _EarlyStop, settings: OptimiseConfig, ran: int, counts: dict[str, int]
) -> str:
    if stopper.stopped:
        return (
            f"stopped early after {ran} of {settings.n_trials} trials: {settings.patience} "
            "trials in a row found no better value (patience)"
        )
    if ran < settings.n_trials:
        return (
            f"stopped after {ran} of {settings.n_trials} trials: the {settings.timeout:g} s timeout"
        )
    if counts["complete"] == 0:
        return (
            f"ran all {ran} trials but every one was pruned ({counts['too_few_trades']} with "
            f"fewer than {settings.min_trades} closed trades, {counts['undefined']} with an "
            "undefined objective): no result"
        )
    return f"ran all {ran} trials"


def optimise(
    bars: pd.DataFrame,
    strategy: str,
    space: Mapping[str, Dimension] | None = None,
    config: BacktestConfig | None = None,
    opt: OptimiseConfig | None = None,
    above: Mapping[str, str] | None = None,
    start: int = 0,
) -> OptimiseResult:
    """Search ``space`` for the parameters maximising ``opt``'s objective(s) on ``bars``.

    ``above`` maps a parameter to one it must exceed (MACD: slow > fast), which narrows the
    sampled range instead of wasting trials on invalid combinations. For the built-in
    strategies both default to ``DEFAULT_SPACES`` / ``DEFAULT_ORDERS``. Bars before ``start``
    only warm up the indicators.
    With several objectives ``best_params`` / ``best_value`` are the Pareto trial best in the
    first objective, and ``pareto`` lists the whole front.
    """
    if space is None:
        if strategy not in DEFAULT_SPACES:
            raise ValueError(
                f"give a search space for strategy {strategy!r} (defaults exist for "
                f"{sorted(DEFAULT_SPACES)})"
            )
        space = DEFAULT_SPACES[strategy]
    if not space:
        raise ValueError("the search space has no dimensions")
    order = above if above is not None else DEFAULT_ORDERS.get(strategy, {})
    settings = opt or OptimiseConfig()
    targets = settings.targets
    cfg = config or BacktestConfig()
    counts = {"complete": 0, "too_few_trades": 0, "undefined": 0}

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        params = _suggest(trial, space, order)
        row = sweep_strategy(bars, strategy, pd.DataFrame([params]), cfg, start=start).iloc[0]
        for key in ("entries", "closed_trades"):
            trial.set_user_attr(key, int(row[key]))
        for key in ("total_return", "max_drawdown", "sharpe", "sortino", "calmar"):
            trial.set_user_attr(key, float(row[key]))
        values = tuple(objective_value(row, name) for name in targets)
        if row["closed_trades"] < settings.min_trades:
            counts["too_few_trades"] += 1
            raise optuna.TrialPruned()
        if any(math.isnan(v) or math.isinf(v) for v in values):
            counts["undefined"] += 1
            raise optuna.TrialPruned()
        counts["complete"] += 1
        return values if len(values) > 1 else values[0]

    if settings.sampler_name == "nsga2":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.NSGAIISampler(seed=settings.seed)
    else:
        sampler = optuna.samplers.TPESampler(
            seed=settings.seed, n_startup_trials=settings.startup_trials
        )
    stopper = _EarlyStop(settings.patience, len(targets))
    with _quiet_optuna():
        study = optuna.create_study(directions=["maximize"] * len(targets), sampler=sampler)
        study.optimize(
            objective, n_trials=settings.n_trials, callbacks=[stopper], timeout=settings.timeout
        )
    frame = study.trials_dataframe(attrs=("number", "value", "params", "state", "user_attrs"))
    ran = len(study.trials)
    reason = _stop_reason(stopper, settings, ran, counts)
    common: dict[str, Any] = {
        "stop_reason": reason,
        "objectives": targets,
        "sampler": settings.sampler_name,
        "counts": {**counts, "trials": ran},
    }
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return OptimiseResult(None, math.nan, frame, stopper.stopped, **common)
    front = study.best_trials
    pareto = [
        {"number": t.number, **t.params, **dict(zip(targets, t.values, strict=True))} for t in front
    ]
    best = max(front, key=lambda t: (t.values[0], -t.number))
    return OptimiseResult(
        dict(best.params), float(best.values[0]), frame, stopper.stopped, pareto=pareto, **common
    )

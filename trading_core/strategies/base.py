"""The one strategy interface, used unchanged by the backtester and by paper/live trading.

A strategy turns bars into per-bar signals, vectorised: ``signals(bars)`` returns one row per
bar with the columns of ``SIGNAL_COLUMNS``, each row computed from that bar and earlier ones
only. The backtester reads the whole frame; the live path calls ``decide(bars, in_position)``,
which is nothing but ``signals(bars)`` read on the last (closed) bar - so there is exactly one
code path from bars to decisions.

Signal columns:
- ``entry`` / ``exit`` (bool): open a long / close it, decided at the bar's close.
- ``stop_loss`` / ``take_profit`` (float price, NaN = none): protective levels for a position
  opened on this bar's signal.
- ``limit_price`` (float, NaN = market order): an entry that rests as a limit order for the
  next bar only.
- ``size_fraction`` (float in (0, 1]): the share of available cash an entry commits.
- ``reason`` (str): why, in words; empty on bars without a signal.

Warm-up: ``warmup`` is the first bar that can signal at all; ``warmup_bars`` is how many bars
of history a backtest window needs before its first bar for every indicator to agree with its
full-history value. Window indicators (SMA, Bollinger, rolling min/max) need their window
and are then bit-identical. Recursive ones (EMA, MACD, Wilder's RSI/ATR/ADX) forget their
seed geometrically: after k bars its weight is ``(1 - alpha) ** k``; ``warmup_bars`` adds the
smallest k with ``(1 - alpha) ** k <= WARMUP_TOLERANCE`` (1e-9, the tolerance of the stored
incremental indicators' ``SETTLE``), i.e. about 20.7 x (span + 1) / 2 bars for an EMA of span
n (alpha = 2 / (n + 1)) and 20.7 x n for a Wilder average (alpha = 1 / n). A value then
differs from the full-history one by at most 1e-9 of the seed's error - far below price
ticks, so crossings and thresholds, and hence trades, are the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from trading_core.indicators.catalog import _ema_settle, _wilder_settle

SIGNAL_COLUMNS: tuple[str, ...] = (
    "entry",
    "exit",
    "stop_loss",
    "take_profit",
    "limit_price",
    "size_fraction",
    "reason",
)


WARMUP_TOLERANCE = 1e-9


def ema_settle_bars(span: int, tolerance: float = WARMUP_TOLERANCE) -> int:
    """Bars after its first value for an EMA of ``span`` to forget its seed to ``tolerance``."""
    return _ema_settle(span, tolerance)


def wilder_settle_bars(period: int, tolerance: float = WARMUP_TOLERANCE) -> int:
    """Bars after its first value for a Wilder average of ``period`` to forget its seed."""
    return _wilder_settle(period, tolerance)


class StrategyError(ValueError):
    """A strategy name or parameter is wrong; the message names it and what is allowed."""


class StrategyParams(BaseModel):
    """Base of every strategy's parameter model: unknown names are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _describe_errors(strategy: str, model: type[StrategyParams], err: ValidationError) -> str:
    allowed = ", ".join(model.model_fields)
    lines = [f"invalid parameters for strategy {strategy!r}:"]
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"]) or "params"
        if problem["type"] == "extra_forbidden":
            lines.append(f"  {field}: unknown parameter; allowed: {allowed}")
            continue
        info = model.model_fields.get(str(problem["loc"][0])) if problem["loc"] else None
        default = (
            f"; default {info.get_default(call_default_factory=True)!r}" if info is not None else ""
        )
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {field}: {message} (got {problem.get('input')!r}{default})")
    return "\n".join(lines)


@dataclass(frozen=True)
class Decision:
    """What the live path should do after the last closed bar.

    ``action`` "enter" opens a long with ``size_fraction`` of available cash (a limit order
    at ``limit_price`` when set, else a market order); "exit" closes the whole position.
    ``price`` is the close the decision saw (the intent's reference price).
    """

    action: Literal["enter", "exit"]
    bar: Hashable
    bar_ts: pd.Timestamp | None
    price: float
    size_fraction: float
    limit_price: float | None
    stop_loss: float | None
    take_profit: float | None
    reason: str

    @property
    def order_type(self) -> Literal["market", "limit"]:
        return "market" if self.limit_price is None else "limit"


def _optional(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


class Strategy(ABC):
    """Base class of every strategy: validated ``params``, ``warmup``, ``signals``, ``decide``.

    Subclasses set ``name``, ``params_model``, ``required_columns`` and implement ``warmup``
    and ``compute`` (which may return only ``entry``/``exit`` and whichever optional columns
    it uses; ``signals`` fills the rest with their neutral values).
    """

    name: ClassVar[str]
    params_model: ClassVar[type[StrategyParams]]
    required_columns: ClassVar[tuple[str, ...]] = ("open", "high", "low", "close")

    def __init__(self, params: StrategyParams | Mapping[str, Any] | None = None) -> None:
        if isinstance(params, self.params_model):
            self.params = params
            return
        if isinstance(params, StrategyParams):
            raise StrategyError(
                f"strategy {self.name!r} takes {self.params_model.__name__}, "
                f"got {type(params).__name__}"
            )
        try:
            self.params = self.params_model.model_validate(dict(params or {}))
        except ValidationError as err:
            raise StrategyError(_describe_errors(self.name, self.params_model, err)) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params.model_dump()})"

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Bars of history before the first bar that can signal."""

    @property
    def warmup_bars(self) -> int:
        """Bars of history a window needs for full-history indicator values (module docstring).

        The default, ``warmup``, is right for window-only indicators; strategies with
        recursive indicators override it."""
        return self.warmup

    @abstractmethod
    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Per-bar signals on ``bars``' index; at least ``entry`` and ``exit``."""

    def signals(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Every column of ``SIGNAL_COLUMNS``, one row per bar, no lookahead."""
        missing = [c for c in self.required_columns if c not in bars.columns]
        if missing:
            raise StrategyError(
                f"strategy {self.name!r} needs columns {list(self.required_columns)}; "
                f"missing {missing}"
            )
        raw = self.compute(bars)
        out = pd.DataFrame(index=bars.index)
        out["entry"] = raw["entry"].fillna(False).astype(bool)
        out["exit"] = raw["exit"].fillna(False).astype(bool)
        for column in ("stop_loss", "take_profit", "limit_price"):
            out[column] = raw[column].astype(float) if column in raw else np.nan
        out["size_fraction"] = raw["size_fraction"].astype(float) if "size_fraction" in raw else 1.0
        out["reason"] = raw["reason"].astype(str) if "reason" in raw else ""
        return out

    def decide(self, bars: pd.DataFrame, in_position: bool) -> Decision | None:
        """The decision on the last bar of ``bars`` (which must all be closed), or None.

        Derived from ``signals`` so live trading takes exactly the backtested decisions: an
        entry only when flat, an exit only when in a position.
        """
        if bars.empty:
            return None
        last = self.signals(bars).iloc[-1]
        if in_position and last["exit"]:
            action: Literal["enter", "exit"] = "exit"
        elif not in_position and last["entry"]:
            action = "enter"
        else:
            return None
        bar_ts = pd.Timestamp(bars["ts"].iloc[-1]) if "ts" in bars.columns else None
        return Decision(
            action=action,
            bar=bars.index[-1],
            bar_ts=bar_ts,
            price=float(bars["close"].iloc[-1]),
            size_fraction=float(last["size_fraction"]),
            limit_price=_optional(last["limit_price"]) if action == "enter" else None,
            stop_loss=_optional(last["stop_loss"]) if action == "enter" else None,
            take_profit=_optional(last["take_profit"]) if action == "enter" else None,
            reason=str(last["reason"]),
        )


def crossed_above(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a`` strictly below ``b`` on the previous bar and strictly above on this one.

    Equal values are not a side: a touch followed by a move back is no cross. NaN on either
    bar is no cross.
    """
    return (a.shift(1) < b.shift(1)) & (a > b)


def reasons(entry: pd.Series, exit_: pd.Series, on_entry: str, on_exit: str) -> pd.Series:
    return pd.Series(
        np.where(entry, on_entry, np.where(exit_, on_exit, "")), index=entry.index, dtype=object
    )

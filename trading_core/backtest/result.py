"""A backtest's outcome: header (window and conventions), metrics, equity, trades, trade hash.

Every report states its window and conventions: ``header()`` is part of ``to_dict()`` and the
first block of ``describe()``. ``trade_hash`` is a sha256 over every closed trade (entry and
exit time, prices, quantity, P&L, exit reason, floats in shortest round-trip form), so a
refactor or a speed-up can prove it changed no result.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trading_core.backtest import metrics
from trading_core.backtest.config import BacktestConfig
from trading_core.backtest.warmup import Warmup
from trading_core.strategies import Strategy

TRADE_COLUMNS: list[str] = [
    "entry_ts",
    "exit_ts",
    "entry_price",
    "exit_price",
    "quantity",
    "cost",
    "proceeds",
    "entry_fee",
    "exit_fee",
    "pnl",
    "return",
    "bars_held",
    "entry_reason",
    "exit_reason",
]

# The headline numbers, in the order reports list them.
SUMMARY_METRICS: tuple[str, ...] = (
    "total_return",
    "buy_and_hold",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_days",
    "entries",
    "closed_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "expectancy_pct",
    "avg_win",
    "avg_loss",
    "kelly",
    "longest_win_streak",
    "longest_loss_streak",
    "exposure",
    "trades_per_day",
    "fees_paid",
    "final_equity",
)


def trade_hash(trades: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for row in trades.itertuples(index=False):
        line = "|".join(
            [
                pd.Timestamp(row.entry_ts).isoformat(),
                pd.Timestamp(row.exit_ts).isoformat(),
                repr(float(row.entry_price)),
                repr(float(row.exit_price)),
                repr(float(row.quantity)),
                repr(float(row.pnl)),
                str(row.exit_reason),
            ]
        )
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has no literal for them); numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    bars: int
    history_bars: int
    bars_per_year: float
    metrics: dict[str, float | int]
    equity: pd.Series = field(repr=False)
    trades: pd.DataFrame = field(repr=False)
    open_trade: dict[str, Any] | None = None
    trade_log: list[dict[str, Any]] = field(default_factory=list, repr=False)
    warmup: Warmup | None = None

    @property
    def trade_hash(self) -> str:
        return trade_hash(self.trades)

    def header(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "strategy": self.strategy,
            "params": self.params,
            "window": {
                "start": self.window_start.isoformat(),
                "end": self.window_end.isoformat(),
                "bars": self.bars,
                "history_bars_before_window": self.history_bars,
            },
            **(self.warmup.to_dict() if self.warmup is not None else {}),
            "conventions": {
                "fill": cfg.fill,
                "stops_from": cfg.stops_from,
                "taker_fee": cfg.fee,
                "maker_fee": cfg.maker,
                "slippage_bps": cfg.slippage_bps,
                "stop_loss_pct": cfg.stop_loss_pct,
                "take_profit_pct": cfg.take_profit_pct,
                "trailing_stop_pct": cfg.trailing_stop_pct,
                "stop_priority": "stop-loss first when a bar touches stop and target",
                "sides": "long only, one position at a time",
                "sizing": "all-in: position_sizing.entry_notional = size_fraction of cash "
                "(equity, flat); quantity = notional / (price * (1 + fee))",
                "open_position_at_end": "closed at last close"
                if cfg.close_at_end
                else "valued at last close (an entry, not a closed trade)",
                "initial_cash": cfg.initial_cash,
                "bars_per_year": self.bars_per_year,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """Header, metrics, the trade hash and the open trade: JSON-ready (NaN -> None)."""
        return json_safe(
            {
                **self.header(),
                "metrics": dict(self.metrics),
                "trade_hash": self.trade_hash,
                "trades": self.trade_log,
                "open_trade": self.open_trade,
            }
        )

    def describe(self) -> str:
        """A readable report: the window and conventions first, then the metrics."""
        head = self.header()
        window, conv = head["window"], head["conventions"]
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        stops = (
            ", ".join(
                f"{name} {conv[key]:.2%}"
                for name, key in (
                    ("stop-loss", "stop_loss_pct"),
                    ("take-profit", "take_profit_pct"),
                    ("trailing", "trailing_stop_pct"),
                )
                if conv[key] is not None
            )
            or "none (strategy levels only)"
        )
        lines = [
            f"Backtest {self.strategy}({params})",
            f"  window      {window['start']} -> {window['end']} ({window['bars']} bars, "
            f"{window['history_bars_before_window']} bars of history before)",
            f"  warm-up     {self._warmup_line()}",
            f"  fills       at {conv['fill']}; taker fee {conv['taker_fee']:.4%}, maker fee "
            f"{conv['maker_fee']:.4%}; slippage {conv['slippage_bps']:g} bps",
            f"  stops       {stops}; {conv['stop_priority']}; on a next_open entry checked "
            f"from the {'fill bar' if conv['stops_from'] == 'fill' else 'bar after the fill'} "
            f"(stops_from={conv['stops_from']})",
            f"  positions   {conv['sides']}; {conv['sizing']}",
            f"  at the end  open position {conv['open_position_at_end']}",
            f"  cash        {conv['initial_cash']:,.2f}; {conv['bars_per_year']:g} bars/year",
            "",
        ]
        width = max(len(k) for k in SUMMARY_METRICS)
        for key in SUMMARY_METRICS:
            lines.append(f"  {key:<{width}}  {_format_metric(key, self.metrics[key])}")
        lines.append(f"  {'trade_hash':<{width}}  {self.trade_hash}")
        return "\n".join(lines)

    def _warmup_line(self) -> str:
        w = self.warmup
        if w is None:
            return f"{self.history_bars} bars of history before the window"
        state = "complete" if w.complete else f"INCOMPLETE, needs {w.needed}"
        return f"{w.mode}: {w.bars} bars ({state}); first bar used {w.first_bar.isoformat()}"


_SIGNED_PERCENT = {
    "total_return",
    "buy_and_hold",
    "cagr",
    "max_drawdown",
    "expectancy_pct",
    "avg_win",
    "avg_loss",
    "kelly",
}
_PERCENT = {"win_rate", "exposure"}


def _format_metric(key: str, value: float | int) -> str:
    if isinstance(value, int | np.integer):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if key in _SIGNED_PERCENT:
        return f"{value:+.2%}"
    if key in _PERCENT:
        return f"{value:.2%}"
    return f"{value:,.4f}"


def build_result(
    *,
    strategy: Strategy,
    config: BacktestConfig,
    ts: pd.Series,
    close: np.ndarray,
    equity: np.ndarray,
    exposed: np.ndarray,
    trades: pd.DataFrame,
    open_trade: dict[str, Any] | None,
    entries: int,
    fees_paid: float,
    bars_per_year: float,
    history_bars: int,
    trade_log: list[dict[str, Any]] | None = None,
    warmup: Warmup | None = None,
) -> BacktestResult:
    stats: dict[str, float | int] = {
        **metrics.equity_statistics(equity, config.initial_cash, bars_per_year),
        **metrics.trade_statistics(
            trades["pnl"].to_numpy(dtype=float), trades["return"].to_numpy(dtype=float)
        ),
    }
    days = len(equity) / bars_per_year * 365.0
    stats.update(
        entries=entries,
        exposure=float(exposed.mean()),
        trades_per_day=entries / days,
        buy_and_hold=float(close[-1] / close[0] - 1.0),
        fees_paid=fees_paid,
    )
    return BacktestResult(
        strategy=strategy.name,
        params=strategy.params.model_dump(),
        config=config,
        window_start=pd.Timestamp(ts.iloc[0]),
        window_end=pd.Timestamp(ts.iloc[-1]),
        bars=len(equity),
        history_bars=history_bars,
        bars_per_year=bars_per_year,
        metrics=stats,
        equity=pd.Series(equity, index=pd.DatetimeIndex(ts), name="equity"),
        trades=trades,
        open_trade=open_trade,
        trade_log=list(trade_log or []),
        warmup=warmup,
    )

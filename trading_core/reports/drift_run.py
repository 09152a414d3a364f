"""The drift report of one window: for each instance that traded in it (an intent decided or
a fill), the backtest of the same window (``run_backtest`` with the instance's strategy and
parameters on the warehouse's candles) against the ledger's records, trade by trade
(``drift.compare``), with each instance's numbers and breached bounds (``drift.summarize``).

Conventions of the backtest, stated in every report (``CONVENTIONS``): the paper broker's
reference price, i.e. a fill at the signal bar's close (``fill="close"``) with the
configured taker/maker fees and ``fees.slippage_bps``; the instance's percent stop-loss,
take-profit and trailing stop (an ATR stop is the protocol's and is not replayed); the
window starts flat, so a trade whose signal bar is before the window is left out on both
sides; indicators warm up on ``strategy.warmup_bars`` earlier candles (``warmup="auto"``).
The instance's equity is its share (``allocation``) of the starting cash plus its realized
P&L in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from trading_core.backtest import BacktestConfig, DataError, run_backtest
from trading_core.config import FeesConfig, TradingConfig
from trading_core.config_drift import DriftConfig
from trading_core.config_portfolio import MANUAL_INSTANCE, InstanceConfig, instances_of
from trading_core.reports.drift import (
    DRIFT_COLUMNS,
    DriftInputs,
    DriftSummary,
    compare,
    summarize,
    window_label,
)
from trading_core.reports.drift_ledger import LedgerFrames, LedgerReadError
from trading_core.reports.drift_live import LiveTrade, in_window, live_trades
from trading_core.strategies import StrategyError, get_strategy
from trading_core.timeframes import timeframe_delta

CONVENTIONS = (
    "Backtest of the same window per instance and symbol: run_backtest with the instance's "
    "strategy and parameters on the warehouse candles (staging.stg_ohlcv, closed candles), "
    "fill at the signal bar's close (the paper broker's reference price) with the configured "
    "taker/maker fees and slippage, the instance's percent stops; both sides start the window "
    "flat. Trades matched by signal bar; prices in basis points (traded against backtested); "
    "fees and P&L in quote with the backtest trade scaled to the traded quantity (a missed "
    "trade to its intent's notional). Entry slippage = entry price against the signal bar's "
    "close. Instance equity = allocation x starting cash + realized P&L in the ledger."
)
# Loader of closed candles: (exchange, symbol, timeframe, start, end) -> ts + OHLCV, oldest first.
CandleLoader = Callable[[str, str, str, datetime, datetime], pd.DataFrame]


@dataclass(frozen=True)
class DriftSetup:
    """What the drift report needs from the configuration (captured at definition time)."""

    instances: tuple[InstanceConfig, ...]
    fees: FeesConfig
    starting_cash: float
    bounds: DriftConfig
    ledger_url: str

    @classmethod
    def from_config(cls, config: TradingConfig, ledger_url: str) -> DriftSetup:
        return cls(
            tuple(instances_of(config)),
            config.fees,
            config.executor.starting_cash,
            config.drift,
            ledger_url,
        )


@dataclass(frozen=True)
class DriftReport:
    window: str
    rows: pd.DataFrame  # DRIFT_COLUMNS, every instance
    summaries: list[DriftSummary]
    notes: list[str] = field(default_factory=list)
    mode: str | None = None

    @property
    def breached(self) -> list[DriftSummary]:
        return [s for s in self.summaries if s.breaches]

    def to_dict(self) -> dict[str, Any]:
        rows = self.rows.astype(object).where(self.rows.notna(), None)
        records = [
            {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()}
            for r in rows.to_dict("records")
        ]
        return {
            "window": self.window,
            "mode": self.mode,
            "conventions": CONVENTIONS,
            "instances": [s.to_dict() for s in self.summaries],
            "trades": records,
            "notes": list(self.notes),
        }


def _backtest_config(setup: DriftSetup, instance: InstanceConfig, cash: float) -> BacktestConfig:
    risk = instance.resolved_risk()
    return BacktestConfig.from_fees(
        setup.fees,
        initial_cash=cash,
        fill="close",
        warmup="auto",
        stop_loss_pct=risk.stop_loss_pct if risk.stop == "percent" else None,
        take_profit_pct=risk.take_profit_pct,
        trailing_stop_pct=risk.trailing_stop_pct,
    )


def _one_symbol(
    setup: DriftSetup,
    instance: InstanceConfig,
    symbol: str,
    frames: LedgerFrames,
    traded: list[LiveTrade],
    loader: CandleLoader,
    start: datetime,
    end: datetime,
    equity: float,
) -> tuple[pd.DataFrame, str | None]:
    strategy = get_strategy(instance.strategy, dict(instance.params))
    step = timeframe_delta(instance.timeframe)
    history = start - step * (2 * strategy.warmup_bars + 2)
    bars = loader(instance.exchange, symbol, instance.timeframe, history, end)
    trades = [t for t in traded if t.instance == instance.id and t.symbol == symbol]
    if bars.empty or not (pd.to_datetime(bars["ts"]) >= pd.Timestamp(start)).any():
        note = f"{instance.id} {symbol}: no candles in the window; no backtest"
        return pd.DataFrame(columns=DRIFT_COLUMNS), note
    result = run_backtest(bars, strategy, _backtest_config(setup, instance, equity), start)
    bt = result.trades[pd.to_datetime(result.trades["entry_ts"]) >= pd.Timestamp(start)]
    open_trade = result.open_trade
    if open_trade is not None and pd.Timestamp(open_trade["entry_ts"]) < pd.Timestamp(start):
        open_trade = None
    costs = [t.entry_value + t.entry_fee for t in trades]
    risk = instance.resolved_risk()
    default_notional = sum(costs) / len(costs) if costs else equity * risk.position_fraction
    intents = frames.intents
    intents = intents[intents["instance_id"].fillna("default") == instance.id]
    closes = bars.assign(ts=pd.to_datetime(bars["ts"])).set_index("ts")["close"].astype(float)
    inputs = DriftInputs(
        instance.id, symbol, instance.timeframe, bt, open_trade, trades, intents, closes,
        default_notional, setup.bounds.late_fill_seconds,
    )  # fmt: skip
    return compare(inputs), None


def drift_report(
    setup: DriftSetup,
    frames: LedgerFrames,
    loader: CandleLoader,
    start: datetime,
    end: datetime,
) -> DriftReport:
    """The window's drift for every configured instance that traded in it."""
    label = window_label(start, end)
    known = {i.id: i for i in setup.instances}
    notes: list[str] = []
    tables: list[pd.DataFrame] = []
    summaries: list[DriftSummary] = []
    try:
        traded = in_window(live_trades(frames.fills, frames.orders, frames.intents), start, end)
    except ValueError as exc:  # a hostile row: no report rather than a wrong one
        raise LedgerReadError(f"the ledger's records cannot be read as trades: {exc}") from exc
    for name in frames.instances_traded(start, end):
        instance = known.get(name)
        if instance is None:
            why = "the operator's own intents" if name == MANUAL_INSTANCE else "not configured"
            notes.append(f"{name}: traded but has no strategy to backtest ({why})")
            continue
        equity = setup.starting_cash * instance.allocation + frames.realized.get(name, 0.0)
        if not equity > 0:
            notes.append(f"{name}: equity {equity:.2f} is not positive; no drift bounds apply")
            continue
        rows: list[pd.DataFrame] = []
        for symbol in instance.symbols:
            try:
                table, note = _one_symbol(
                    setup, instance, symbol, frames, traded, loader, start, end, equity
                )
            except (DataError, StrategyError, ValueError) as exc:
                table, note = pd.DataFrame(columns=DRIFT_COLUMNS), f"{name} {symbol}: {exc}"
            if note:
                notes.append(note)
            if len(table):
                rows.append(table)
        table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=DRIFT_COLUMNS)
        tables.append(table)
        summaries.append(
            summarize(
                name,
                label,
                table,
                equity=equity,
                bounds=setup.bounds,
                slippage_bps=setup.fees.slippage_bps,
            )
        )
    nonempty = [t for t in tables if len(t)]
    rows_all = (
        pd.concat(nonempty, ignore_index=True) if nonempty else pd.DataFrame(columns=DRIFT_COLUMNS)
    )
    return DriftReport(label, rows_all, summaries, notes, frames.mode)


def breach_message(summaries: Sequence[DriftSummary]) -> str:
    """One line per instance out of bounds, for the alert."""
    return "; ".join(f"{s.instance}: {', '.join(s.breaches)}" for s in summaries if s.breaches)

"""Drift: what an instance traded in a window against what the backtest of the same window
would have done, trade by trade, each difference with its likely cause. Pure: frames in,
frames out (``drift_run`` runs the backtests, ``drift_ledger`` reads the ledger).

Trades are matched by symbol and signal bar (the bar whose close decided the entry: the
backtest's ``entry_ts`` under ``fill="close"``, the live entry intent's ``bar_ts``; a limit
entry fills a bar after its decision, so a backtest limit fill matches the bar before):

- **missed**: the backtest traded, the instance did not. The cause is the entry intent's
  fate in the ledger: ``expired``, ``rejected by risk``, ``invalid``, ``executor error``,
  ``not filled`` (accepted, its order ended without a fill) or ``no intent`` (the evaluation
  decided nothing on that bar);
- **extra**: the instance traded, the backtest did not (``manual`` for the operator's own
  instance, ``backtest in a position`` when a backtest trade spans the bar, else ``no
  backtest signal``);
- **matched**: both traded; entry and exit prices are compared in basis points (the
  instance's price against the backtest's), fees and P&L in quote with the backtest trade
  scaled to the instance's quantity. A price difference is named ``late fill`` (the fill
  came more than ``late_fill_seconds`` after the signal bar's close), ``partial fill`` (an
  order filled part of its quantity, or was repriced), ``exit by <role>`` (the instance
  left by another rule than the backtest), else ``slippage``.

A missed trade's P&L is the backtest's scaled to the intent's notional (else the instance's
``default_notional``). Entry slippage is the entry price against the signal bar's close (bps,
against the trader: a buy above the close is positive).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from trading_core.config_drift import DriftConfig
from trading_core.reports.drift_live import LiveTrade
from trading_core.timeframes import timeframe_delta

DRIFT_COLUMNS: list[str] = [
    "instance", "symbol", "signal_bar", "status", "cause", "backtest_entry", "live_entry",
    "entry_diff_bps", "entry_cause", "entry_slippage_bps", "backtest_exit", "live_exit",
    "exit_diff_bps", "exit_cause", "backtest_fee", "live_fee", "fee_diff", "backtest_pnl",
    "live_pnl", "pnl_diff", "detail",
]  # fmt: skip
# An intent's terminal status -> why its trade is missing.
MISSED_CAUSES: dict[str, str] = {
    "EXPIRED": "expired",
    "REJECTED_BY_RISK": "rejected by risk",
    "INVALID": "invalid",
    "FAILED": "executor error",
    "DONE": "not filled",
    "ACCEPTED": "not filled yet",
    "NEW": "not processed yet",
}
PRICE_EPSILON_BPS = 1e-6


@dataclass(frozen=True)
class DriftInputs:
    """One instance in one symbol over one window."""

    instance: str
    symbol: str
    timeframe: str
    backtest_trades: pd.DataFrame  # the backtester's TRADE_COLUMNS, entries in the window
    backtest_open: dict[str, Any] | None  # result.open_trade, when its entry is in the window
    live: Sequence[LiveTrade]  # the instance's trades in the window (this symbol)
    intents: pd.DataFrame  # the instance's intents (drift_live.INTENT_COLUMNS)
    closes: pd.Series  # close by bar ts (the signal bars' closes)
    default_notional: float
    late_fill_seconds: float


def _bps(live: float | None, backtest: float | None) -> float | None:
    if live is None or backtest is None or not backtest:
        return None
    return (live / backtest - 1.0) * 10_000


def _key(ts: Any) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_localize(None) if pd.Timestamp(ts).tzinfo else pd.Timestamp(ts)


def _price_cause(
    diff_bps: float | None, lag: float | None, partial: bool, late_after: float
) -> str | None:
    if diff_bps is None:
        return None
    if lag is not None and lag > late_after:
        return "late fill"
    if partial:
        return "partial fill"
    if abs(diff_bps) > PRICE_EPSILON_BPS:
        return "slippage"
    return None


def _backtest_rows(inputs: DriftInputs) -> list[dict[str, Any]]:
    rows = [dict(r) for r in inputs.backtest_trades.to_dict("records")]
    if inputs.backtest_open is not None:
        rows.append({**inputs.backtest_open, "exit_ts": None, "exit_price": None, "pnl": None})
    for row in rows:
        row["entry_fee"] = float(row.get("entry_fee") or 0.0)
        row["exit_fee"] = float(row.get("exit_fee") or 0.0)
    return rows


def _intent_for(intents: pd.DataFrame, symbol: str, bar: pd.Timestamp) -> pd.Series | None:
    if intents.empty:
        return None
    same = intents[
        (intents["symbol"] == symbol)
        & (intents["action"] == "open")
        & (pd.to_datetime(intents["bar_ts"]) == bar)
    ]
    return None if same.empty else same.iloc[-1]


def _missed(inputs: DriftInputs, bt: dict[str, Any], bar: pd.Timestamp) -> dict[str, Any]:
    intent = _intent_for(inputs.intents, inputs.symbol, bar)
    if intent is None:  # a limit entry: decided a bar before it filled
        earlier = _intent_for(
            inputs.intents, inputs.symbol, bar - timeframe_delta(inputs.timeframe)
        )
        intent = earlier if earlier is not None and earlier["order_type"] == "limit" else None
    if intent is None:
        cause, detail, notional = "no intent", "the evaluation decided nothing on this bar", None
    else:
        status = str(intent["status"])
        cause = MISSED_CAUSES.get(status, status.lower())
        detail = f"intent {intent['intent_id']} {status}: {intent['status_reason'] or ''}".strip()
        notional = intent["notional"]
    notional = float(notional) if notional is not None and notional == notional else None
    scale = (notional or inputs.default_notional) / float(bt["cost"]) if bt["cost"] else 0.0
    pnl = float(bt["pnl"]) * scale if bt.get("pnl") is not None else None
    return {
        "status": "missed",
        "cause": cause,
        "backtest_entry": float(bt["entry_price"]),
        "backtest_exit": _float(bt.get("exit_price")),
        "backtest_fee": (bt["entry_fee"] + bt["exit_fee"]) * scale,
        "backtest_pnl": pnl,
        "pnl_diff": -pnl if pnl is not None else None,
        "detail": detail,
    }


def _float(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


def _extra(inputs: DriftInputs, live: LiveTrade, spans: list[tuple[Any, Any]]) -> dict[str, Any]:
    bar = _key(live.signal_bar or live.entry_time)
    if live.instance == "manual":
        cause = "manual"
    elif any(start <= bar and (end is None or bar <= end) for start, end in spans):
        cause = "backtest in a position"
    else:
        cause = "no backtest signal"
    pnl = live.pnl
    return {
        "status": "extra",
        "cause": cause,
        "live_entry": live.entry_price,
        "live_exit": live.exit_price,
        "live_fee": live.fees,
        "live_pnl": pnl,
        "pnl_diff": pnl,
        "detail": f"entry intent {live.entry_intent or 'none'}",
    }


def _matched(inputs: DriftInputs, bt: dict[str, Any], live: LiveTrade) -> dict[str, Any]:
    scale = live.quantity / float(bt["quantity"]) if bt["quantity"] else 0.0
    entry_diff = _bps(live.entry_price, float(bt["entry_price"]))
    bt_exit = _float(bt.get("exit_price"))
    exit_diff = _bps(live.exit_price, bt_exit)
    late = inputs.late_fill_seconds
    entry_cause = _price_cause(entry_diff, live.entry_lag_seconds, live.entry_partial, late)
    exit_cause: str | None = None
    bt_reason = bt.get("exit_reason")
    if bt_exit is None and live.exit_price is not None:
        exit_cause = f"exit by {live.exit_role} (the backtest still holds)"
    elif bt_exit is not None and live.exit_price is None:
        exit_cause = f"still open (the backtest left by {bt_reason})"
    elif live.exit_role and bt_reason and _exit_reason(live.exit_role) != bt_reason:
        exit_cause = f"exit by {live.exit_role} (the backtest by {bt_reason})"
    else:
        exit_cause = _price_cause(exit_diff, live.exit_lag_seconds, live.exit_partial, late)
    bt_fee = (bt["entry_fee"] + bt["exit_fee"]) * scale
    bt_pnl = float(bt["pnl"]) * scale if bt.get("pnl") is not None else None
    live_pnl = live.pnl
    both = bt_pnl is not None and live_pnl is not None
    causes = [c for c in (entry_cause, exit_cause) if c]
    detail = f"entry intent {live.entry_intent}; fill lag {_seconds(live.entry_lag_seconds)}"
    if live.fees_unvalued:
        detail += f"; {live.fees_unvalued} fee(s) without a quote value"
    return {
        "status": "matched",
        "cause": ", ".join(dict.fromkeys(causes)) or None,
        "backtest_entry": float(bt["entry_price"]),
        "live_entry": live.entry_price,
        "entry_diff_bps": entry_diff,
        "entry_cause": entry_cause,
        "backtest_exit": bt_exit,
        "live_exit": live.exit_price,
        "exit_diff_bps": exit_diff,
        "exit_cause": exit_cause,
        "backtest_fee": bt_fee,
        "live_fee": live.fees,
        "fee_diff": live.fees - bt_fee,
        "backtest_pnl": bt_pnl,
        "live_pnl": live_pnl,
        "pnl_diff": live_pnl - bt_pnl if both else None,  # type: ignore[operator]
        "detail": detail,
    }


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} s"


def _exit_reason(role: str) -> str:
    """The ledger's exit order role in the backtester's words."""
    return {"exit": "signal"}.get(role, role)


def _pairs(
    inputs: DriftInputs, backtest: dict[pd.Timestamp, dict[str, Any]]
) -> dict[pd.Timestamp, tuple[dict[str, Any] | None, LiveTrade | None]]:
    """Backtest and traded trades by signal bar. A backtest limit entry fills a bar after its
    decision: it matches a limit entry decided a bar earlier."""
    step = timeframe_delta(inputs.timeframe)
    live = {_key(t.signal_bar or t.entry_time): t for t in inputs.live}
    pairs: dict[pd.Timestamp, tuple[dict[str, Any] | None, LiveTrade | None]] = {}
    unmatched = []
    for bar, row in backtest.items():
        if bar in live:
            pairs[bar] = (row, live.pop(bar))
        else:
            unmatched.append((bar, row))
    for bar, row in unmatched:
        earlier = bar - step
        if earlier in live and live[earlier].entry_limit:
            pairs[earlier] = (row, live.pop(earlier))
        else:
            pairs[bar] = (row, None)
    for bar, trade in live.items():
        pairs[bar] = (None, trade)
    return pairs


def compare(inputs: DriftInputs) -> pd.DataFrame:
    """One row per trade (``DRIFT_COLUMNS``), by signal bar."""
    backtest = {_key(row["entry_ts"]): row for row in _backtest_rows(inputs)}
    spans = [(_key(r["entry_ts"]), _key(r["exit_ts"]) if r["exit_ts"] else None)
             for r in backtest.values()]  # fmt: skip
    rows = []
    for bar, (bt, trade) in sorted(_pairs(inputs, backtest).items()):
        if bt is not None and trade is not None:
            row = _matched(inputs, bt, trade)
        elif bt is not None:
            row = _missed(inputs, bt, bar)
        else:
            assert trade is not None
            row = _extra(inputs, trade, spans)
        if trade is not None and bar in inputs.closes.index:
            row["entry_slippage_bps"] = _bps(trade.entry_price, float(inputs.closes[bar]))
        rows.append(
            {"instance": inputs.instance, "symbol": inputs.symbol, "signal_bar": bar, **row}
        )
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


@dataclass(frozen=True)
class DriftSummary:
    instance: str
    window: str
    live_trades: int
    backtest_trades: int
    matched: int
    missed: int
    extra: int
    mean_entry_slippage_bps: float | None
    mean_entry_diff_bps: float | None
    mean_exit_diff_bps: float | None
    fee_diff: float
    pnl_diff: float
    equity: float
    pnl_diff_pct: float
    breaches: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "breaches": list(self.breaches)}


def _mean(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None


def summarize(
    instance: str,
    window: str,
    rows: pd.DataFrame,
    *,
    equity: float,
    bounds: DriftConfig,
    slippage_bps: float,
) -> DriftSummary:
    """The instance's day in numbers, and which bounds it breaks (``breaches``)."""
    if not math.isfinite(equity) or equity <= 0:
        raise ValueError(f"instance {instance!r}: equity must be a finite number > 0, got {equity}")
    status = rows["status"] if len(rows) else pd.Series(dtype=str)
    missed, extra = int((status == "missed").sum()), int((status == "extra").sum())
    pnl_diff = float(pd.to_numeric(rows.get("pnl_diff"), errors="coerce").fillna(0).sum())
    fee_diff = float(pd.to_numeric(rows.get("fee_diff"), errors="coerce").fillna(0).sum())
    slippage = _mean(rows["entry_slippage_bps"]) if len(rows) else None
    pct = abs(pnl_diff) / equity * 100.0
    breaches = []
    if missed > bounds.max_missed_trades:
        breaches.append(f"{missed} missed trade(s) (allowed {bounds.max_missed_trades})")
    if extra > bounds.max_extra_trades:
        breaches.append(f"{extra} extra trade(s) (allowed {bounds.max_extra_trades})")
    limit = bounds.slippage_bound_bps(slippage_bps)
    if slippage is not None and slippage > limit:
        breaches.append(f"mean entry slippage {slippage:.2f} bps above {limit:.2f} bps")
    if pct > bounds.max_pnl_diff_pct:
        breaches.append(
            f"P&L difference {pnl_diff:+.2f} is {pct:.2f} % of equity {equity:.2f} "
            f"(allowed {bounds.max_pnl_diff_pct} %)"
        )
    return DriftSummary(
        instance=instance,
        window=window,
        live_trades=int(status.isin(["matched", "extra"]).sum()),
        backtest_trades=int(status.isin(["matched", "missed"]).sum()),
        matched=int((status == "matched").sum()),
        missed=missed,
        extra=extra,
        mean_entry_slippage_bps=slippage,
        mean_entry_diff_bps=_mean(rows["entry_diff_bps"]) if len(rows) else None,
        mean_exit_diff_bps=_mean(rows["exit_diff_bps"]) if len(rows) else None,
        fee_diff=fee_diff,
        pnl_diff=pnl_diff,
        equity=equity,
        pnl_diff_pct=pct,
        breaches=tuple(breaches),
    )


def window_label(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC (end excluded)"

"""Locks after freqtrade's protections (``freqtrade/plugins/protections/``), per instance.

Each instance is one freqtrade bot: its symbols are the bot's pairs. Evaluated when one of
its trades closes, with the instance's closed trades (``ProtocolConfig.protections.rules``):

- ``cooldown`` (``CooldownPeriod``, here after a stop exit only): the symbol is locked for
  ``stop_duration`` minutes after the close;
- ``stoploss_guard`` (``StoplossGuard``): ``trade_limit`` stop exits (``stop_loss``,
  ``atr_stop``, a losing ``trailing_stop``) with a profit ratio below ``required_profit``
  closed within ``lookback_period`` minutes lock the symbol (``only_per_pair``) or every
  symbol of the instance, for ``stop_duration`` minutes after the last of them;
- ``low_profit`` (``LowProfitPairs``): ``trade_limit`` or more trades of the symbol within
  ``lookback_period`` minutes whose profit ratios sum below ``required_profit`` lock it.

**Rounding** (freqtrade's ``PairLocks.lock_pair``: ``timeframe_to_next_date``): a lock
ends on the first boundary of the instance's timeframe strictly after ``last close +
stop_duration`` (epoch-aligned bar opens; a time on a boundary moves to the next one). An
entry at ``now`` is refused while ``now < until``. Pure: locks in, locks out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trading_core.config_protocol import (
    CooldownConfig,
    LowProfitConfig,
    ProtectionsConfig,
    StoplossGuardConfig,
)
from trading_core.protocol.trades import ClosedTrade
from trading_core.timeframes import timeframe_seconds

EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Lock:
    instance: str
    symbol: str | None  # None: every symbol of the instance
    until: datetime
    rule: str  # cooldown | stoploss_guard | low_profit
    reason: str

    def covers(self, instance: str, symbol: str, now: datetime) -> bool:
        return (
            self.instance == instance
            and (self.symbol is None or self.symbol == symbol)
            and now < self.until
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "symbol": self.symbol,
            "until": self.until.isoformat(),
            "rule": self.rule,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Lock:
        symbol = raw.get("symbol")
        return cls(
            str(raw["instance"]),
            None if symbol is None else str(symbol),
            datetime.fromisoformat(raw["until"]),
            str(raw["rule"]),
            str(raw["reason"]),
        )


def next_boundary(moment: datetime, timeframe: str) -> datetime:
    """The first bar open of ``timeframe`` strictly after ``moment`` (freqtrade's
    ``timeframe_to_next_date``: ccxt's ``round_timeframe`` up, which moves a time already on
    a boundary one bar on)."""
    step = timeframe_seconds(timeframe)
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    step_us = step * 1_000_000
    return EPOCH + timedelta(microseconds=micros - micros % step_us + step_us)


def lookback_seconds(config: ProtectionsConfig) -> float:
    """How far back the rules look (the history to keep), in seconds."""
    spans = [60.0 * getattr(rule, "lookback_period", rule.stop_duration) for rule in config.rules]
    return max(spans, default=0.0)


def _window(trades: Sequence[ClosedTrade], now: datetime, minutes: float) -> list[ClosedTrade]:
    start = now - timedelta(minutes=minutes)
    return [t for t in trades if t.closed_at >= start]


def _cooldown(rule: CooldownConfig, trade: ClosedTrade, timeframe: str) -> Lock | None:
    if trade.exit_reason not in rule.reasons:
        return None
    if trade.exit_reason == "trailing_stop" and not trade.profit_ratio < 0:
        return None  # a trailing stop that kept a profit is no stop-loss
    end = trade.closed_at + timedelta(minutes=rule.stop_duration)
    return Lock(
        trade.instance,
        trade.symbol,
        next_boundary(end, timeframe),
        "cooldown",
        f"cooldown {rule.stop_duration:g} min after the {trade.exit_reason} of {trade.symbol}",
    )


def _stoploss_guard(
    rule: StoplossGuardConfig, trade: ClosedTrade, history: Sequence[ClosedTrade], tf: str
) -> Lock | None:
    trades = [
        t
        for t in _window(history, trade.closed_at, rule.lookback_period)
        if t.is_stop
        and t.profit_ratio < rule.required_profit
        and (not rule.only_per_pair or t.symbol == trade.symbol)
    ]
    if len(trades) < rule.trade_limit:
        return None
    last = max(t.closed_at for t in trades)
    scope = trade.symbol if rule.only_per_pair else None
    return Lock(
        trade.instance,
        scope,
        next_boundary(last + timedelta(minutes=rule.stop_duration), tf),
        "stoploss_guard",
        f"{len(trades)} stops within {rule.lookback_period:g} min "
        f"(limit {rule.trade_limit}) on {scope or 'every symbol'}",
    )


def _low_profit(
    rule: LowProfitConfig, trade: ClosedTrade, history: Sequence[ClosedTrade], tf: str
) -> Lock | None:
    trades = [
        t
        for t in _window(history, trade.closed_at, rule.lookback_period)
        if t.symbol == trade.symbol
    ]
    if len(trades) < rule.trade_limit:
        return None
    profit = sum(t.profit_ratio for t in trades)
    if not profit < rule.required_profit:
        return None
    last = max(t.closed_at for t in trades)
    return Lock(
        trade.instance,
        trade.symbol,
        next_boundary(last + timedelta(minutes=rule.stop_duration), tf),
        "low_profit",
        f"{len(trades)} trades of {trade.symbol} within {rule.lookback_period:g} min made "
        f"{profit:.4f} < {rule.required_profit:g}",
    )


def on_close(
    trade: ClosedTrade,
    history: Sequence[ClosedTrade],
    config: ProtectionsConfig,
    timeframe: str,
) -> list[Lock]:
    """The locks ``trade`` sets, in rule order; ``history`` holds the instance's closed
    trades, ``trade`` included."""
    locks: list[Lock] = []
    for rule in config.rules:
        if isinstance(rule, CooldownConfig):
            lock = _cooldown(rule, trade, timeframe)
        elif isinstance(rule, StoplossGuardConfig):
            lock = _stoploss_guard(rule, trade, history, timeframe)
        else:
            lock = _low_profit(rule, trade, history, timeframe)
        if lock is not None:
            locks.append(lock)
    return locks


def active(locks: Sequence[Lock], now: datetime) -> list[Lock]:
    """The locks still running at ``now`` (expired ones are dropped)."""
    return [lock for lock in locks if now < lock.until]


def blocking(locks: Sequence[Lock], instance: str, symbol: str, now: datetime) -> Lock | None:
    """The lock that refuses an entry of ``instance`` on ``symbol`` now: the latest ending."""
    hits = [lock for lock in locks if lock.covers(instance, symbol, now)]
    return max(hits, key=lambda lock: lock.until) if hits else None

"""The portfolio backtester: every instance over its candles, one shared cash balance, and
the risk protocol (``trading_core.protocol``) deciding every entry.

Conventions (the single-strategy backtester's, through the same functions):
- every lane's bar is processed when it closes (open time + timeframe); bars closing at the
  same instant go in the configuration's instance order, then symbol order;
- inside a bar: the open position's exits intrabar (``protocol.exits.intrabar``: stop,
  ATR stop, trailing stop, the take-profit or its tiers as partial exits; stop first on a
  tie, a gap fills at the open), from the bar after the entry; then at the close the time
  stop (``exits.at_close``), then the strategy's exit, else (flat) its entry, filled at the
  close (``fill: close``) with the taker fee and ``fees.slippage_bps`` against the trader;
  take-profits fill at their level with the maker fee;
- a position closes when nothing is left: the protocol records the trade
  (``gate.record_close``: tier record, losing streaks, locks, adaptive record; events
  ``streak_phase`` and ``lock``); entries are decided with the instant (locks), the
  strategy's composite score when it gives one (``scores``), the symbol's volatility
  percentile and the open positions' closes (the correlation limit);
- an entry commits ``notional`` from ``protocol.decide_entry`` (fee included);
  ``position_sizing.all_in_quantity`` makes value plus fee equal it; fills move the position
  through the accounting core (``accounting.apply_execution``, fees in quote);
- after each instant the account is marked (positions at their lane's last close) and the
  protocol observes it: drawdown stages, capital preservation (positions closed at their
  lane's last close, except winners; exit reason ``capital_preservation``), the automatic
  review once the cooldown is over, tier changes;
- every timestamp is the instant it happened: a fill at a bar's close, and an intrabar exit,
  carry the bar's close time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from trading_core.config import FeesConfig
from trading_core.config_portfolio import InstanceConfig, ProtocolConfig
from trading_core.portfolio_backtest.account import PortfolioAccount, moment_of
from trading_core.portfolio_backtest.lanes import Lane, build_lane, schedule
from trading_core.protocol import gate
from trading_core.timeframes import naive_utc


@dataclass
class PortfolioRun:
    """What a run produced, before it is reported (``report.build_report``)."""

    instances: list[InstanceConfig]
    starting_cash: float
    times: np.ndarray  # ns, one per instant
    equity: np.ndarray
    instance_equity: dict[str, np.ndarray]
    trades: list[dict[str, Any]]
    events: list[dict[str, Any]]
    final_state: gate.ProtocolState
    conventions: dict[str, Any] = field(default_factory=dict)


def run_portfolio(
    instances: list[InstanceConfig],
    bars: dict[tuple[str, str], pd.DataFrame],
    protocol: ProtocolConfig,
    fees: FeesConfig,
    starting_cash: float,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
) -> PortfolioRun:
    """Backtest ``instances`` (enabled ones) on ``bars`` keyed by (instance id, symbol)."""
    if not instances:
        raise ValueError("strategies: no enabled instance to backtest")
    first = None if start is None else pd.Timestamp(naive_utc(start))
    last = None if end is None else pd.Timestamp(naive_utc(end))
    if first is not None and last is not None and last < first:
        raise ValueError(f"--end {end} is before --start {start}")
    lanes: list[Lane] = []
    for inst in instances:
        for symbol in inst.symbols:
            if (inst.id, symbol) not in bars:
                raise ValueError(f"no bars for instance {inst.id!r} symbol {symbol}")
            lane = build_lane(len(lanes), inst, symbol, bars[(inst.id, symbol)], first, last)
            if lane is not None:
                lanes.append(lane)
    if not lanes:
        raise ValueError(f"no instance has bars between {start} and {end}")
    times, lane_of, bar_of = schedule(lanes)
    book = PortfolioAccount(
        instances,
        lanes,
        protocol,
        fees,
        starting_cash,
        protocol.preservation.auto_review_in_backtest,
    )
    boundaries = np.flatnonzero(np.diff(times)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [times.size]))
    instants = times[starts]
    equity = np.empty(instants.size)
    per_instance = {inst.id: np.empty(instants.size) for inst in instances}
    lane_list, bar_list = lane_of.tolist(), bar_of.tolist()
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        moment = moment_of(instants[k])
        book.maybe_review(moment)
        for j in range(a, b):
            book.bar(lanes[lane_list[j]], bar_list[j], moment)
        book.observe(moment)
        equity[k] = book.account_equity()
        for inst in instances:
            per_instance[inst.id][k] = book.instance_equity(inst)
    for lane in lanes:
        if lane.position is not None:
            pos = lane.position
            unrealized = pos.booked + lane.value() - pos.cost()
            book.trades.append(book.trade_row(lane, pos, None, None, None, unrealized))
    book.trades.sort(key=lambda t: (t["entry_ts"], t["instance"], t["symbol"]))
    return PortfolioRun(
        instances=instances,
        starting_cash=starting_cash,
        times=instants,
        equity=equity,
        instance_equity=per_instance,
        trades=book.trades,
        events=book.events,
        final_state=book.state,
        conventions={
            "fill": "close",
            "taker_fee": fees.taker,
            "maker_fee": fees.maker,
            "slippage_bps": fees.slippage_bps,
            "stops": "intrabar from the bar after the entry, stop-loss first on a tie",
            "warmup": "all: every bar before --start feeds the indicators",
            "timestamps": "the instant of the fill or event (a bar's close time), UTC",
            "sides": "long only, one position per instance and symbol",
            "protocol": "on",
        },
    )

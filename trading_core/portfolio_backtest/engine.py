"""The portfolio backtester: every instance over its candles, one shared cash balance, and
the risk protocol (``trading_core.protocol``) deciding every entry.

Conventions (the single-strategy backtester's, through the same functions):
- every lane's bar is processed when it closes (open time + timeframe); bars closing at the
  same instant go in the configuration's instance order, then symbol order;
- inside a bar: the open position's stop-loss / take-profit / trailing stop intrabar
  (``fills.intrabar_exit``, stop first on a tie, a gap fills at the open), from the bar after
  the entry; then at the close the strategy's exit, else (flat) its entry, filled at the
  close (``fill: close``) with the taker fee and ``fees.slippage_bps`` against the trader;
  take-profits fill at their level with the maker fee;
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
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from trading_core import fills, position_sizing
from trading_core.accounting import Book, Execution, apply_execution
from trading_core.config import FeesConfig
from trading_core.config_portfolio import InstanceConfig, ProtocolConfig
from trading_core.portfolio_backtest.lanes import Lane, OpenPosition, build_lane, schedule
from trading_core.protocol import gate
from trading_core.protocol.allocation import base_asset
from trading_core.protocol.drawdown import auto_review_due, positions_to_close

EPOCH = datetime(1970, 1, 1)


def _moment(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


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


class _Portfolio:
    def __init__(
        self,
        instances: list[InstanceConfig],
        lanes: list[Lane],
        protocol: ProtocolConfig,
        fees: FeesConfig,
        starting_cash: float,
        auto_review: bool,
    ) -> None:
        self.instances = instances
        self.lanes = lanes
        self.protocol = protocol
        self.taker, self.maker, self.slippage = fees.taker, fees.maker, fees.slippage_bps
        self.cash = starting_cash
        self.starting_cash = starting_cash
        self.auto_review = auto_review
        self.realized = {inst.id: 0.0 for inst in instances}
        self.trades: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.state = gate.start_state(protocol, starting_cash, EPOCH)

    # -- marking -------------------------------------------------------------------------
    def account_equity(self) -> float:
        return self.cash + sum(lane.value() for lane in self.lanes)

    def instance_equity(self, inst: InstanceConfig) -> float:
        unrealized = sum(
            lane.value() - lane.position.spend
            for lane in self.lanes
            if lane.position is not None and lane.instance.id == inst.id
        )
        return inst.allocation * self.starting_cash + self.realized[inst.id] + unrealized

    def event(self, moment: datetime, kind: str, instance: str | None, detail: dict) -> None:
        self.events.append(
            {"ts": _iso(moment), "kind": kind, "instance": instance, "detail": detail}
        )

    # -- fills ---------------------------------------------------------------------------
    def buy(self, lane: Lane, i: int, moment: datetime) -> None:
        inst = lane.instance
        equity = self.account_equity()
        exposure: dict[str, float] = {}
        for other in self.lanes:
            if other.position is not None:
                asset = base_asset(other.symbol)
                exposure[asset] = exposure.get(asset, 0.0) + other.value()
        mine = [x for x in self.lanes if x.instance.id == inst.id and x.position is not None]
        price = fills.slipped_price("buy", lane.c[i], self.slippage)
        atr_value = lane.atr[i] if lane.atr is not None else None
        strategy_stop = lane.stop_col[i]
        decision = gate.decide_entry(
            self.protocol,
            self.state,
            gate.AccountView(equity, self.cash, sum(1 for x in self.lanes if x.position), exposure),
            gate.InstanceView(
                inst.id,
                self.instance_equity(inst),
                sum(x.value() for x in mine),
                len(mine),
                lane.risk,
            ),
            gate.EntryRequest(
                lane.symbol,
                price,
                strategy_stop=None if np.isnan(strategy_stop) else strategy_stop,
                atr=atr_value,
                size_fraction=lane.fraction[i],
            ),
        )
        reasons = decision.reasons.to_dict()
        if not decision.allowed or decision.stop is None:
            self.event(
                moment,
                "entry_refused",
                inst.id,
                {"symbol": lane.symbol, "signal": lane.reason[i], **reasons},
            )
            return
        spend = decision.notional
        quantity = position_sizing.all_in_quantity(spend, price, self.taker)
        fee = fills.fee_amount(quantity * price, self.taker)
        base, quote = lane.symbol.split("/")
        applied = apply_execution(Book(), Execution("buy", quantity, price, fee), base, quote)
        self.cash += applied.quote_delta
        take = lane.take_col[i]
        _, take_price = position_sizing.exit_levels(
            price,
            stop_loss=decision.stop.price,
            take_profit=None if np.isnan(take) else take,
            default_take_fraction=lane.risk.take_profit_pct,
        )
        lane.position = OpenPosition(
            entry_ts=moment,
            entry_price=price,
            quantity=quantity,
            spend=spend,
            entry_fee=fee,
            stop=decision.stop.price,
            take=take_price,
            highest=price,
            checks_from=i + 1,
            book=applied.book,
            equity_at_entry=equity,
            tier=decision.reasons.tier,
            size_multiplier=decision.reasons.size_multiplier,
            reasons=reasons,
        )

    def sell(
        self, lane: Lane, price: float, fee_rate: float, reason: str, moment: datetime
    ) -> None:
        pos = lane.position
        assert pos is not None
        fee = fills.fee_amount(pos.quantity * price, fee_rate)
        base, quote = lane.symbol.split("/")
        applied = apply_execution(
            pos.book, Execution("sell", pos.quantity, price, fee), base, quote
        )
        self.cash += applied.quote_delta
        pnl = applied.book.realized_net
        pos.exits.append(
            {
                "ts": _iso(moment),
                "price": price,
                "quantity": pos.quantity,
                "fee": fee,
                "reason": reason,
                "pnl": applied.realized_net,
            }
        )
        self.realized[lane.instance.id] += pnl
        self.trades.append(self.trade_row(lane, pos, moment, price, reason, pnl))
        lane.position = None
        self.state = gate.record_trade(self.protocol, self.state, pnl)

    def trade_row(
        self,
        lane: Lane,
        pos: OpenPosition,
        exit_moment: datetime | None,
        exit_price: float | None,
        reason: str | None,
        pnl: float,
    ) -> dict[str, Any]:
        return {
            "instance": lane.instance.id,
            "symbol": lane.symbol,
            "entry_ts": _iso(pos.entry_ts),
            "exit_ts": _iso(exit_moment) if exit_moment is not None else None,
            "entry_price": pos.entry_price,
            "exit_price": exit_price,
            "quantity": pos.quantity,
            "entry_value": pos.quantity * pos.entry_price,
            "entry_fee": pos.entry_fee,
            "equity_at_entry": pos.equity_at_entry,
            "tier": pos.tier,
            "size_multiplier": pos.size_multiplier,
            "stop_price": pos.stop,
            "take_profit_price": pos.take,
            "exit_reason": reason,
            "pnl": pnl,
            "exits": list(pos.exits),
            "reasons": pos.reasons,
        }

    # -- one bar -------------------------------------------------------------------------
    def bar(self, lane: Lane, i: int, moment: datetime) -> None:
        pos = lane.position
        if pos is not None and i >= pos.checks_from:
            stop, label = pos.stop, "stop_loss"
            trailing = lane.risk.trailing_stop_pct
            if trailing is not None:
                trail = fills.trailing_stop_level("buy", pos.highest, trailing)
                if stop is None or trail > stop:
                    stop, label = trail, "trailing_stop"
            hit = fills.intrabar_exit("buy", lane.o[i], lane.h[i], lane.low[i], stop, pos.take)
            if hit is None:
                pos.highest = max(pos.highest, lane.h[i])
            elif hit[0] == "stop_loss":
                self.sell(
                    lane,
                    fills.slipped_price("sell", hit[1], self.slippage),
                    self.taker,
                    label,
                    moment,
                )
            else:
                self.sell(lane, hit[1], self.maker, "take_profit", moment)
        lane.last_close = lane.c[i]
        if lane.position is not None and lane.exit[i]:
            price = fills.slipped_price("sell", lane.c[i], self.slippage)
            self.sell(lane, price, self.taker, "signal", moment)
        elif lane.position is None and lane.entry[i]:
            self.buy(lane, i, moment)

    # -- the protocol after each instant -------------------------------------------------
    def observe(self, moment: datetime) -> None:
        equity = self.account_equity()
        self.state, raised = gate.observe(self.protocol, self.state, equity, moment)
        for ev in raised:
            self.events.append(ev.to_dict())
            if ev.kind == "capital_preservation_start":
                self.preserve(moment)

    def preserve(self, moment: datetime) -> None:
        returns = {
            lane.key: lane.value() / lane.position.spend - 1.0
            for lane in self.lanes
            if lane.position is not None
        }
        keep = self.protocol.preservation.keep_winners_above
        closing = set(positions_to_close(returns, keep))
        for lane in self.lanes:
            if lane.key in closing:
                price = fills.slipped_price("sell", lane.last_close, self.slippage)
                self.sell(lane, price, self.taker, "capital_preservation", moment)
        kept = sorted(set(returns) - closing)
        self.event(moment, "positions_closed", None, {"closed": sorted(closing), "kept": kept})

    def maybe_review(self, moment: datetime) -> None:
        if self.auto_review and auto_review_due(self.state.drawdown, moment):
            self.state, ev = gate.review(
                self.protocol, self.state, self.account_equity(), moment, by="auto"
            )
            self.events.append(ev.to_dict())


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
    first = None if start is None else pd.Timestamp(start)
    last = None if end is None else pd.Timestamp(end)
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
    book = _Portfolio(
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
        moment = _moment(instants[k])
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
            book.trades.append(
                book.trade_row(lane, pos, None, None, None, lane.value() - pos.spend)
            )
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

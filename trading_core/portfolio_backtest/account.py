"""The account of a portfolio backtest: shared cash, the lanes' positions, every fill, and
the protocol's state. ``engine.run_portfolio`` drives it bar by bar; the conventions are in
the engine's docstring.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from trading_core import fills, position_sizing
from trading_core.accounting import Book, Execution, apply_execution
from trading_core.config import FeesConfig
from trading_core.config_portfolio import InstanceConfig, ProtocolConfig
from trading_core.portfolio_backtest.lanes import Lane, OpenPosition
from trading_core.protocol import gate
from trading_core.protocol.allocation import base_asset
from trading_core.protocol.drawdown import auto_review_due, positions_to_close

EPOCH = datetime(1970, 1, 1)


def moment_of(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(ns) // 1000)


def iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


class PortfolioAccount:
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
        self.lanes_of = {
            inst.id: [x for x in lanes if x.instance.id == inst.id] for inst in instances
        }
        self.trades: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.state = gate.start_state(protocol, starting_cash, EPOCH)

    # -- marking -------------------------------------------------------------------------
    def account_equity(self) -> float:
        equity = self.cash
        for lane in self.lanes:
            if lane.position is not None:
                equity += lane.position.quantity * lane.last_close
        return equity

    def instance_equity(self, inst: InstanceConfig) -> float:
        unrealized = 0.0
        for lane in self.lanes_of[inst.id]:
            if lane.position is not None:
                unrealized += lane.position.quantity * lane.last_close - lane.position.spend
        return inst.allocation * self.starting_cash + self.realized[inst.id] + unrealized

    def event(self, moment: datetime, kind: str, instance: str | None, detail: dict) -> None:
        self.events.append(
            {"ts": iso(moment), "kind": kind, "instance": instance, "detail": detail}
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
        mine = [x for x in self.lanes_of[inst.id] if x.position is not None]
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
                "ts": iso(moment),
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
            "entry_ts": iso(pos.entry_ts),
            "exit_ts": iso(exit_moment) if exit_moment is not None else None,
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

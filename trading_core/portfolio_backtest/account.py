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
from trading_core.portfolio_backtest.history import CloseHistory
from trading_core.portfolio_backtest.lanes import Lane, OpenPosition
from trading_core.protocol import adaptive, exits, gate
from trading_core.protocol.allocation import base_asset
from trading_core.protocol.drawdown import auto_review_due, positions_to_close
from trading_core.protocol.trades import ClosedTrade

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
        self.history = CloseHistory(lanes, protocol.correlation)

    # -- marking -------------------------------------------------------------------------
    def account_equity(self) -> float:
        equity = self.cash
        for lane in self.lanes:
            if lane.position is not None:
                equity += lane.position.remaining * lane.last_close
        return equity

    def instance_equity(self, inst: InstanceConfig) -> float:
        unrealized = 0.0
        for lane in self.lanes_of[inst.id]:
            if lane.position is not None:
                unrealized += lane.value() - lane.position.cost()
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
        held = {x.key: x.symbol for x in self.lanes if x.position is not None}
        score = lane.score[i] if lane.score is not None else None
        n = adaptive.bars_needed(self.protocol.adaptive)
        lo = max(0, i + 1 - n)
        volatility = adaptive.volatility_percentile(
            lane.h[lo : i + 1], lane.low[lo : i + 1], lane.c[lo : i + 1], self.protocol.adaptive
        )
        decision = gate.decide_entry(
            self.protocol,
            self.state,
            gate.AccountView(
                equity,
                self.cash,
                len(held),
                exposure,
                held,
                self.history.closes_at(moment, held.values(), lane.symbol) if held else {},
            ),
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
                now=moment,
                score=None if score is None or np.isnan(score) else score,
                volatility=volatility,
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
        plan = exits.make_plan(
            price,
            quantity,
            moment,
            stop=decision.stop.price,
            stop_source=decision.stop.source,
            take=take_price,
            trailing_pct=lane.risk.trailing_stop_pct,
            config=self.protocol.exits,
        )
        lane.position = OpenPosition(
            entry_ts=moment,
            entry_price=price,
            quantity=quantity,
            spend=spend,
            entry_fee=fee,
            stop=decision.stop.price,
            take=plan.take,  # None with tiered take-profits (each tier is in the exits)
            highest=price,
            checks_from=i + 1,
            book=applied.book,
            equity_at_entry=equity,
            tier=decision.reasons.tier,
            size_multiplier=decision.reasons.size_multiplier,
            reasons=reasons,
            plan=plan,
            remaining=quantity,
        )

    def sell(
        self,
        lane: Lane,
        price: float,
        fee_rate: float,
        reason: str,
        moment: datetime,
        quantity: float | None = None,
    ) -> None:
        """Sell ``quantity`` (all that is held by default); the position closes, and the
        protocol records the trade, when nothing is left."""
        pos = lane.position
        assert pos is not None
        amount = pos.remaining if quantity is None else min(quantity, pos.remaining)
        if pos.remaining - amount <= exits.EPS:
            amount = pos.remaining
        fee = fills.fee_amount(amount * price, fee_rate)
        base, quote = lane.symbol.split("/")
        applied = apply_execution(pos.book, Execution("sell", amount, price, fee), base, quote)
        pos.book = applied.book
        pos.remaining -= amount
        self.cash += applied.quote_delta
        self.realized[lane.instance.id] += applied.book.realized_net - pos.booked
        pos.booked = applied.book.realized_net
        pos.exits.append(
            {
                "ts": iso(moment),
                "price": price,
                "quantity": amount,
                "fee": fee,
                "reason": reason,
                "pnl": applied.realized_net,
            }
        )
        if pos.remaining > exits.EPS:
            return
        pnl = applied.book.realized_net
        self.trades.append(self.trade_row(lane, pos, moment, price, reason, pnl))
        lane.position = None
        trade = ClosedTrade(
            lane.instance.id,
            lane.symbol,
            moment,
            pnl,
            pnl / pos.spend if pos.spend > 0 else 0.0,
            reason,
        )
        self.state, raised = gate.record_close(
            self.protocol, self.state, trade, lane.instance.timeframe
        )
        self.events.extend(ev.to_dict() for ev in raised)

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
            orders = exits.intrabar(
                pos.plan,
                pos.remaining,
                pos.highest,
                (lane.o[i], lane.h[i], lane.low[i]),
                min_quantity=self.protocol.exits.min_exit_quantity,
                min_notional=self.protocol.exits.min_exit_notional,
            )
            for order in orders:
                if order.kind == "stop":
                    price = fills.slipped_price("sell", order.price, self.slippage)
                    self.sell(lane, price, self.taker, order.reason, moment, order.quantity)
                else:
                    self.sell(lane, order.price, self.maker, order.reason, moment, order.quantity)
            if lane.position is not None:
                pos.highest = max(pos.highest, lane.h[i])
                timed = exits.at_close(pos.plan, pos.remaining, moment, lane.c[i])
                if timed is not None:
                    price = fills.slipped_price("sell", lane.c[i], self.slippage)
                    self.sell(lane, price, self.taker, timed.reason, moment)
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
            lane.key: lane.value() / lane.position.cost() - 1.0
            for lane in self.lanes
            if lane.position is not None and lane.position.cost() > 0
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

"""Positions inside the executor's tick (``Engine``, steps 6-7): protective exits watched on
the candles since the last tick and positions marked, exit orders placed, the drawdown kill
switch, and the risk protocol's observation of the account (capital preservation).

A mixin of ``executor.engine.Engine``: its methods read the engine's state (``self``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from executor.engine_orders import EngineOrders
from executor.engine_state import TickReport
from executor.exits import EXIT_ROLES, minimums, plan_for, watched
from executor.intents import OrderIntent
from executor.orders import LIVE_STATES, client_order_id
from executor.protocol_gate import sub_key
from executor.records import QTY_EPSILON, NewOrder, OrderRecord, Position
from executor.risk import drawdown, drawdown_breached
from executor.sizing import (
    OrderNotPlaceable,
    exit_quantity,
)
from executor.trading_state import TradingState
from trading_core.config_portfolio import DEFAULT_INSTANCE
from trading_core.fills import intrabar_exit, trailing_stop_level
from trading_core.protocol.exits import ExitOrder, ExitPlan, at_close, intrabar
from trading_core.timeframes import timeframe_delta

log = logging.getLogger("executor.engine")


class EnginePositions(EngineOrders):
    """The engine's positions (a room of ``executor.engine.Engine``)."""

    # ------------------------------------------------------------ protective exits, marks

    def _positions(self) -> list[Position]:
        return [p for p in self.ledger.open_positions() if p.exchange == self.broker.exchange]

    def _watch_positions(self, report: TickReport) -> None:
        state = self.ledger.trading_state()
        now = self.market_now()
        step = timeframe_delta(self.options.protective_timeframe)
        exiting = {
            (o.symbol, o.instance_id)
            for o in self.ledger.orders(LIVE_STATES)
            if o.role in EXIT_ROLES
        }
        self.backstop.cancel_stale()
        for position in self._positions():
            # The protocol's exits (executor.exits): partial take-profits, ATR and time
            # stops, through the function the portfolio backtester calls.
            plan = (
                plan_for(self.ledger, position, self.config.protocol.exits)
                if self.protocol is not None
                else None
            )
            protected = (
                watched(plan)
                if plan is not None
                else position.stop_loss or position.take_profit or position.trailing_stop_pct
            )
            # Never before this position opened: the mark of an earlier one would replay
            # the candles in between against this position's levels.
            watched_key = f"{position.symbol}|{position.instance_id}"
            checked, opened = self._checked_until.get(watched_key), position.opened_at
            start = max(checked, opened) if checked and opened else checked or opened or now
            try:
                candles = self.market.fetch_ohlcv(
                    self.broker.exchange,
                    position.symbol,
                    self.options.protective_timeframe,
                    start,
                    now,
                    now=now,
                )
            except Exception as exc:  # market data trouble must not stop order handling
                report.errors.append(f"candles for {position.symbol}: {exc}")
                continue
            if candles.empty:
                continue
            high_water = position.high_water or position.avg_entry_price
            busy = (position.symbol, position.instance_id) in exiting
            if plan is not None:
                # Without a watermark (a restart) the candles since the entry are replayed
                # from the entry price up, so no candle meets a level raised by a later one.
                high = position.avg_entry_price if checked is None else high_water
                last_ts = self._watch_plan(position, plan, candles, high, busy, state, report)
                self._checked_until[watched_key] = last_ts + step
                continue
            trigger: tuple[str, datetime, float] | None = None
            for bar in candles.itertuples(index=False):
                if protected and trigger is None and not busy:
                    trigger = self._trigger(position, bar, high_water)
                    if trigger:
                        break
                high_water = max(high_water, float(bar.high))
            last = candles.iloc[-1]
            self._checked_until[watched_key] = last.ts.to_pydatetime() + step
            self.ledger.mark_price(
                position.exchange, position.symbol, float(last.close), high_water,
                position.instance_id,
            )  # fmt: skip
            if trigger is None:
                self.backstop.keep_in_step(position.exchange, position.symbol)  # trailing
                continue
            role, candle_ts, level = trigger
            if state == TradingState.HALTED:
                self.ledger.audit(
                    "executor",
                    "protective_exit_suppressed",
                    position.symbol,
                    {"role": role, "level": level, "reason": "trading is HALTED"},
                )
                continue
            cid = self._protective_order_id(position, role)
            if cid is None:
                report.errors.append(f"{position.symbol}: {role} exits keep failing")
                continue
            # The candle that triggered it: a paper broker fills at the conventions' price for
            # that candle; an exchange trades now, whatever `at` says.
            self._place_exit(
                position,
                role,
                cid,
                reason=f"{role} at {level:g} triggered",
                at=candle_ts,
                stop_price=level,
            )
            report.protective_exits += 1

    def _watch_plan(
        self,
        position: Position,
        plan: ExitPlan,
        candles: Any,
        high_water: float,
        busy: bool,
        state: TradingState,
        report: TickReport,
    ) -> datetime:
        """Play the candles against the position's exit plan (``trading_core.protocol.exits``)
        and place the exits they trigger: each intrabar exit at the candle that triggered it
        (``at``: its open time, ``stop_price``: its level), a time stop at market. Stops at the
        first candle that placed one (the next tick goes on from the candle after); returns
        the open time of the last candle played. ``high_water``: the highest high before the
        first candle. A tier already sold asks for nothing more and is skipped, so a replay
        of candles already seen places nothing twice."""
        step = timeframe_delta(self.options.protective_timeframe)
        rules = self.broker.market_rules(position.symbol)
        least = minimums(rules, self.config.protocol.exits)
        remaining = position.quantity
        last_ts: datetime = candles.iloc[-1].ts.to_pydatetime()
        close = float(candles.iloc[-1].close)
        for bar in candles.itertuples(index=False):
            candle_ts: datetime = bar.ts.to_pydatetime()
            orders = []
            if not busy:
                orders = intrabar(
                    plan,
                    remaining,
                    high_water,
                    (float(bar.open), float(bar.high), float(bar.low)),
                    min_quantity=least.quantity,
                    min_notional=least.notional,
                )
            placed: list[tuple[ExitOrder, datetime | None]] = [(o, candle_ts) for o in orders]
            remaining -= sum(o.quantity for o in orders)
            if remaining > QTY_EPSILON:
                high_water = max(high_water, float(bar.high))
                closed_at = candle_ts + step
                timed = None if busy else at_close(plan, remaining, closed_at, float(bar.close))
                if timed is not None:
                    placed.append((timed, None))
            if not placed:
                continue
            self.ledger.mark_price(
                position.exchange, position.symbol, float(bar.close), high_water,
                position.instance_id,
            )  # fmt: skip
            for order, at in placed:
                if state == TradingState.HALTED:
                    self.ledger.audit(
                        "executor",
                        "protective_exit_suppressed",
                        position.symbol,
                        {"role": order.reason, "level": order.level, "reason": "trading is HALTED"},
                    )
                    continue
                cid = self._protective_order_id(position, order.reason)
                if cid is None:
                    report.errors.append(f"{position.symbol}: {order.reason} exits keep failing")
                    break
                current = self.ledger.position(
                    position.exchange, position.symbol, position.instance_id
                )
                if current is None or current.quantity <= QTY_EPSILON:
                    break
                self._place_exit(
                    current,
                    order.reason,
                    cid,
                    reason=f"{order.reason} at {order.level:g} triggered",
                    at=at if at is not None else self._market_at(None),
                    stop_price=order.level if at is not None else None,
                    quantity=order.quantity,
                )
                report.protective_exits += 1
            return candle_ts
        self.ledger.mark_price(
            position.exchange, position.symbol, close, high_water, position.instance_id
        )
        self.backstop.keep_in_step(position.exchange, position.symbol)  # trailing
        return last_ts

    def _protective_order_id(self, position: Position, role: str) -> str | None:
        """A fresh client order id for this position's exit: the next attempt after ones the
        exchange refused (None once ``max_reprices`` attempts have failed)."""
        key = f"{position.symbol}{position.opened_at}"
        if position.instance_id != DEFAULT_INSTANCE:
            key += f"|{position.instance_id}"
        source = position.entry_intent_id or hashlib.sha1(key.encode()).hexdigest()[:24]
        for attempt in range(self.options.max_reprices + 1):
            cid = client_order_id(source, role, attempt)
            if self.ledger.order(cid) is None:
                return cid
        return None

    def _trigger(
        self, position: Position, bar: Any, high_water: float
    ) -> tuple[str, datetime, float] | None:
        """Which protective exit this candle triggers (stop-loss first on a tie), the candle's
        open time and the level."""
        stop = position.stop_loss
        role = "stop_loss"
        if position.trailing_stop_pct:
            # The level trails the highest price up to the previous candle (no lookahead).
            trail = trailing_stop_level("buy", high_water, position.trailing_stop_pct)
            if stop is None or trail > stop:
                stop, role = trail, "trailing_stop"
        hit = intrabar_exit(
            "buy", float(bar.open), float(bar.high), float(bar.low), stop, position.take_profit
        )
        if hit is None:
            return None
        if hit[0] == "take_profit":
            return "take_profit", bar.ts.to_pydatetime(), float(position.take_profit or 0.0)
        return role, bar.ts.to_pydatetime(), float(stop or 0.0)

    def _place_exit(
        self,
        position: Position,
        role: str,
        cid: str,
        *,
        reason: str,
        at: datetime | None = None,
        intent: OrderIntent | None = None,
        stop_price: float | None = None,
        quantity: float | None = None,
    ) -> OrderRecord | None:
        """Sell a long position (all of it, ``quantity`` of it - a partial exit - or the
        intent's quantity) at market.

        ``stop_price`` is the protective level that triggered the exit, if any.
        """
        # The backstop goes first: it locks the base quantity the exit sells.
        after = self.backstop.before_exit(position)
        if after is None:
            return None
        position = after
        rules = self.broker.market_rules(position.symbol)
        try:
            quantity = exit_quantity(
                position.quantity,
                intent.quantity if intent else quantity,
                position.mark_price,
                rules,
            )
        except OrderNotPlaceable as exc:
            self.ledger.audit(
                "executor",
                "exit_not_placeable",
                position.symbol,
                {"role": role, "reason": str(exc)},
            )
            return None
        order = self.ledger.create_order(
            NewOrder(
                client_order_id=cid,
                exchange=position.exchange,
                symbol=position.symbol,
                side="sell",
                order_type="market",
                role=role,
                quantity=quantity,
                stop_price=stop_price,
                intent_id=intent.intent_id if intent else position.entry_intent_id,
                strategy=position.strategy,
                reason=reason,
                instance_id=position.instance_id,
            ),
            accept_intent=intent is not None,
            reason=reason,
        )
        return self._submit(order, at)

    # ----------------------------------------------------------------------- drawdown

    def _equity(self) -> float:
        return self.ledger.account(self.config.executor.quote_currency).equity

    def _check_drawdown(self, report: TickReport) -> None:
        if self.protocol is not None:
            return  # the protocol's drawdown stages replace the flat kill switch
        equity = self._equity()
        peak = self.ledger.update_peak_equity(equity)
        limit = self.config.risk.max_drawdown_pct
        self.alerts.drawdown(drawdown(equity, peak), peak, equity, report.started_at)
        if (
            drawdown_breached(equity, peak, limit)
            and self.ledger.trading_state() != TradingState.HALTED
        ):
            reason = (
                f"drawdown {drawdown(equity, peak):.2%} from peak equity {peak:.2f} "
                f"(now {equity:.2f}) reached max_drawdown_pct {limit:.2%}"
            )
            self.ledger.set_trading_state(TradingState.HALTED, reason, "risk")
            log.error("trading halted", extra={"reason": reason})
            self.alerts.halted(reason, report.started_at)

    def _observe_protocol(self, report: TickReport) -> None:
        """The protocol observes the account; capital preservation closes positions."""
        if self.protocol is None:
            return
        now = self.market_now()
        try:  # the closes and bars the correlation and volatility rules read
            self.protocol.refresh_market(self.market, self.broker.exchange, now)
        except Exception as exc:  # market data trouble: the rules decide without it
            report.errors.append(f"protocol market data: {exc}")
        closing = set(self.protocol.observe(self._equity(), now))
        if not closing:
            return
        stamp = hashlib.sha1(now.isoformat().encode()).hexdigest()[:10]
        for position in self._positions():
            if sub_key(position) not in closing or position.quantity <= 0:
                continue
            source = "cp" + stamp + hashlib.sha1(sub_key(position).encode()).hexdigest()[:10]
            cid = client_order_id(source, "preservation")
            if self.ledger.order(cid) is None:
                self._place_exit(
                    position, "preservation", cid, reason="capital preservation",
                    at=self._market_at(None),
                )  # fmt: skip
                report.protective_exits += 1

    def protocol_review(self, by: str) -> str:
        """The operator's review after capital preservation (``trading control review``)."""
        if self.protocol is None:
            raise ValueError("the risk protocol is off (no strategies: list in the config)")
        row = self.protocol.review(self._equity(), self.market_now(), by)
        return f"reviewed: {row['kind']} {json.dumps(row['detail'], sort_keys=True)}"

"""New intents inside the executor's tick (``Engine``, step 8): admission, the risk gate, the
protocol's sizing, exchange rules, the order row and its submit; closes of held positions.

A mixin of ``executor.engine.Engine``: its methods read the engine's state (``self``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime

from executor import override_ledger
from executor.admission import admit
from executor.brokers.base import (
    BrokerUnavailable,
)
from executor.engine_positions import EnginePositions
from executor.engine_state import TickReport
from executor.exits import EXIT_ROLES
from executor.intents import OrderIntent
from executor.lease import LeaseLost
from executor.ledger import IntentRecord
from executor.orders import LIVE_STATES, OrderState, client_order_id
from executor.records import QTY_EPSILON, NewOrder, OrderRecord
from executor.risk import RiskContext, check_intent
from executor.sizing import (
    OrderNotPlaceable,
    entry_quantity,
    floor_quantity,
    round_limit_price,
)
from executor.trading_state import TradingState
from trading_core.config_portfolio import DEFAULT_INSTANCE
from trading_core.position_sizing import all_in_quantity, exit_levels
from trading_core.protocol.gate import EntryDecision

log = logging.getLogger("executor.engine")


class EngineIntentFlow(EnginePositions):
    """The engine's intent flow (a room of ``executor.engine.Engine``)."""

    # ------------------------------------------------------------------------- intents

    def _process_intents(self, report: TickReport) -> None:
        for record in self.ledger.new_intents(self.options.intents_per_tick):
            report.intents_seen += 1
            if self.replay and (
                self._market_now is None or record.intent.decided_at > self._market_now
            ):
                self._market_now = record.intent.decided_at
            if record.intent.action == "open" and not self.throttle.ready(self._clock()):
                report.intents_delayed += 1  # stays NEW: the next tick takes it
                continue
            try:
                order = self._handle_intent(record)
            except (LeaseLost, BrokerUnavailable):
                raise  # stop here; a later tick (or the new owner) takes the intent
            except Exception as exc:
                log.exception("intent handling failed", extra={"intent": record.intent.intent_id})
                self._fail_intent(record.intent, exc)
                report.errors.append(f"intent {record.intent.intent_id}: {exc!r}")
                order = None
            if order is None:
                report.intents_rejected += 1
            else:
                report.orders_submitted += 1

    def _fail_intent(self, intent: OrderIntent, exc: Exception) -> None:
        """A terminal FAILED status, so one intent can never poison every tick."""
        current = self.ledger.intent(intent.intent_id)
        if current is not None and current.status == "NEW":
            self.ledger.set_intent_status(
                intent.intent_id, "FAILED", f"executor error while handling it: {exc!r}"
            )

    def _entry_fee(self, intent: OrderIntent) -> float:
        """The fee rate an all-in notional holds (``notional_includes_fee``): the maker fee for
        a limit entry, the taker fee for a market one, as the backtester sizes them; 0 for a
        notional that is the order's value."""
        if not intent.notional_includes_fee:
            return 0.0
        fees = self.config.fees
        return fees.maker if intent.order_type == "limit" else fees.taker

    def _note_minimum(self, symbol: str) -> None:
        """Keep the market's minimum order in the ledger (once per symbol and process), so
        that a holding below it counts as dust, not as an open position
        (``executor.ledger.dust``): it would block a re-entry."""
        noted: set[str] = self.__dict__.setdefault("_minimums_noted", set())
        if symbol in noted:
            return
        try:
            rules = self.broker.market_rules(symbol)
        except BrokerUnavailable:
            raise
        except Exception as exc:  # no rules for it: no dust rule either
            log.warning("no market rules", extra={"symbol": symbol, "error": str(exc)})
            return
        self.ledger.set_market_minimum(
            self.broker.exchange,
            symbol,
            min_quantity=rules.min_quantity,
            amount_step=rules.amount_step,
        )
        noted.add(symbol)

    def _risk_context(self, intent: OrderIntent, price: float) -> RiskContext:
        self._note_minimum(intent.symbol)
        day_start = self.market_now().replace(hour=0, minute=0, second=0, microsecond=0)
        inputs = self.ledger.risk_inputs(
            self.broker.exchange,
            self.config.executor.quote_currency,
            day_start,
            self.config.risk.max_trades_per_day,
        )
        position = inputs.positions.get(intent.symbol)
        fees = self.config.fees
        return RiskContext(
            trading_state=inputs.trading_state,
            equity=inputs.equity,
            cash=inputs.uncommitted_cash(max(fees.maker, fees.taker)),
            price=price,
            position_quantity=position.quantity if position else 0.0,
            busy_symbols=frozenset(inputs.positions) | inputs.live_entry_symbols,
            trades_today=inputs.trades_today,
            # An all-in notional already holds its fee: the gate reserves none on top.
            taker_fee=0.0 if intent.notional_includes_fee else fees.taker,
            # A market buy walks the book up to max_slippage_bps above the price it was
            # sized at: the gate keeps that much cash in hand.
            slippage_reserve=fees.max_slippage_bps / 10_000
            if intent.order_type == "market"
            else 0.0,
        )

    def _handle_intent(self, record: IntentRecord) -> OrderRecord | None:
        intent = record.intent
        if self.lease is not None:
            self.lease.check()  # decide nothing on a ledger another executor owns
        at = self._market_at(intent)
        if intent.exchange != self.broker.exchange:
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                f"intent for exchange {intent.exchange!r}; this executor trades "
                f"{self.broker.exchange!r}",
            )
            return None
        refusal = override_ledger.refuse_entry(self.ledger, intent)  # blacklist, paused
        if refusal is not None:
            self.ledger.set_intent_status(intent.intent_id, "REJECTED_BY_RISK", refusal)
            return None
        held = self.ledger.position(self.broker.exchange, intent.symbol)
        holding = held is not None and held.quantity > 0
        market_price: float | None = None
        if intent.symbol in self.markets or holding:
            try:
                market_price = self.broker.reference_price(intent.symbol, intent.side, at)
            except BrokerUnavailable:
                raise
            except Exception as exc:  # no market data: decide with the intent's price
                log.warning(
                    "no reference price", extra={"symbol": intent.symbol, "error": str(exc)}
                )
        admission = admit(
            intent,
            now=self.market_now(),
            price=market_price,
            exchange=self.broker.exchange,
            markets=self.markets,
            holding=holding,
            limits=self.limits,
        )
        if not admission.admitted:
            self.ledger.set_intent_status(intent.intent_id, admission.status, admission.reason)
            log.info(
                "intent refused",
                extra={
                    "intent": intent.intent_id,
                    "status": admission.status,
                    "reason": admission.reason,
                },
            )
            return None
        if admission.late:
            self.ledger.audit(
                "executor", "late_exit", intent.intent_id, {"reason": admission.reason}
            )
        price = market_price if market_price is not None else (intent.reference_price or 0.0)
        context = self._risk_context(intent, price)
        limits = self.config.risk
        verdict = None
        if (
            self.protocol is not None
            and intent.action == "open"
            and context.trading_state == TradingState.ACTIVE
            and price > 0
        ):
            verdict = self.protocol.decide(
                intent, price, equity=context.equity, cash=context.cash,
                exchange=self.broker.exchange,
            )  # fmt: skip
            if verdict.refusal is not None and verdict.reasons:
                self.ledger.audit("protocol", "entry_decision", intent.intent_id,
                                  {"instance": intent.instance, **verdict.reasons})  # fmt: skip
            if verdict.refusal is not None:
                self.ledger.set_intent_status(intent.intent_id, "REJECTED_BY_RISK", verdict.refusal)
                return None
            if verdict.decision is not None:
                intent = self._protocol_sized(intent, verdict.decision, price)
                # its notional is the order's value, the fee on top
                intent = dataclasses.replace(intent, notional_includes_fee=False)
                # The tiers and allocations bound the size and the positions now.
                limits = limits.model_copy(
                    update={"position_fraction": 1.0, "max_open_positions": 1_000_000}
                )
        decision = check_intent(intent, context, limits)
        if not decision.accepted:
            self.ledger.set_intent_status(intent.intent_id, "REJECTED_BY_RISK", decision.reason)
            log.info(
                "intent rejected", extra={"intent": intent.intent_id, "reason": decision.reason}
            )
            return None
        if intent.action == "close":
            return self._handle_close(intent, at)
        rules = self.broker.market_rules(intent.symbol)
        limit = (
            round_limit_price(intent.limit_price, "buy", rules)
            if intent.order_type == "limit" and intent.limit_price
            else None
        )
        try:
            quantity = (
                floor_quantity(intent.quantity, rules)
                if intent.quantity
                else entry_quantity(
                    intent.notional or 0.0, limit or price, rules, fee_rate=self._entry_fee(intent)
                )
            )
        except OrderNotPlaceable as exc:
            self.ledger.set_intent_status(
                intent.intent_id, "REJECTED_BY_RISK", f"exchange rules: {exc}"
            )
            return None
        reason = decision.reason
        if verdict is not None and verdict.reasons:
            reason = "protocol " + json.dumps(verdict.reasons, sort_keys=True)
        order = self.ledger.create_order(
            NewOrder(
                client_order_id=client_order_id(intent.intent_id, "entry"),
                exchange=intent.exchange,
                symbol=intent.symbol,
                side="buy",
                order_type=intent.order_type,
                role="entry",
                quantity=quantity,
                price=limit,
                post_only=(intent.post_only or self.options.post_only_limits) and limit is not None,
                intent_id=intent.intent_id,
                strategy=intent.strategy,
                reason=reason,
                instance_id=intent.instance or DEFAULT_INSTANCE,
            ),
            accept_intent=True,
            reason=reason,
            # the protocol's reasons, audited with the order (one commit)
            decision={"instance": intent.instance, **verdict.reasons}
            if verdict is not None and verdict.reasons
            else None,
        )
        return self._submit(order, at, intent)

    def _protocol_sized(
        self, intent: OrderIntent, decision: EntryDecision, price: float
    ) -> OrderIntent:
        """The intent as the protocol sized it: value plus taker fee equals the decision's
        notional, the protocol's stop, and the instance's take-profit / trailing stop
        (``position_sizing.exit_levels``, as the backtester sets them). An operator's
        ``set-risk`` scales the notional (``executor.overrides``): down always, up only when
        no cap bound the decision and the configuration allows it."""
        assert decision.stop is not None
        inst = self.protocol.instance(intent.instance) if self.protocol else None
        risk = inst.resolved_risk() if inst else None
        _, take = exit_levels(
            price,
            stop_loss=decision.stop.price,
            take_profit=intent.take_profit,
            default_take_fraction=risk.take_profit_pct if risk else None,
        )
        if self.config.protocol.exits.take_profit.enabled:
            take = None  # the tiers take profits in parts; a whole-position target (and its
            # exchange-side backstop) would sell everything at the first one
        notional = decision.notional
        if self.protocol is not None:
            tier = self.protocol.config.tiers[self.protocol.state.tier.index]
            override = override_ledger.risk_override(
                self.ledger, tier.risk_per_trade, self.config.overrides.scale_cap
            )
            if override is not None:
                scale, detail = override
                notional *= scale
                if scale > 1.0:  # the protocol's own limits stay hard (not the tier's cap)
                    room = override_ledger.scale_up_room(
                        self.ledger, self.protocol, intent, self.broker.exchange,
                        self.config.executor.quote_currency,
                    )  # fmt: skip
                    notional = max(decision.notional, min(notional, room))
                self.ledger.audit("operator", "risk_override_applied", intent.intent_id,
                                  {**detail, "notional": notional,
                                   "protocol_notional": decision.notional})  # fmt: skip
        value = all_in_quantity(notional, price, self.config.fees.taker) * price
        return dataclasses.replace(
            intent,
            notional=value,
            quantity=None,
            stop_loss=decision.stop.price,
            take_profit=take,
            trailing_stop_pct=(
                risk.trailing_stop_pct if risk and risk.trailing_stop_pct else
                intent.trailing_stop_pct
            ),
        )  # fmt: skip

    def _handle_close(self, intent: OrderIntent, at: datetime | None) -> OrderRecord | None:
        """Close the intent's instance's sub-position (other instances keep theirs)."""
        instance = intent.instance or DEFAULT_INSTANCE
        position = self.ledger.position(self.broker.exchange, intent.symbol, instance)
        if position is None or position.quantity <= QTY_EPSILON:
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                f"instance {instance!r} holds no {intent.symbol} position to close",
            )
            return None
        live = [
            o
            for o in self.ledger.orders(LIVE_STATES, symbol=intent.symbol)
            if (o.instance_id or DEFAULT_INSTANCE) == instance
        ]
        if any(o.role in EXIT_ROLES for o in live):
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                f"an exit for {intent.symbol} is already working",
            )
            return None
        working = [
            o
            for o in live
            if o.role == "entry" and o.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
        ]
        for order in working:
            self._apply(order, self.broker.cancel(order))
        position = self.ledger.position(self.broker.exchange, intent.symbol, instance)
        assert position is not None  # checked above
        exit_order = self._place_exit(
            position,
            "exit",
            client_order_id(intent.intent_id, "exit"),
            reason=f"close intent {intent.intent_id}",
            at=at,
            intent=intent,
        )
        if exit_order is None:
            self.ledger.set_intent_status(
                intent.intent_id,
                "REJECTED_BY_RISK",
                "exchange rules: the position is below the minimum",
            )
        return exit_order

"""Orders inside the executor's tick (``Engine``, steps 3-5): reconciliation when due, order
updates and the protective levels an entry's fill attaches, the one submit (lease checked
first, a lost answer left in flight), in-flight orders settled by query, working orders polled
and unfilled limit entries repriced.

A mixin of ``executor.engine.Engine``: its methods read the engine's state (``self``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from executor import schema
from executor.brokers.base import (
    OrderRejected,
    OrderSnapshot,
    SubmitOutcomeUnknown,
)
from executor.engine_state import EngineState, TickReport
from executor.intents import OrderIntent
from executor.orders import OrderState, client_order_id
from executor.records import NewOrder, OrderRecord, OrderUpdate
from executor.sizing import (
    floor_quantity,
    is_dust,
    round_limit_price,
)
from executor.trading_state import TradingState
from trading_core.config_portfolio import DEFAULT_INSTANCE
from trading_core.position_sizing import exit_levels

log = logging.getLogger("executor.engine")


class EngineOrders(EngineState):
    """The engine's orders (a room of ``executor.engine.Engine``)."""

    # -------------------------------------------------------------------- order updates

    def _apply(
        self, order: OrderRecord, snapshot: OrderSnapshot, intent: OrderIntent | None = None
    ) -> OrderRecord:
        after = self.ledger.apply_order_update(
            order.client_order_id, snapshot.update, snapshot.fills
        )
        if after.role == "entry" and after.filled_quantity > order.filled_quantity:
            self._protect(after, intent)
        return after

    def _protect(self, order: OrderRecord, intent: OrderIntent | None) -> None:
        """Attach the entry intent's protective exits to the position it opened: its absolute
        levels, else its fractions of the entry's fill price (``exit_levels``, the function
        the backtester calls with its fill price)."""
        if intent is None and order.intent_id:
            record = self.ledger.intent(order.intent_id)
            intent = record.intent if record else None
        if intent is None:
            return
        stop, take = intent.stop_loss, intent.take_profit
        wants_fraction = (stop is None and intent.stop_loss_pct) or (
            take is None and intent.take_profit_pct
        )
        fill_price = self._entry_fill_price(order) if wants_fraction else 0.0
        if wants_fraction and fill_price <= 0:
            log.error(
                "entry fill price unknown: no default levels",
                extra={"order": order.client_order_id},
            )
        elif wants_fraction:
            stop, take = exit_levels(
                fill_price,
                stop_loss=stop,
                take_profit=take,
                default_stop_fraction=intent.stop_loss_pct,
                default_take_fraction=intent.take_profit_pct,
            )
        if stop or take or intent.trailing_stop_pct:
            self.ledger.set_protection(
                order.exchange,
                order.symbol,
                stop_loss=stop,
                take_profit=take,
                trailing_stop_pct=intent.trailing_stop_pct,
                instance_id=order.instance_id or DEFAULT_INSTANCE,
            )
            self.backstop.keep_in_step(order.exchange, order.symbol)

    def _entry_fill_price(self, order: OrderRecord) -> float:
        """The price the entry filled at: its one fill's price exactly (the order's average,
        ``sum(q * p) / sum(q)``, can differ from it in the last bit), else the volume-weighted
        average of its fills, else the order's average price."""
        t = schema.fills
        with self.ledger.transaction() as conn:
            rows = conn.execute(
                sa.select(t.c.quantity, t.c.price)
                .where(t.c.client_order_id == order.client_order_id)
                .order_by(t.c.id)
            ).all()
        if len(rows) == 1:
            return float(rows[0].price)
        filled = sum(r.quantity for r in rows)
        if filled > 0:
            return float(sum(r.quantity * r.price for r in rows) / filled)
        return float(order.average_price or order.price or 0.0)

    def _submit(
        self, order: OrderRecord, at: datetime | None, intent: OrderIntent | None = None
    ) -> OrderRecord:
        """Send an order once and record the answer; a lost answer leaves it in flight.

        The lease is checked first: an executor that lost its ledger places nothing.
        """
        if self.lease is not None:
            self.lease.check()
        self.throttle.record(self._clock())
        try:
            snapshot = self.broker.submit(order, at)
        except OrderRejected as exc:
            snapshot = OrderSnapshot(OrderUpdate(OrderState.REJECTED, reason=str(exc)))
        except SubmitOutcomeUnknown as exc:
            snapshot = OrderSnapshot(OrderUpdate(OrderState.IN_FLIGHT_UNKNOWN, reason=str(exc)))
        except Exception as exc:  # anything else: we cannot know it did not go
            log.exception("unexpected submit failure", extra={"order": order.client_order_id})
            snapshot = OrderSnapshot(
                OrderUpdate(OrderState.IN_FLIGHT_UNKNOWN, reason=f"submit failed: {exc!r}")
            )
        after = self._apply(order, snapshot, intent)
        log.info(
            "order submitted",
            extra={
                "order": order.client_order_id,
                "state": after.state.value,
                "reason": after.reason,
            },
        )
        return after

    def _resolve_in_flight(self, report: TickReport) -> None:
        """Settle orders whose submit outcome is unknown, by asking the exchange."""
        grace = timedelta(seconds=self.options.unknown_order_grace_seconds)
        now = self._clock()
        for order in self.ledger.orders([OrderState.PENDING_SUBMIT, OrderState.IN_FLIGHT_UNKNOWN]):
            if now - order.updated_at < grace:
                continue
            snapshot = self.broker.query(order, self._market_at(None))
            if snapshot is not None:
                self._apply(order, snapshot)
                continue
            if order.state == OrderState.PENDING_SUBMIT:
                # Left by a crash between writing the order and hearing back: the exchange has
                # no such client order id, so the one submit still has to happen.
                self._submit(order, self._market_at(None))
                report.orders_submitted += 1
                continue
            misses = self.ledger.note_lookup_miss(order.client_order_id)
            if misses >= self.options.max_unknown_lookups:
                self.ledger.apply_order_update(
                    order.client_order_id,
                    OrderUpdate(
                        OrderState.GIVEN_UP,
                        reason=f"the exchange has no order {order.client_order_id} after "
                        f"{misses} lookups: the submit never arrived",
                    ),
                )

    def _work_orders(self, report: TickReport) -> None:
        timeout = timedelta(seconds=self.options.limit_timeout_seconds)
        now = self.market_now()
        for order in self.ledger.orders([OrderState.OPEN, OrderState.PARTIALLY_FILLED]):
            snapshot = self.broker.query(order, self._market_at(None))
            if snapshot is None:
                log.warning(
                    "working order unknown to the broker", extra={"order": order.client_order_id}
                )
                continue
            order = self._apply(order, snapshot)
            if (
                order.state in (OrderState.OPEN, OrderState.PARTIALLY_FILLED)
                and order.order_type == "limit"
                and order.role == "entry"
                and now - (order.submitted_at or order.created_at) >= timeout
                and self.throttle.ready(self._clock())
            ):
                self._reprice(order)

    def _affordable_quantity(self, price: float) -> float:
        """How much a limit buy at ``price`` can take with the cash not yet committed."""
        fee = max(self.config.fees.maker, self.config.fees.taker)
        inputs = self.ledger.risk_inputs(
            self.broker.exchange, self.config.executor.quote_currency, self.market_now(), 1
        )
        free = max(0.0, inputs.uncommitted_cash(fee))
        return free / (price * (1.0 + fee)) if price > 0 else 0.0

    def _too_old(self, intent: OrderIntent) -> bool:
        age = (self.market_now() - intent.decided_at).total_seconds()
        return age > self.limits.age_limit(intent.timeframe)

    def _reprice(self, order: OrderRecord) -> None:
        """Cancel an unfilled limit entry past its timeout and replace it at the best bid."""
        canceled = self._apply(order, self.broker.cancel(order))
        state = self.ledger.trading_state()
        rules = self.broker.market_rules(order.symbol)
        # The best bid: where a sell would trade first, and where a passive buy joins the book.
        price = self.broker.reference_price(order.symbol, "sell", self._market_at(None))
        # Chasing the market is a new decision at today's price: only within the entry's age
        # limit, and only with cash in hand (the canceled order's reservation is gone).
        affordable = self._affordable_quantity(price)
        remaining = floor_quantity(min(canceled.remaining, affordable), rules)
        record = self.ledger.intent(canceled.intent_id) if canceled.intent_id else None
        why = None
        if canceled.state != OrderState.CANCELED:
            why = f"order ended {canceled.state} while canceling"
        elif canceled.attempt >= self.options.max_reprices:
            why = f"not repriced: {self.options.max_reprices} reprices used"
        elif state != TradingState.ACTIVE:
            why = f"not repriced: trading is {state}"
        elif record is not None and self._too_old(record.intent):
            why = "not repriced: the entry is older than its age limit"
        elif is_dust(remaining, price, rules):
            # The rest of a partly filled buy is skipped when the exchange would refuse it.
            why = f"not repriced: remaining {remaining:g} is below the exchange minimum"
        if why:
            self.ledger.audit("executor", "reprice_skipped", order.client_order_id, {"reason": why})
            if canceled.intent_id:
                self.ledger.finish_intent(canceled.intent_id, why)
            return
        assert canceled.intent_id is not None  # entries always come from an intent
        replacement = NewOrder(
            client_order_id=client_order_id(canceled.intent_id, "entry", canceled.attempt + 1),
            exchange=order.exchange,
            symbol=order.symbol,
            side=order.side,
            order_type="limit",
            role=order.role,
            quantity=remaining,
            price=round_limit_price(price, "buy", rules),
            post_only=order.post_only,
            attempt=order.attempt + 1,
            intent_id=order.intent_id,
            strategy=order.strategy,
            reason=f"reprice {order.attempt + 1} of {order.client_order_id}",
            instance_id=order.instance_id,
        )
        created = self.ledger.create_order(
            replacement, accept_intent=True, reason=replacement.reason
        )
        self._submit(created, self._market_at(None))

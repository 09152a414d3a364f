"""Backstops: protective orders the exchange itself holds, for when the executor cannot act.

The executor watches stop-loss, take-profit and trailing stops every tick and exits at
market (``engine._watch_positions``); if its host or network dies, nothing watches. So where
the broker supports native stops, a protected position also rests a *backstop* there:

- a stop-limit sell of the whole position, triggered ``margin_pct`` below the executor's
  own stop (the stop-loss, or the trailing level if higher) and limited ``limit_offset_pct``
  below its trigger. With a take-profit, where the exchange offers OCO, it is paired with a
  limit-maker sell ``margin_pct`` above the take-profit (one cancels the other). Both are
  wider than the executor's levels, so the executor's own exit normally fires first;
- placed when an entry fill opens or grows a protected position; kept in step every tick:
  replaced when its level would move by more than ``step_pct`` (a trailing stop rising) or
  the quantity changes, and re-placed when missing; never touched while an exit of the
  executor is working, nor while trading is HALTED (the operator is in charge, and a resting
  stop keeps protecting);
- canceled before every exit the executor places (on Binance it locks the base quantity, so
  the exit would fail for want of balance) and when its position is flat.

Backstops are rows of the ``orders`` table with role ``backstop`` and no intent id (an intent
settles without waiting for them): ``tp-<source>-b<n>``, a ``stop_loss_limit`` sell
(``price`` the limit, ``stop_price`` the trigger); or, for an OCO, that leg as ``...b<n>s``
with a ``limit_maker`` leg ``...b<n>t`` (list id ``...b<n>l``). The engine polls them with the
other working orders, so their fills go through the same state machine and are recorded
exactly once (by trade id). They are neither exits nor entries nor trades of the day.

Only the keeper (``Backstop``) places them, through ``broker.place_backstop``; a backstop row
left PENDING_SUBMIT by a crash is refused by ``broker.submit`` and placed afresh. A failure
(an exchange error, a rejection) never stops the tick or an exit: it is logged and audited,
and the symbol is retried after a backoff that doubles with each failure in a row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime

from executor.backstop_levels import (
    ROLE,
    BackstopPlan,
    BackstopSettings,
    executor_stop,
    leg_ids,
    plan_backstop,
    replace_reason,
    sorted_legs,
)
from executor.brokers.base import (
    Broker,
    BrokerUnavailable,
    OrderRejected,
    OrderSnapshot,
    SubmitOutcomeUnknown,
)
from executor.lease import Lease, LeaseLost
from executor.ledger import Ledger
from executor.orders import LIVE_STATES, OrderState, client_order_id
from executor.records import QTY_EPSILON, NewOrder, OrderRecord, OrderUpdate, Position
from trading_core.config import TradingConfig

log = logging.getLogger("executor.backstop")

UNRESOLVED = frozenset({OrderState.PENDING_SUBMIT, OrderState.IN_FLIGHT_UNKNOWN})
MAX_BACKOFF = 32  # calls skipped at most after failures in a row


def live_backstops(ledger: Ledger, exchange: str, symbol: str | None = None) -> list[OrderRecord]:
    return [
        o
        for o in ledger.orders(LIVE_STATES, symbol=symbol)
        if o.role == ROLE and o.exchange == exchange
    ]


def cancel_legs(ledger: Ledger, broker: Broker, legs: list[OrderRecord]) -> bool:
    """Cancel backstop legs and record what the exchange says (fills that raced the cancel
    included). True when all ended without filling anything more."""
    clean = True
    for leg in legs:
        answer = broker.cancel(leg)
        after = ledger.apply_order_update(leg.client_order_id, answer.update, answer.fills)
        clean = clean and after.state != OrderState.FILLED
        clean = clean and after.filled_quantity <= leg.filled_quantity
    return clean


def stale_backstops(ledger: Ledger, exchange: str) -> list[OrderRecord]:
    """Working backstops whose position is flat (settled ones only: an unresolved one waits)."""
    legs = [o for o in live_backstops(ledger, exchange) if o.state not in UNRESOLVED]
    if not legs:
        return []
    held = {p.symbol for p in ledger.open_positions() if p.exchange == exchange}
    return [o for o in legs if o.symbol not in held]


def position_source(position: Position) -> str:
    """The alphanumeric id backstop client order ids of this position derive from."""
    return (
        position.entry_intent_id
        or hashlib.sha1(f"{position.symbol}{position.opened_at}".encode()).hexdigest()[:24]
    )


class Backstop:
    """Keeps one backstop per protected position in step with it (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        config: TradingConfig,
        *,
        lease: Lease | None = None,
        market_at: Callable[[], datetime | None] = lambda: None,
    ):
        self.ledger = ledger
        self.broker = broker
        self.settings = BackstopSettings.from_config(config)
        self.lease = lease
        self._market_at = market_at
        self._failures: dict[str, int] = {}
        self._skip: dict[str, int] = {}
        self._next_attempt: dict[str, int] = {}

    # ----------------------------------------------------------------------- hook points

    def keep_in_step(self, exchange: str, symbol: str) -> None:
        """Place, replace or cancel ``symbol``'s backstop to match its position now."""
        if not self.settings.enabled or self._backing_off(symbol):
            return
        try:
            self._sync(exchange, symbol)
        except LeaseLost:
            raise
        except Exception as exc:  # never stops the tick: retried after a backoff
            self._failed(symbol, "keep_in_step", exc)

    def before_exit(self, position: Position) -> Position | None:
        """Cancel the position's backstop before the executor sells, and return the position
        as it is then (None when the backstop's own fills closed it meanwhile). A failed
        cancel is logged and audited; the exit goes ahead all the same."""
        legs = live_backstops(self.ledger, position.exchange, position.symbol)
        if not legs:
            return position
        self._cancel(legs, "the executor exits")
        # The sub-position being closed, as the backstop's fills (shared pro rata) left it.
        after = self.ledger.position(position.exchange, position.symbol, position.instance_id)
        if after is None or after.quantity <= QTY_EPSILON:
            self.ledger.audit("executor", "backstop_filled_before_exit", position.symbol, {})
            return None
        return after

    def cancel_stale(self) -> None:
        """Cancel backstops whose position is flat (left by a failed cancel, or a restart)."""
        try:
            stale = stale_backstops(self.ledger, self.broker.exchange)
        except Exception as exc:  # never stops the stop watcher
            self._failed("*", "cancel_stale", exc)
            return
        if stale:
            self._cancel(stale, "its position is flat")

    # -------------------------------------------------------------------------- policy

    def _sync(self, exchange: str, symbol: str) -> None:
        live = [o for o in self.ledger.orders(LIVE_STATES, symbol=symbol) if o.exchange == exchange]
        legs = sorted_legs([o for o in live if o.role == ROLE])
        exiting = any(o.side == "sell" and o.role not in (ROLE, "external") for o in live)
        if exiting or any(o.state in UNRESOLVED for o in legs):
            return  # the exit settles first / the engine resolves the unanswered legs
        if self.ledger.trading_state() == "HALTED":
            return
        position = self.ledger.position(exchange, symbol)
        if position is None or position.quantity <= QTY_EPSILON:
            if legs:
                self._cancel(legs, "its position is flat")
            return
        if not self.broker.supports_native_stops(symbol):
            return
        rules = self.broker.market_rules(symbol)
        plan = plan_backstop(position, rules, self.settings, oco=self.broker.supports_oco(symbol))
        if legs:
            if any(o.state == OrderState.PARTIALLY_FILLED for o in legs):
                return  # triggered and executing: leave it be
            why = replace_reason(legs, plan, rules, self.settings.step_pct)
            if why is None or not self._cancel(legs, why):
                return
        if plan is not None:
            self._place(position, plan)

    def _place(self, position: Position, plan: BackstopPlan) -> None:
        if self.lease is not None:
            self.lease.check()
        ids = leg_ids(self._free_id(position_source(position)), plan.take is not None)
        stop_leg = NewOrder(
            client_order_id=ids[0],
            exchange=position.exchange,
            symbol=position.symbol,
            side="sell",
            order_type="stop_loss_limit",
            role=ROLE,
            quantity=plan.quantity,
            price=plan.limit,
            stop_price=plan.trigger,
            strategy=position.strategy,
            reason=f"backstop: trigger {plan.trigger:g} below the executor's stop "
            f"{executor_stop(position):g}, limit {plan.limit:g}",
        )
        legs = [stop_leg]
        if plan.take is not None:
            take_leg = dataclasses.replace(
                stop_leg,
                client_order_id=ids[1],
                order_type="limit_maker",
                price=plan.take,
                stop_price=None,
                reason=f"backstop take-profit leg at {plan.take:g}",
            )
            legs.append(take_leg)
        rows = [self.ledger.create_order(leg, reason=leg.reason) for leg in legs]
        try:
            snapshots = self.broker.place_backstop(rows, self._market_at())
        except OrderRejected as exc:
            snapshots = [OrderSnapshot(OrderUpdate(OrderState.REJECTED, reason=str(exc)))]
        except BrokerUnavailable as exc:  # failed before anything was sent
            refused = OrderUpdate(OrderState.REJECTED, reason=f"not sent: {exc}")
            snapshots = [OrderSnapshot(refused)]
        except SubmitOutcomeUnknown as exc:
            snapshots = [OrderSnapshot(OrderUpdate(OrderState.IN_FLIGHT_UNKNOWN, reason=str(exc)))]
        except Exception as exc:  # we cannot know it did not go: resolved by query
            unknown = OrderUpdate(OrderState.IN_FLIGHT_UNKNOWN, reason=f"placing failed: {exc!r}")
            snapshots = [OrderSnapshot(unknown)]
        if len(snapshots) == 1:
            snapshots *= len(rows)
        placed = [
            self.ledger.apply_order_update(row.client_order_id, snapshot.update, snapshot.fills)
            for row, snapshot in zip(rows, snapshots, strict=True)
        ]
        if placed[0].state == OrderState.REJECTED:
            self._failed(position.symbol, "place", OrderRejected(placed[0].reason or "rejected"))
            return
        self._failures.pop(position.symbol, None)
        details = {
            "legs": [o.client_order_id for o in placed],
            "state": placed[0].state.value,
            "trigger": plan.trigger,
            "limit": plan.limit,
            "take": plan.take,
        }
        self.ledger.audit("executor", "backstop_placed", position.symbol, details)
        log.info("backstop placed", extra={"symbol": position.symbol, **details})

    def _cancel(self, legs: list[OrderRecord], why: str) -> bool:
        """Cancel and record; False when it did not end cleanly (a fill, or an error)."""
        symbol = legs[0].symbol
        try:
            clean = cancel_legs(self.ledger, self.broker, legs)
        except LeaseLost:
            raise
        except Exception as exc:
            self._failed(symbol, "cancel", exc)
            return False
        event = "backstop_canceled" if clean else "backstop_filled"
        details = {"legs": [o.client_order_id for o in legs], "why": why}
        self.ledger.audit("executor", event, symbol, details)
        return clean

    # ------------------------------------------------------------------------- helpers

    def _free_id(self, source: str) -> str:
        """The next unused backstop id of this position (each placement is a new order)."""
        attempt = self._next_attempt.get(source, 0)
        while any(
            self.ledger.order(cid) is not None
            for oco in (False, True)
            for cid in leg_ids(client_order_id(source, ROLE, attempt), oco)
        ):
            attempt += 1
        self._next_attempt[source] = attempt + 1
        return client_order_id(source, ROLE, attempt)

    def _backing_off(self, symbol: str) -> bool:
        left = self._skip.get(symbol, 0)
        if left > 0:
            self._skip[symbol] = left - 1
        return left > 0

    def _failed(self, symbol: str, what: str, exc: Exception) -> None:
        failures = self._failures.get(symbol, 0) + 1
        self._failures[symbol] = failures
        self._skip[symbol] = min(2 ** (failures - 1) - 1, MAX_BACKOFF)
        details: dict[str, object] = {
            "step": what,
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "retry_after_calls": self._skip[symbol],
        }
        self.ledger.audit("executor", "backstop_failed", symbol, details)
        log.warning("backstop failed", extra={"symbol": symbol, **details})

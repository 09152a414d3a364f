"""Reconciliation: the ledger against the exchange, on start-up and every few ticks.

1. Open orders on the exchange: ours are brought up to date; ones we never placed are
   recorded as ``external`` (and audited), never touched.
2. Our working orders the exchange no longer lists are queried by client order id, so fills
   and cancels that happened while we were not looking are recorded.
3. Recent trades: a trade the ledger lacks is a missed fill. If its order is ours the order
   is re-read with all its fills; otherwise the fill is kept as external (it does not move our
   positions).
4. Balances: for every base asset we trade, the exchange's total must equal the baseline
   (what the account held before the ledger started trading it) plus the ledger's position.
   A mismatch puts trading in HALTED with a message that gives both numbers: trading on a
   position we do not understand is how losses compound.

Symbols with an order whose outcome is still unknown skip step 4 until it is resolved (the
exchange may hold fills the ledger cannot know of yet).

Backstops (``executor.backstop``, native stops resting on the exchange) go through steps 1-3
like any order of ours, so one that filled while the executor was down becomes recorded
fills that close or reduce the position, once. One the exchange no longer knows is not a
mismatch: it is marked CANCELED, and the engine's keeper places a new one on its next tick.
One still working for a position the ledger holds flat is canceled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from executor.backstop import cancel_legs, stale_backstops
from executor.backstop_levels import ROLE as BACKSTOP_ROLE
from executor.brokers.base import BrokerUnavailable
from executor.brokers.ccxt_broker import CcxtBroker, order_state
from executor.ledger import Ledger, base_currency, quote_currency
from executor.orders import LIVE_STATES, OrderState
from executor.records import NewOrder, OrderUpdate
from executor.trading_state import TradingState

log = logging.getLogger("executor.reconcile")

# Trades are re-read this far before the last reconciliation: clocks and pagination overlap.
TRADE_LOOKBACK = timedelta(minutes=10)
UNRESOLVED: frozenset[OrderState] = frozenset(
    {OrderState.PENDING_SUBMIT, OrderState.IN_FLIGHT_UNKNOWN}
)


@dataclass
class ReconcileReport:
    ok: bool = True
    updated_orders: int = 0
    external_orders: int = 0
    recovered_fills: int = 0
    external_fills: int = 0
    backstops_missing: int = 0
    backstops_canceled: int = 0
    deferred: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(self, ledger: Ledger, broker: CcxtBroker, *, symbols: list[str]):
        self.ledger = ledger
        self.broker = broker
        self.symbols = symbols
        self.last_run: datetime | None = None
        self.last_report: ReconcileReport | None = None

    def __call__(self) -> bool:
        return self.run().ok

    def _symbols(self) -> list[str]:
        known = set(self.symbols)
        known |= {o.symbol for o in self.ledger.live_orders()}
        known |= {p.symbol for p in self.ledger.positions() if p.exchange == self.broker.exchange}
        return sorted(known)

    def run(self) -> ReconcileReport:
        report = ReconcileReport()
        started = self.ledger.now()
        fills_before = self.ledger.fill_count()
        try:
            for symbol in self._symbols():
                self._orders(symbol, report)
                self._trades(symbol, report)
            self._stale_backstops(report)
            # Fills of our own orders that the ledger learned only now.
            report.recovered_fills = self.ledger.fill_count() - fills_before - report.external_fills
            if report.recovered_fills:
                self.ledger.audit(
                    "reconciliation",
                    "missed_fills_recovered",
                    self.broker.exchange,
                    {"fills": report.recovered_fills},
                )
            self._balances(report)
        except BrokerUnavailable as exc:
            report.errors.append(str(exc))
        report.ok = not report.errors and not report.mismatches
        if report.ok:
            self.last_run = started
        self.ledger.audit(
            "reconciliation",
            "reconciled" if report.ok else "reconcile_failed",
            self.broker.exchange,
            vars(report),
        )
        self.last_report = report
        log.info("reconciled", extra={k: v for k, v in vars(report).items()})
        return report

    # ----------------------------------------------------------------------------- orders

    def _orders(self, symbol: str, report: ReconcileReport) -> None:
        listed: set[str] = set()
        for placed in self.broker.open_orders(symbol):
            cid = placed.get("clientOrderId")
            ours = None
            if cid:
                listed.add(cid)
                ours = self.ledger.order(cid)
            if ours is None:
                self._external(symbol, placed, report)
            elif ours.state not in UNRESOLVED:
                current = self.broker.snapshot(ours, placed)
                if (
                    current.update.state != ours.state
                    or (current.update.filled_quantity or 0.0) > ours.filled_quantity
                ):
                    self.ledger.apply_order_update(
                        ours.client_order_id, current.update, current.fills
                    )
                    report.updated_orders += 1
        for order in self.ledger.orders(LIVE_STATES - UNRESOLVED, symbol=symbol):
            if order.client_order_id in listed or order.exchange != self.broker.exchange:
                continue
            snapshot = self.broker.query(order)
            if snapshot is None and order.role == BACKSTOP_ROLE:
                self._missing_backstop(order.client_order_id, report)
                continue
            if snapshot is None:
                report.mismatches.append(
                    f"order {order.client_order_id} is {order.state} in the ledger but "
                    "unknown to the exchange"
                )
                continue
            self.ledger.apply_order_update(order.client_order_id, snapshot.update, snapshot.fills)
            report.updated_orders += 1

    def _missing_backstop(self, client_order_id: str, report: ReconcileReport) -> None:
        reason = "missing on the exchange: the backstop keeper places a new one"
        self.ledger.apply_order_update(
            client_order_id, OrderUpdate(OrderState.CANCELED, reason=reason)
        )
        self.ledger.audit("reconciliation", "backstop_missing", client_order_id, {})
        report.backstops_missing += 1
        log.warning("backstop missing on the exchange", extra={"order": client_order_id})

    def _stale_backstops(self, report: ReconcileReport) -> None:
        """Cancel backstops still working for positions the ledger holds flat."""
        stale = stale_backstops(self.ledger, self.broker.exchange)
        if stale:
            cancel_legs(self.ledger, self.broker, stale)
            details = {"legs": [o.client_order_id for o in stale]}
            self.ledger.audit("reconciliation", "backstop_stale_canceled", None, details)
            report.backstops_canceled += len(stale)

    def _external(self, symbol: str, placed: dict[str, Any], report: ReconcileReport) -> None:
        cid = placed.get("clientOrderId") or f"ext-{placed['id']}"
        filled = float(placed.get("filled") or 0.0)
        recorded = self.ledger.record_external_order(
            NewOrder(
                client_order_id=cid[:36],
                exchange=self.broker.exchange,
                symbol=symbol,
                side=placed["side"],
                order_type=placed.get("type") or "limit",
                role="external",
                quantity=float(placed.get("amount") or 0.0),
                price=placed.get("price"),
                reason="found on the exchange; not placed by this executor",
            ),
            OrderUpdate(
                order_state(placed),
                exchange_order_id=str(placed["id"]),
                filled_quantity=filled,
                average_price=placed.get("average"),
            ),
        )
        if recorded:
            report.external_orders += 1
            log.warning("external order on the exchange", extra={"order": cid, "symbol": symbol})

    # ----------------------------------------------------------------------------- trades

    def _trades(self, symbol: str, report: ReconcileReport) -> None:
        since: datetime | None
        if self.last_run is not None:
            since = self.last_run - TRADE_LOOKBACK
        else:
            known_since = self.ledger.last_known_activity(self.broker.exchange)
            since = known_since - TRADE_LOOKBACK if known_since else None
        trades = self.broker.trades_since(symbol, since)
        known = self.ledger.known_trade_ids(
            self.broker.exchange, symbol, [str(t["id"]) for t in trades]
        )
        requeried: set[str] = set()
        for trade in trades:
            if str(trade["id"]) in known:
                continue
            exchange_order_id = str(trade["order"])
            order = self.ledger.order_by_exchange_id(self.broker.exchange, exchange_order_id)
            if order is None:
                # Ours but never answered (so without an exchange id), or someone else's.
                placed = self.broker.order_by_id(symbol, exchange_order_id)
                cid = placed.get("clientOrderId") if placed else None
                order = self.ledger.order(cid) if cid else None
                if order is None and placed is not None:
                    self._external(symbol, placed, report)
                    order = self.ledger.order_by_exchange_id(
                        self.broker.exchange, exchange_order_id
                    )
            if order is not None and order.role != "external":
                if order.state in UNRESOLVED or order.client_order_id in requeried:
                    continue  # resolved by the engine / already re-read with all its fills
                requeried.add(order.client_order_id)
                snapshot = self.broker.query(order)
                if snapshot is not None:
                    self.ledger.apply_order_update(
                        order.client_order_id, snapshot.update, snapshot.fills
                    )
                continue
            fill = self.broker.fill_from_trade(trade, order.client_order_id if order else None)
            report.external_fills += self.ledger.record_fills([fill], applied=False)

    # --------------------------------------------------------------------------- balances

    def _balances(self, report: ReconcileReport) -> None:
        exchange = self.broker.exchange
        balances = self.broker.balances()
        self.ledger.snapshot_balances(exchange, balances, "exchange")
        totals = {cur: total for cur, (_, _, total) in balances.items()}
        # The exchange holds the sum of every instance's sub-position.
        positions = {
            p.symbol: p.quantity for p in self.ledger.exchange_positions() if p.exchange == exchange
        }
        baseline = self.ledger.latest_balances(exchange, "baseline")
        if not baseline:
            baseline = self._record_baseline(balances, positions)
        unresolved = {o.symbol for o in self.ledger.orders(UNRESOLVED)}
        held: dict[str, float] = {}
        steps: dict[str, float] = {}
        for symbol in self._symbols():
            base = base_currency(symbol)
            held[base] = held.get(base, 0.0) + positions.get(symbol, 0.0)
            steps[base] = self.broker.market_rules(symbol).amount_step or 1e-8
            if symbol in unresolved:
                report.deferred.append(symbol)
        for base, quantity in held.items():
            if any(base_currency(s) == base for s in report.deferred):
                continue
            expected = baseline.get(base, 0.0) + quantity
            actual = totals.get(base, 0.0)
            if abs(actual - expected) > steps[base] / 2:
                report.mismatches.append(
                    f"{base}: the exchange holds {actual:.8g}, the ledger expects "
                    f"{expected:.8g} (baseline {baseline.get(base, 0.0):.8g} + position "
                    f"{quantity:.8g})"
                )
        if report.mismatches:
            reason = "reconciliation mismatch, trading halted until an operator checks: " + (
                "; ".join(report.mismatches)
            )
            self.ledger.set_trading_state(TradingState.HALTED, reason, "reconciliation")
            log.error("position mismatch: trading HALTED", extra={"mismatches": report.mismatches})

    def _record_baseline(
        self, balances: dict[str, tuple[float, float, float]], positions: dict[str, float]
    ) -> dict[str, float]:
        """What the account held before we traded it: today's totals less our positions."""
        baseline = {cur: total for cur, (_, _, total) in balances.items()}
        for symbol, quantity in positions.items():
            base = base_currency(symbol)
            baseline[base] = baseline.get(base, 0.0) - quantity
        quotes = {quote_currency(s) for s in self._symbols()}
        self.ledger.record_baseline(
            self.broker.exchange, baseline, {q: baseline.get(q, 0.0) for q in quotes}
        )
        return baseline

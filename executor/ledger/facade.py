"""``Ledger``: the executor's database as one object, delegating to its stores.

The stores share one ``LedgerDB`` (the engine and the unit of work) and one ``AuditLog``; an
operation that spans stores runs in one transaction, its connection passed from store to
store (an order update records its fills, which move the position and cash, and settles its
intent). Every method here is one line: the behaviour lives in the store named for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from executor.intents import OrderIntent
from executor.ledger.audit import AuditLog
from executor.ledger.balances import BalanceStore
from executor.ledger.controls import ControlStore, OperatorCommand
from executor.ledger.db import LedgerDB
from executor.ledger.fills import FillStore
from executor.ledger.intents import IntentRecord, IntentStore, IntentSubmission
from executor.ledger.orders import OrderStore
from executor.ledger.outbox import OutboxStore
from executor.ledger.portfolio import Portfolio
from executor.ledger.risk_state import RiskInputs, RiskRecord, RiskStateStore
from executor.orders import OrderState
from executor.records import Account, Fill, NewOrder, OrderRecord, OrderUpdate, Position
from executor.trading_state import TradingState
from trading_core.timeframes import utc_now


class Ledger:
    """The executor's database. Opening it creates or upgrades the schema."""

    def __init__(self, url: str, *, mode: str = "paper", clock: Callable[[], datetime] = utc_now):
        self.db = LedgerDB(url, mode=mode, clock=clock)
        self._audit_log = AuditLog(self.db)
        self._intents = IntentStore(self.db, self._audit_log)
        self._portfolio = Portfolio(self.db, self._audit_log)
        self._fills = FillStore(self.db, self._portfolio)
        self._orders = OrderStore(self.db, self._audit_log, self._intents, self._fills)
        self._balances = BalanceStore(self.db, self._audit_log, self._portfolio)
        self._risk = RiskStateStore(self.db, self._audit_log, self._portfolio, self._orders)
        self._controls = ControlStore(self.db, self._audit_log)
        self.outbox = OutboxStore(self.db)

    @property
    def url(self) -> str:
        return self.db.url

    @property
    def mode(self) -> str:
        return self.db.mode

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def _clock(self) -> Callable[[], datetime]:
        return self.db.clock

    @_clock.setter
    def _clock(self, clock: Callable[[], datetime]) -> None:
        self.db.clock = clock

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[Connection]:
        return self.db.transaction()

    def now(self) -> datetime:
        return self.db.now()

    def claim_mode(self, mode: str) -> None:
        self._risk.claim_mode(mode)

    def check_mode(self, mode: str) -> None:
        self._risk.check_mode(mode)

    # ----------------------------------------------------------------------------- intents

    def add_intents(self, intents: list[OrderIntent]) -> int:
        return self._intents.add_intents(intents)

    def submit_intents(
        self, intents: Sequence[OrderIntent], *, source: str = "cli"
    ) -> list[IntentSubmission]:
        return self._intents.submit_intents(intents, source=source)

    def quarantine_intent(
        self, payload: str, reason: str, *, source: str, intent_id: str | None = None
    ) -> None:
        self._intents.quarantine_intent(payload, reason, source=source, intent_id=intent_id)

    def quarantined_intents(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._intents.quarantined_intents(limit)

    def intent(self, intent_id: str) -> IntentRecord | None:
        return self._intents.intent(intent_id)

    def new_intents(self, limit: int = 100) -> list[IntentRecord]:
        return self._intents.new_intents(limit)

    def set_intent_status(self, intent_id: str, status: str, reason: str | None) -> None:
        self._intents.set_intent_status(intent_id, status, reason)

    def finish_intent(self, intent_id: str, reason: str) -> None:
        self._intents.finish_intent(intent_id, reason)

    def intent_counts(self) -> dict[str, int]:
        return self._intents.intent_counts()

    # ------------------------------------------------------------------------------ orders

    def create_order(
        self,
        order: NewOrder,
        *,
        accept_intent: bool = False,
        reason: str | None = None,
        decision: dict[str, Any] | None = None,
    ) -> OrderRecord:
        return self._orders.create_order(
            order, accept_intent=accept_intent, reason=reason, decision=decision
        )

    def order(self, client_order_id: str) -> OrderRecord | None:
        return self._orders.order(client_order_id)

    def order_by_exchange_id(self, exchange: str, exchange_order_id: str) -> OrderRecord | None:
        return self._orders.order_by_exchange_id(exchange, exchange_order_id)

    def orders(
        self,
        states: Iterable[OrderState | str] | None = None,
        *,
        symbol: str | None = None,
        intent_id: str | None = None,
    ) -> list[OrderRecord]:
        return self._orders.orders(states, symbol=symbol, intent_id=intent_id)

    def live_orders(self) -> list[OrderRecord]:
        return self._orders.live_orders()

    def last_filled_sell(self, symbol: str, instance: str) -> OrderRecord | None:
        return self._orders.last_filled_sell(symbol, instance)

    def note_lookup_miss(self, client_order_id: str) -> int:
        return self._orders.note_lookup_miss(client_order_id)

    def apply_order_update(
        self, client_order_id: str, update: OrderUpdate, fills: Iterable[Fill] = ()
    ) -> OrderRecord:
        return self._orders.apply_order_update(client_order_id, update, fills)

    def record_external_order(self, order: NewOrder, update: OrderUpdate) -> bool:
        return self._orders.record_external_order(order, update)

    # ------------------------------------------------------------------------------- fills

    def record_fills(self, fills: Iterable[Fill], *, applied: bool = True) -> int:
        return self._fills.record_fills(fills, applied=applied)

    def fills_since(
        self, since: datetime | None = None, *, after_id: int | None = None
    ) -> list[Fill]:
        return self._fills.fills_since(since, after_id=after_id)

    def fill_count(self) -> int:
        return self._fills.fill_count()

    def fee_issues(self) -> list[dict[str, Any]]:
        """Fills whose fee (a third currency with no price) is not valued in quote."""
        return self._fills.fee_issues()

    def known_trade_ids(self, exchange: str, symbol: str, trade_ids: Iterable[str]) -> set[str]:
        return self._fills.known_trade_ids(exchange, symbol, trade_ids)

    # --------------------------------------------------------------------- positions, cash

    def positions(self) -> list[Position]:
        return self._portfolio.positions()

    def open_positions(self) -> list[Position]:
        return self._portfolio.open_positions()

    def dust_positions(self) -> list[Position]:
        return self._portfolio.dust_positions()

    def set_market_minimum(
        self, exchange: str, symbol: str, *, min_quantity: float, amount_step: float | None
    ) -> bool:
        return self._portfolio.set_market_minimum(
            exchange, symbol, min_quantity=min_quantity, amount_step=amount_step
        )

    def exchange_positions(self) -> list[Position]:
        return self._portfolio.exchange_positions()

    def position(
        self, exchange: str, symbol: str, instance_id: str | None = None
    ) -> Position | None:
        return self._portfolio.position(exchange, symbol, instance_id)

    def set_protection(
        self,
        exchange: str,
        symbol: str,
        *,
        stop_loss: float | None,
        take_profit: float | None,
        trailing_stop_pct: float | None,
        instance_id: str | None = None,
    ) -> None:
        self._portfolio.set_protection(
            exchange,
            symbol,
            stop_loss=stop_loss,
            take_profit=take_profit,
            trailing_stop_pct=trailing_stop_pct,
            instance_id=instance_id,
        )

    def mark_price(
        self, exchange: str, symbol: str, price: float, high: float, instance_id: str | None = None
    ) -> None:
        self._portfolio.mark_price(exchange, symbol, price, high, instance_id)

    def ensure_account(self, exchange: str, currency: str, amount: float) -> bool:
        return self._portfolio.ensure_account(exchange, currency, amount)

    def cash(self, currency: str, exchange: str | None = None) -> float:
        return self._portfolio.cash(currency, exchange)

    def account(self, quote: str = "USDT") -> Account:
        return self._portfolio.account(quote)

    # ---------------------------------------------------------------------------- balances

    def snapshot_balances(
        self, exchange: str, balances: dict[str, tuple[float, float, float]], source: str
    ) -> None:
        self._balances.snapshot_balances(exchange, balances, source)

    def record_baseline(
        self, exchange: str, totals: dict[str, float], cash: dict[str, float]
    ) -> None:
        self._balances.record_baseline(exchange, totals, cash)

    def last_known_activity(self, exchange: str) -> datetime | None:
        return self._balances.last_known_activity(exchange)

    def latest_balances(self, exchange: str, source: str) -> dict[str, float]:
        return self._balances.latest_balances(exchange, source)

    # -------------------------------------------------------------------------- risk state

    def risk_inputs(
        self, exchange: str, quote: str, day_start: datetime, trades_cap: int
    ) -> RiskInputs:
        return self._risk.risk_inputs(exchange, quote, day_start, trades_cap)

    def trading_state(self) -> TradingState:
        return self._risk.trading_state()

    def risk_record(self) -> RiskRecord:
        return self._risk.risk_record()

    def set_trading_state(self, state: TradingState | str, reason: str, actor: str) -> None:
        self._risk.set_trading_state(state, reason, actor)

    def protocol_state(self) -> str | None:
        return self._risk.protocol_state()

    def save_protocol_state(
        self, text: str, events: list[dict[str, Any]], actor: str = "protocol"
    ) -> None:
        self._risk.save_protocol_state(text, events, actor)

    def update_peak_equity(self, equity: float, *, reset: bool = False) -> float:
        return self._risk.update_peak_equity(equity, reset=reset)

    # ------------------------------------------------------------------- operator commands

    def add_command(
        self,
        command: str,
        who: str,
        why: str,
        symbol: str | None = None,
        args: dict[str, Any] | None = None,
    ) -> int:
        return self._controls.add_command(command, who, why, symbol, args)

    def commands(self, *, pending_only: bool = False, limit: int = 50) -> list[OperatorCommand]:
        return self._controls.commands(pending_only=pending_only, limit=limit)

    def mark_command_applied(self, command_id: int, result: str) -> None:
        self._controls.mark_command_applied(command_id, result)

    def operator_overrides(self) -> str | None:
        return self._controls.overrides_text()

    def save_operator_overrides(
        self, text: str, actor: str, event: str, subject: str | None, detail: dict[str, Any]
    ) -> None:
        self._controls.save_overrides(text, actor, event, subject, detail)

    # ------------------------------------------------------------------------------- audit

    def audit(self, actor: str, event: str, subject: str | None, details: dict[str, Any]) -> None:
        self._audit_log.audit(actor, event, subject, details)

    def audit_entries(self, event: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._audit_log.audit_entries(event, limit)

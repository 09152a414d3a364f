"""Risk state: the trading state, the equity peak, the ledger's mode, and the risk inputs.

One row (``id = 1``) holds the trading state (ACTIVE until someone says otherwise), why and
by whom it was set, and the peak equity the drawdown stages measure from. The mode (paper,
testnet or live) is bound on first use: paper cash and simulated fills must never mix with
an exchange account's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB
from executor.ledger.orders import OrderStore, reserved_for_buys_query, trades_since_query
from executor.ledger.portfolio import Portfolio
from executor.records import Position
from executor.trading_state import TradingState

TRADING_STATES: tuple[TradingState, ...] = tuple(TradingState)


class LedgerModeMismatch(RuntimeError):
    """The ledger belongs to another trading mode."""


@dataclass(frozen=True)
class RiskInputs:
    trading_state: TradingState
    cash: float
    equity: float
    positions: dict[str, Position]  # open positions on the executor's exchange
    live_entry_symbols: frozenset[str]
    trades_today: int  # entry and exit orders placed since the start of the day
    reserved_cash: float = 0.0  # quote committed to working limit buys (fees excluded)

    def uncommitted_cash(self, fee_rate: float) -> float:
        """Cash that working limit buys have not spoken for (their value plus its fee)."""
        return self.cash - self.reserved_cash * (1.0 + fee_rate)


@dataclass(frozen=True)
class RiskRecord:
    state: TradingState
    reason: str | None
    peak_equity: float | None
    updated_by: str
    updated_at: datetime


class RiskStateStore:
    def __init__(self, db: LedgerDB, audit: AuditLog, portfolio: Portfolio, orders: OrderStore):
        self.db = db
        self.audit = audit
        self.portfolio = portfolio
        self.orders = orders

    def claim_mode(self, mode: str) -> None:
        """Bind the ledger to one mode (paper, testnet or live) on first use.

        Paper cash and simulated fills must never mix with an exchange account's: a ledger
        used in one mode refuses another (``LedgerModeMismatch``); use another ledger URL.
        """
        with self.db.transaction() as conn:
            if self._check_mode(conn, mode) is None:
                conn.execute(
                    schema.ledger_meta.insert().values(
                        key="mode", value=mode, updated_at=self.db.now()
                    )
                )
                self.audit.record(
                    conn,
                    "executor",
                    "ledger_mode_set",
                    mode,
                    {"url_scheme": self.db.url.split(":", 1)[0]},
                )

    def check_mode(self, mode: str) -> None:
        """``LedgerModeMismatch`` if the ledger belongs to another mode; writes nothing (a
        start that is refused later must not bind the ledger to its mode)."""
        with self.db.transaction() as conn:
            self._check_mode(conn, mode)

    def _check_mode(self, conn: Connection, mode: str) -> str | None:
        t = schema.ledger_meta
        bound: str | None = conn.execute(sa.select(t.c.value).where(t.c.key == "mode")).scalar()
        if bound is not None and bound != mode:
            raise LedgerModeMismatch(
                f"this ledger was used in {bound} mode and cannot be used in {mode} "
                f"mode (paper balances must never mix with an exchange account's); point "
                "TRADING_LEDGER_URL (or TRADING_HOME) at a separate ledger for "
                f"{mode} trading"
            )
        return bound

    def trading_state(self) -> TradingState:
        """ACTIVE, REDUCING or HALTED (ACTIVE until someone says otherwise)."""
        return self.risk_record().state

    def risk_record(self) -> RiskRecord:
        with self.db.transaction() as conn:
            row = conn.execute(
                sa.select(schema.risk_state).where(schema.risk_state.c.id == 1)
            ).first()
        if row is None:
            return RiskRecord(TradingState.ACTIVE, None, None, "default", self.db.now())
        m = row._mapping
        return RiskRecord(
            TradingState(m["state"]),
            m["reason"],
            m["peak_equity"],
            m["updated_by"],
            m["updated_at"],
        )

    def set_trading_state(self, state: TradingState | str, reason: str, actor: str) -> None:
        if state not in TRADING_STATES:
            raise ValueError(
                f"trading state {state!r}; allowed: {[s.value for s in TRADING_STATES]}"
            )
        state = TradingState(state)
        with self.db.transaction() as conn:
            before = self._upsert_risk(conn, state=state, reason=reason, updated_by=actor)
            self.audit.record(
                conn, actor, "trading_state", state, {"from": before, "to": state, "reason": reason}
            )

    def update_peak_equity(self, equity: float, *, reset: bool = False) -> float:
        """Raise the recorded peak to ``equity`` (or set it, with ``reset``); return the peak."""
        t = schema.risk_state
        with self.db.transaction() as conn:
            peak: float | None = conn.execute(
                sa.select(t.c.peak_equity).where(t.c.id == 1)
            ).scalar()
            if reset or peak is None or equity > peak:
                self._upsert_risk(conn, peak_equity=equity)
                return equity
            return peak

    def _upsert_risk(self, conn: Connection, **values: Any) -> str | None:
        """Write the risk row (created ACTIVE if missing); return the state it had, if any."""
        t = schema.risk_state
        row = conn.execute(sa.select(t.c.state).where(t.c.id == 1)).first()
        values["updated_at"] = self.db.now()
        if row is None:
            conn.execute(
                t.insert().values(
                    id=1,
                    **{"state": TradingState.ACTIVE.value, "updated_by": "executor", **values},
                )
            )
            return None
        conn.execute(t.update().where(t.c.id == 1).values(**values))
        before: str = row.state
        return before

    def protocol_state(self) -> str | None:
        """The risk protocol's stored state (JSON text), None before its first start."""
        t = schema.risk_state
        with self.db.transaction() as conn:
            text: str | None = conn.execute(
                sa.select(t.c.protocol_state).where(t.c.id == 1)
            ).scalar()
            return text

    def save_protocol_state(
        self, text: str, events: list[dict[str, Any]], actor: str = "protocol"
    ) -> None:
        """Store the protocol's state and audit its events, in one transaction."""
        with self.db.transaction() as conn:
            self._upsert_risk(conn, protocol_state=text)
            for event in events:
                self.audit.record(
                    conn, actor, f"protocol_{event['kind']}"[:40], event.get("instance"), event
                )

    def risk_inputs(
        self, exchange: str, quote: str, day_start: datetime, trades_cap: int
    ) -> RiskInputs:
        """Everything the risk gate reads, in one read (one round trip per intent).

        Today's trades are counted up to ``trades_cap`` (the daily limit): the gate only
        needs to know whether the limit is reached, and a capped count stays cheap however
        busy the day was.
        """
        t = schema.risk_state
        # The state, today's trades and the reserved cash as one SELECT of three scalar
        # subqueries: one statement instead of three, in the same transaction.
        scalars = sa.select(
            sa.select(t.c.state).where(t.c.id == 1).scalar_subquery(),
            trades_since_query(day_start, trades_cap).scalar_subquery(),
            reserved_for_buys_query(exchange, quote).scalar_subquery(),
        )
        with self.db.transaction() as conn:
            state, trades, reserved = conn.execute(scalars).one()
            cash, equity, positions = self.portfolio.risk_account(conn, exchange, quote)
            entries = self.orders.live_entry_symbols(conn)
        trades = int(trades or 0)
        reserved = max(0.0, float(reserved or 0.0))
        return RiskInputs(
            trading_state=TradingState(state or TradingState.ACTIVE),
            cash=cash,
            equity=equity,
            positions=positions,
            live_entry_symbols=entries,
            trades_today=trades,
            reserved_cash=reserved,
        )

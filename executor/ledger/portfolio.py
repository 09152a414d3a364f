"""The portfolio: positions and cash, moved by fills, and the account they add up to.

Every fill is accounted by the one accounting core (``trading_core.accounting``), the same
code the trade journal and the backtester use: long and short, a flip opens the remainder at
the fill's price, a fee in the base currency reduces the position, one in the quote currency
the cash, and one in a third currency (BNB) is valued at the fill's ``fee_price`` and debits
that currency's cash. A position keeps its realized P&L gross and net of fees, and the fees
valued in quote. Positions carry their protective exits (stop-loss, take-profit, trailing
stop) and the highest price seen since entry.

Dust: a holding below the market's minimum order (its quantity, floored to the lot step,
below ``min_quantity``, e.g. what a full exit leaves when the buy's fee was paid in the base
asset) can be sold by no order. It is not an open position: ``open_positions``, the
account's open count and the risk gate's positions leave it out (it would block a re-entry
on Binance spot), ``dust_positions`` reports it, and its value still counts in equity. A
buy on top of dust opens a new position (entry time, high-water mark); an exit that leaves
dust clears the protective exits. The minimums are the executor's markets
(``set_market_minimum``, kept in ``ledger_meta`` so every process reading the ledger, the
code location too, applies them); a market without one has no dust.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from executor import schema
from executor.ledger.audit import AuditLog
from executor.ledger.db import LedgerDB, insert
from executor.ledger.dust import (
    is_dust,
    minimum_key,
    minimums_query,
    parse_minimums,
    read_minimums,
    write_minimum,
)
from executor.ledger.sub_positions import combine, split_fill
from executor.records import QTY_EPSILON, Account, Fill, Position
from trading_core.accounting import AccountingError, Book, Execution, apply_execution, fee_in_quote
from trading_core.config_portfolio import DEFAULT_INSTANCE


def base_currency(symbol: str) -> str:
    return symbol.split("/", 1)[0]


def quote_currency(symbol: str) -> str:
    return symbol.split("/", 1)[1].split(":", 1)[0]


def execution_of(fill: Fill) -> Execution:
    return Execution(
        side=fill.side,
        quantity=fill.quantity,
        price=fill.price,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        fee_price=fill.fee_price,
    )


def value_fee(fill: Fill) -> tuple[float | None, str | None]:
    """The fill's fee in quote, or (None, why) when it is in a third currency whose price is
    unknown or unusable. A fill the core refuses otherwise (NaN quantity, negative fee, an
    unknown side) raises ``AccountingError`` naming the field."""
    base, quote = base_currency(fill.symbol), quote_currency(fill.symbol)
    e = execution_of(fill)
    third = fill.fee_currency not in (None, base, quote)
    if not third:
        return fee_in_quote(e, base, quote), None
    fee_in_quote(dataclasses.replace(e, fee=0.0, fee_price=None), base, quote)  # the rest
    try:
        return fee_in_quote(e, base, quote), None
    except AccountingError as exc:
        if "fee_price" not in str(exc):
            raise
        return None, (
            f"fee {fill.fee:g} {fill.fee_currency} not valued: {exc}; "
            f"left out of fees_quote and realized_pnl_net"
        )


class Portfolio:
    def __init__(self, db: LedgerDB, audit: AuditLog):
        self.db = db
        self.audit = audit

    def apply_fill(
        self,
        conn: Connection,
        fill: Fill,
        *,
        entry_intent_id: str | None,
        strategy: str | None,
        fee_valued: bool = True,
    ) -> None:
        """Move the fill's instance's sub-position and the cash by one fill, in the caller's
        transaction. A fill naming no instance is shared among the sub-positions it reduces
        (``sub_positions.split_fill``).

        ``fee_valued=False`` (a third-currency fee with no price, flagged on the fill row):
        the fee still debits its currency, but is not counted in ``fees_quote``.
        """
        t = schema.positions
        if fill.instance_id is None:
            rows = conn.execute(
                sa.select(t).where(t.c.exchange == fill.exchange, t.c.symbol == fill.symbol)
            )
            subs = [_position_from_row(r) for r in rows]
            parts = split_fill(fill, subs, DEFAULT_INSTANCE)
        else:
            parts = [fill]
        for part in parts:
            self._apply_part(
                conn, part, entry_intent_id=entry_intent_id, strategy=strategy,
                fee_valued=fee_valued,
            )  # fmt: skip

    def _apply_part(
        self,
        conn: Connection,
        fill: Fill,
        *,
        entry_intent_id: str | None,
        strategy: str | None,
        fee_valued: bool,
    ) -> None:
        now = self.db.now()
        base, quote = base_currency(fill.symbol), quote_currency(fill.symbol)
        t = schema.positions
        instance = fill.instance_id or DEFAULT_INSTANCE
        key = (
            t.c.exchange == fill.exchange,
            t.c.symbol == fill.symbol,
            t.c.instance_id == instance,
        )
        pos = conn.execute(sa.select(t).where(*key)).first()
        rules = read_minimums(conn).get(minimum_key(fill.exchange, fill.symbol))
        book = (
            Book(pos.quantity, pos.avg_entry_price, pos.realized_pnl_gross, pos.fees_quote)
            if pos
            else Book()
        )
        e = execution_of(fill)
        if not fee_valued:
            e = dataclasses.replace(e, fee=0.0, fee_price=None)
        applied = apply_execution(book, e, base, quote)
        after = applied.book
        values: dict[str, Any] = {
            "quantity": after.quantity,
            "avg_entry_price": after.average_cost,
            "realized_pnl_gross": after.realized_gross,
            "realized_pnl_net": after.realized_net,
            "fees_quote": after.fees_quote,
            "last_price": fill.price,
            "updated_at": now,
        }
        old_qty = book.quantity
        was_flat = abs(old_qty) <= QTY_EPSILON or is_dust(old_qty, rules)
        opening = (
            was_flat and abs(after.quantity) > QTY_EPSILON and not is_dust(after.quantity, rules)
        )
        left_dust = abs(after.quantity) < abs(old_qty) and is_dust(after.quantity, rules)
        if opening:
            values.update(
                opened_at=fill.event_time,
                entry_intent_id=entry_intent_id,
                strategy=strategy,
                high_water=fill.price,
            )
        elif abs(after.quantity) <= QTY_EPSILON or left_dust:
            values.update(stop_loss=None, take_profit=None, trailing_stop_pct=None, high_water=None)
        if pos is None:
            conn.execute(
                t.insert().values(
                    exchange=fill.exchange, symbol=fill.symbol, instance_id=instance, **values
                )
            )
        else:
            conn.execute(t.update().where(*key).values(**values))
        self._move_cash(conn, fill.exchange, quote, applied.quote_delta)
        if applied.fee_asset not in (base, quote) and fill.fee:
            self._move_cash(conn, fill.exchange, applied.fee_asset, -fill.fee)

    def _move_cash(self, conn: Connection, exchange: str, currency: str, delta: float) -> None:
        t = schema.cash
        updated = conn.execute(
            t.update()
            .where(t.c.exchange == exchange, t.c.currency == currency)
            .values(amount=t.c.amount + delta, updated_at=self.db.now())
        )
        if updated.rowcount == 0:
            conn.execute(
                t.insert().values(
                    exchange=exchange, currency=currency, amount=delta, updated_at=self.db.now()
                )
            )

    # --------------------------------------------------------------------------- positions

    def positions(self) -> list[Position]:
        """Every sub-position (one per exchange, symbol and instance)."""
        t = schema.positions
        with self.db.transaction() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.symbol, t.c.exchange, t.c.instance_id))
            return [_position_from_row(r) for r in rows]

    def open_positions(self) -> list[Position]:
        """Sub-positions with a non-zero quantity that is not dust."""
        return self._held()[0]

    def dust_positions(self) -> list[Position]:
        """Sub-positions below their market's minimum order (module docstring)."""
        return self._held()[1]

    def _held(self) -> tuple[list[Position], list[Position]]:
        """(open, dust): the non-flat sub-positions, split by the markets' minimums."""
        t = schema.positions
        with self.db.transaction() as conn:
            minimums = read_minimums(conn)
            rows = conn.execute(sa.select(t).order_by(t.c.symbol, t.c.exchange, t.c.instance_id))
            held = [p for p in map(_position_from_row, rows) if abs(p.quantity) > QTY_EPSILON]
        open_held: list[Position] = []
        dust: list[Position] = []
        for p in held:
            rules = minimums.get(minimum_key(p.exchange, p.symbol))
            (dust if is_dust(p.quantity, rules) else open_held).append(p)
        return open_held, dust

    def set_market_minimum(
        self, exchange: str, symbol: str, *, min_quantity: float, amount_step: float | None
    ) -> bool:
        """Store a market's minimum order (what makes a holding dust); False when unchanged.
        Raises ``ValueError`` naming the field for a negative, NaN or infinite value."""
        with self.db.transaction() as conn:
            return write_minimum(conn, exchange, symbol, min_quantity, amount_step, self.db.now())

    def exchange_positions(self) -> list[Position]:
        """The positions the exchange holds: the sum of the sub-positions per symbol."""
        by_key: dict[tuple[str, str], list[Position]] = {}
        for p in self.positions():
            by_key.setdefault((p.exchange, p.symbol), []).append(p)
        return [combine(subs) for subs in by_key.values()]

    def position(
        self, exchange: str, symbol: str, instance_id: str | None = None
    ) -> Position | None:
        """One instance's sub-position, or (no instance named) the exchange position: the sum
        of every instance's (``sub_positions.combine``)."""
        t = schema.positions
        query = sa.select(t).where(t.c.exchange == exchange, t.c.symbol == symbol)
        if instance_id is not None:
            query = query.where(t.c.instance_id == instance_id)
        with self.db.transaction() as conn:
            rows = [_position_from_row(r) for r in conn.execute(query)]
        return combine(rows) if rows else None

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
        """Attach protective exits (watched by the executor) to an instance's open
        sub-position (every instance's when none is named)."""
        t = schema.positions
        where = [t.c.exchange == exchange, t.c.symbol == symbol]
        if instance_id is not None:
            where.append(t.c.instance_id == instance_id)
        with self.db.transaction() as conn:
            conn.execute(
                t.update()
                .where(*where)
                .values(
                    stop_loss=stop_loss,
                    take_profit=take_profit,
                    trailing_stop_pct=trailing_stop_pct,
                    updated_at=self.db.now(),
                )
            )

    def mark_price(
        self, exchange: str, symbol: str, price: float, high: float, instance_id: str | None = None
    ) -> None:
        """Record the latest price and the highest price seen since entry (trailing stops),
        on one instance's sub-position or (none named) on every instance's."""
        t = schema.positions
        where = [t.c.exchange == exchange, t.c.symbol == symbol]
        if instance_id is not None:
            where.append(t.c.instance_id == instance_id)
        with self.db.transaction() as conn:
            conn.execute(
                t.update()
                .where(*where)
                .values(
                    last_price=price,
                    high_water=sa.func.coalesce(
                        sa.case((t.c.high_water > high, t.c.high_water), else_=high), high
                    ),
                    updated_at=self.db.now(),
                )
            )

    # -------------------------------------------------------------------------------- cash

    def ensure_account(self, exchange: str, currency: str, amount: float) -> bool:
        """Seed the cash balance once (paper: starting cash). False if it already exists."""
        with self.db.transaction() as conn:
            created = self.seed_cash(conn, exchange, currency, amount, self.db.now())
            if created:
                self.audit.record(
                    conn, "executor", "account_seeded", f"{exchange}:{currency}", {"amount": amount}
                )
            return created

    def seed_cash(
        self, conn: Connection, exchange: str, currency: str, amount: float, at: datetime
    ) -> bool:
        """Open a cash account at ``amount`` unless it exists (then False), in the caller's
        transaction."""
        stmt = (
            insert(conn, schema.cash)
            .values(exchange=exchange, currency=currency, amount=amount, updated_at=at)
            .on_conflict_do_nothing(index_elements=["exchange", "currency"])
            .returning(schema.cash.c.amount)
        )
        return conn.execute(stmt).first() is not None

    def cash(self, currency: str, exchange: str | None = None) -> float:
        with self.db.transaction() as conn:
            return self.cash_in(conn, currency, exchange)

    def cash_in(self, conn: Connection, currency: str, exchange: str | None = None) -> float:
        """The cash in ``currency`` (on every exchange unless one is named)."""
        return float(conn.execute(cash_query(currency, exchange)).scalar_one())

    def account(self, quote: str = "USDT") -> Account:
        """Cash plus positions quoted in ``quote``, valued at their last known prices.

        Cash is zero until the executor has seeded the account (``ensure_account``).
        """
        open_held, dust = self._held()
        held = [p for p in open_held + dust if quote_currency(p.symbol) == quote]
        cash = self.cash(quote)
        value = sum(p.market_value for p in held)  # dust is worth something too
        count = sum(1 for p in open_held if quote_currency(p.symbol) == quote)
        return Account(quote, cash, value, cash + value, count)

    def risk_account(
        self, conn: Connection, exchange: str, quote: str
    ) -> tuple[float, float, dict[str, Position]]:
        """The account part of the risk inputs, in the caller's transaction: cash in
        ``quote``, equity (that cash plus the open positions quoted in it) and the open
        positions on ``exchange`` by symbol (the exchange's: the instances' sub-positions
        summed). A symbol whose summed holding is dust is not among the positions (it
        would count against ``max_open_positions`` and block a re-entry); its value is
        in the equity."""
        cash, minimums_text = conn.execute(
            sa.select(cash_query(quote).scalar_subquery(), minimums_query().scalar_subquery())
        ).one()  # one round trip for the two scalars
        cash = float(cash)
        minimums = parse_minimums(minimums_text)
        held = [_position_from_row(r) for r in conn.execute(sa.select(schema.positions))]
        open_held = [x for x in held if abs(x.quantity) > QTY_EPSILON]
        quoted = [x for x in open_held if quote_currency(x.symbol) == quote]
        equity = cash + sum(x.market_value for x in quoted)
        by_symbol: dict[str, list[Position]] = {}
        for x in open_held:
            if x.exchange == exchange:
                by_symbol.setdefault(x.symbol, []).append(x)
        combined = {symbol: combine(subs) for symbol, subs in by_symbol.items()}
        return (
            cash,
            equity,
            {
                symbol: p
                for symbol, p in combined.items()
                if not is_dust(p.quantity, minimums.get(minimum_key(exchange, symbol)))
            },
        )


def cash_query(currency: str, exchange: str | None = None) -> sa.Select[Any]:
    """The SELECT behind ``Portfolio.cash_in`` (0.0 when no cash row matches)."""
    t = schema.cash
    query = sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0.0)).where(
        t.c.currency == currency
    )
    if exchange is not None:
        query = query.where(t.c.exchange == exchange)
    return query


def _position_from_row(row: Any) -> Position:
    return Position(**dict(row._mapping))

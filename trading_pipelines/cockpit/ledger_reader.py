"""What the cockpit reads from the executor's ledger: plain SQL reads, never a write.

Trading pages need nothing but the ledger (no warehouse, no Dagster). Lists are newest
first and paged by row id (``before_id``), so a page costs its ``limit`` rows whatever the
ledger holds; the equity curve is kept incrementally (``equity.EquityCurve``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa

from executor import schema
from executor.ledger import Ledger
from executor.records import Account
from trading_pipelines.cockpit.equity import EquityCurve, FillFlow, drawdowns, sample_indices

MAX_LIMIT = 1000


def _reason(order_reason: str | None, intent_reasons: str | None) -> str:
    """The strategy's ``why`` from the order's intent, else the order's own reason (operator,
    protective and backstop orders have no intent)."""
    reasons = None
    if intent_reasons:
        try:
            reasons = json.loads(intent_reasons)
        except ValueError:
            return intent_reasons
    if isinstance(reasons, dict) and reasons.get("why"):
        return str(reasons["why"])
    if order_reason:
        return order_reason
    return json.dumps(reasons, sort_keys=True, default=str) if reasons else ""


def fill_flow_columns() -> list[Any]:
    """The fills table's columns of a ``FillFlow``, in its fields' order."""
    return [schema.fills.c[field.name] for field in dataclasses.fields(FillFlow)]


class LedgerReader:
    def __init__(self, ledger: Ledger, quote: str):
        self.ledger = ledger
        self.quote = quote
        self._curve = EquityCurve()
        self._lock = threading.Lock()
        self._cached: _Series | None = None

    def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        with self.ledger.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def account(self) -> Account:
        return self.ledger.account(self.quote)

    def positions(self) -> list[dict[str, Any]]:
        out = []
        for p in self.ledger.open_positions():
            out.append(
                {
                    "symbol": p.symbol,
                    "exchange": p.exchange,
                    "instance": p.instance_id,
                    "strategy": p.strategy,
                    "quantity": p.quantity,
                    "avg_entry_price": p.avg_entry_price,
                    "last_price": p.last_price,
                    "market_value": p.market_value,
                    "unrealized_pnl": p.unrealized_pnl,
                    "realized_pnl": p.realized_pnl_net,
                    "realized_pnl_gross": p.realized_pnl_gross,
                    "fees": p.fees_quote,
                    "stop_loss": p.stop_loss,
                    "take_profit": p.take_profit,
                    "trailing_stop_pct": p.trailing_stop_pct,
                    "opened_at": p.opened_at,
                }
            )
        return out

    def trades(self, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
        """Orders that traded (any filled quantity), with the reason they were placed."""
        o, i = schema.orders, schema.intents
        query = (
            sa.select(
                o.c.id,
                o.c.created_at,
                o.c.updated_at,
                o.c.exchange,
                o.c.symbol,
                o.c.side,
                o.c.role,
                o.c.order_type,
                o.c.state,
                o.c.filled_quantity,
                o.c.average_price,
                o.c.fee,
                o.c.fee_currency,
                o.c.strategy,
                o.c.intent_id,
                o.c.client_order_id,
                o.c.reason.label("order_reason"),
                i.c.reasons.label("intent_reasons"),
            )
            .select_from(o.outerjoin(i, i.c.intent_id == o.c.intent_id))
            .where(o.c.filled_quantity > 0)
            .order_by(o.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(o.c.id < before_id)
        rows = self._rows(query)
        for row in rows:
            row["reason"] = _reason(row.pop("order_reason"), row.pop("intent_reasons"))
        return rows

    def fills(self, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
        f = schema.fills
        query = (
            sa.select(
                f.c.id,
                f.c.event_time,
                f.c.exchange,
                f.c.symbol,
                f.c.side,
                f.c.quantity,
                f.c.price,
                f.c.fee,
                f.c.fee_currency,
                f.c.liquidity,
                f.c.strategy,
                f.c.client_order_id,
                f.c.trade_id,
                f.c.applied,
                f.c.mode,
            )
            .order_by(f.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(f.c.id < before_id)
        return self._rows(query)

    def commands(self, limit: int = 20) -> list[dict[str, Any]]:
        return [vars(c) for c in self.ledger.commands(limit=limit)]

    def _refresh_curve(self) -> EquityCurve:
        f = schema.fills
        query = (
            sa.select(*fill_flow_columns())
            .where(f.c.id > self._curve.last_fill_id, f.c.applied.is_(True))
            .where(f.c.symbol.like(f"%/{self.quote}%"))
            .order_by(f.c.id)
        )
        with self.ledger.engine.connect() as conn:
            flows = [FillFlow(*row) for row in conn.execute(query)]
        self._curve.update(flows)
        return self._curve

    def _series(self, cash_now: float) -> _Series:
        """The curve's equity and drawdown after every fill, rebuilt only when a fill (or
        the cash) changed since the last request."""
        curve = self._refresh_curve()
        key = (curve.last_fill_id, len(curve.steps), cash_now)
        if self._cached is None or self._cached.key != key:
            points = curve.points(cash_now)
            values = [v for _, v in points]
            dds = drawdowns(values)
            self._cached = _Series(
                key=key,
                points=points,
                drawdowns=dds,
                peak=max(values, default=-math.inf),
                start_cash=cash_now - curve.flows_total,
                max_drawdown=max(dds, default=0.0),
            )
        return self._cached

    def equity(self, max_points: int = 400) -> dict[str, Any]:
        """Equity after every fill plus now (marked at the executor's last prices),
        downsampled, with the drawdown at each point and today's P&L (UTC day)."""
        account = self.account()
        now = self.ledger.now()
        with self._lock:
            series = self._series(account.cash)
        points, dds = series.points, series.drawdowns
        tail: list[tuple[datetime, float, float]] = []
        if points or account.equity:
            peak = max(series.peak, account.equity)
            tail = [
                (
                    max(now, points[-1][0]) if points else now,
                    account.equity,
                    0.0 if peak <= 0 else (peak - account.equity) / peak,
                )
            ]
        midnight = datetime.combine(now.date(), time())
        day_start = series.value_before(midnight)
        length = len(points) + len(tail)
        shown = [
            (*points[i], dds[i]) if i < len(points) else tail[0]
            for i in sample_indices(length, max_points)
        ]
        all_dds = [*dds[-1:], *(t[2] for t in tail)]
        return {
            "quote": self.quote,
            "equity": account.equity,
            "cash": account.cash,
            "today_pnl": account.equity - day_start,
            "max_drawdown": max([series.max_drawdown, *(t[2] for t in tail)]),
            "current_drawdown": all_dds[-1] if all_dds else 0.0,
            "points": [{"at": at, "equity": v, "drawdown": d} for at, v, d in shown],
        }


@dataclass
class _Series:
    key: tuple[int, int, float]
    points: list[tuple[datetime, float]]
    drawdowns: list[float]
    peak: float
    start_cash: float
    max_drawdown: float
    _day: tuple[datetime, float] | None = None

    def value_before(self, moment: datetime) -> float:
        """Equity after the last fill before ``moment`` (the start cash if none)."""
        if self._day is None or self._day[0] != moment:
            before = [v for at, v in self.points if at < moment]
            self._day = (moment, before[-1] if before else self.start_cash)
        return self._day[1]

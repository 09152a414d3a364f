"""The ccxt broker's account reads for reconciliation: orders, open orders, trades, balances.

``trades_since`` pages forward through the account's trades (Binance answers at most
``TRADES_PAGE`` trades and one day per request).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import ccxt

from executor.brokers.ccxt_calls import CcxtCalls

TRADES_PAGE = 1000
DAY_MS = 86_400_000


class CcxtAccount(CcxtCalls):
    """What the account holds, read for reconciliation (safe to repeat)."""

    def order_by_id(self, symbol: str, exchange_order_id: str) -> dict[str, Any] | None:
        """Any order on the account by exchange id (ours or not)."""
        self._ensure_markets()
        try:
            found: dict[str, Any] = self._read(
                "fetch_order", lambda: self.client.fetch_order(exchange_order_id, symbol)
            )
            return found
        except ccxt.OrderNotFound:
            return None

    def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        self._ensure_markets()
        return self._read("fetch_open_orders", lambda: self.client.fetch_open_orders(symbol))

    def trades_since(self, symbol: str, since: datetime | None) -> list[dict[str, Any]]:
        """Our trades from ``since`` (None: the exchange's recent ones), paging forward.

        Binance answers at most 1,000 trades and one day per request, so the window moves
        forward by the last trade's time (or by a day when a day is empty) until now.
        """
        self._ensure_markets()
        if since is None:
            return self._read("fetch_my_trades", lambda: self.client.fetch_my_trades(symbol))
        cursor = int(since.replace(tzinfo=UTC).timestamp() * 1000)
        now = self.client.milliseconds()
        found: dict[str, dict[str, Any]] = {}
        while cursor <= now:
            start = cursor

            def fetch_page(start: int = start) -> list[dict[str, Any]]:
                trades: list[dict[str, Any]] = self.client.fetch_my_trades(
                    symbol, start, TRADES_PAGE
                )
                return trades

            page = self._read("fetch_my_trades", fetch_page)
            for trade in page:
                found[str(trade["id"])] = trade
            if len(page) >= TRADES_PAGE:
                cursor = max(int(page[-1]["timestamp"]), start + 1)
            else:
                cursor = start + DAY_MS
        return sorted(found.values(), key=lambda t: (t["timestamp"], str(t["id"])))

    def balances(self) -> dict[str, tuple[float, float, float]]:
        raw = self._read("fetch_balance", self.client.fetch_balance)
        totals = raw.get("total") or {}
        return {
            cur: (
                float(raw["free"].get(cur) or 0.0),
                float(raw["used"].get(cur) or 0.0),
                float(total or 0.0),
            )
            for cur, total in totals.items()
        }

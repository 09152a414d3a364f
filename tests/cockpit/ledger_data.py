"""A ledger filled through the real ledger API: round trips of intents, orders and fills.

Trade ``k`` is an entry (buy) when ``k`` is even and the exit (sell) of the same quantity
when odd, alternating BTC/USDT and ETH/USDT in pairs; each order fills in ``fills_per_trade``
equal parts with a 0.1 % fee in USDT. With an odd number of trades the last entry stays open.
Prices follow a seeded walk, so every run builds the same ledger.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import Fill, NewOrder, OrderUpdate
from tests.executor.helpers import make_intent

START = datetime(2026, 11, 20, 0, 0)
STARTING_CASH = 100_000.0
FEE_RATE = 0.001
SYMBOLS = ("BTC/USDT", "ETH/USDT")
BASE_PRICE = {"BTC/USDT": 60_000.0, "ETH/USDT": 3_000.0}


def populate(
    ledger: Ledger,
    trades: int,
    fills_per_trade: int = 1,
    *,
    start: datetime = START,
    step: timedelta = timedelta(minutes=1),
    seed: int = 11,
    prefix: str = "tp",
) -> list[dict]:
    """Write ``trades`` filled orders; returns what was written (one dict per trade)."""
    rng = random.Random(seed)
    ledger.ensure_account("sim", "USDT", STARTING_CASH)
    prices = dict(BASE_PRICE)
    plan = []
    for k in range(trades):
        symbol = SYMBOLS[(k // 2) % 2]
        prices[symbol] *= 1 + rng.uniform(-0.01, 0.011)
        entry = k % 2 == 0
        qty = round(1000.0 / prices[symbol], 6) if entry else plan[-1]["quantity"]
        at = start + k * step
        plan.append(
            {
                "k": k,
                "symbol": symbol,
                "side": "buy" if entry else "sell",
                "action": "open" if entry else "close",
                "quantity": qty,
                "price": round(prices[symbol], 2),
                "at": at,
                "why": f"macd {'cross up' if entry else 'cross down'} #{k}",
            }
        )
    intents = [
        make_intent(
            t["symbol"],
            action=t["action"],
            bar_ts=t["at"],
            notional=None,
            quantity=t["quantity"],
            reasons={"why": t["why"]},
        )
        for t in plan
    ]
    ledger.add_intents(intents)
    for t, intent in zip(plan, intents, strict=True):
        cid = f"{prefix}-{t['k']:06d}"
        ledger.create_order(
            NewOrder(
                client_order_id=cid,
                exchange="sim",
                symbol=t["symbol"],
                side=t["side"],
                order_type="market",
                role="entry" if t["side"] == "buy" else "exit",
                quantity=t["quantity"],
                intent_id=intent.intent_id,
                strategy="macd",
            ),
            accept_intent=True,
            reason="accepted",
        )
        part = t["quantity"] / fills_per_trade
        fee = part * t["price"] * FEE_RATE
        fills = [
            Fill(
                exchange="sim",
                trade_id=f"{cid}-{j}",
                symbol=t["symbol"],
                side=t["side"],
                quantity=part,
                price=t["price"],
                fee=fee,
                fee_currency="USDT",
                liquidity="taker",
                event_time=t["at"] + timedelta(seconds=j),
                client_order_id=cid,
                strategy="macd",
            )
            for j in range(fills_per_trade)
        ]
        ledger.apply_order_update(
            cid,
            OrderUpdate(
                OrderState.FILLED,
                exchange_order_id=f"x-{cid}",
                filled_quantity=t["quantity"],
                average_price=t["price"],
                fee=fee * fills_per_trade,
                fee_currency="USDT",
            ),
            fills,
        )
        t["fee"] = fee * fills_per_trade
    return plan


# Three instances and the risk protocol (tier 2 of the default tiers' 4 once stored).
PORTFOLIO_YAML = """
strategies:
  - {id: a, strategy: macd, symbols: [BTC/USDT], timeframe: 1m, allocation: 0.3}
  - {id: b, strategy: macd, symbols: [ETH/USDT], timeframe: 5m, allocation: 0.3,
     risk_profile: low}
  - {id: c, strategy: macd, symbols: [BTC/USDT, ETH/USDT], timeframe: 1h, allocation: 0.3}
"""


def instance_fill(
    symbol: str, side: str, quantity: float, price: float, fee: float, at: datetime,
    instance: str, trade_id: str,
) -> Fill:  # fmt: skip
    return Fill("sim", trade_id, symbol, side, quantity, price, fee, "USDT", "taker", at,  # type: ignore[arg-type]
                strategy="macd", instance_id=instance)  # fmt: skip


def populate_instances(ledger: Ledger, now: datetime) -> dict[str, dict[str, float]]:
    """A day of three configured instances and one no longer configured (``old``), with
    fills before and after UTC midnight; what each instance row must show, computed by
    hand (today's P&L = cash moved today + held now at the marks - held at midnight at the
    last fill price before it)::

        a   yesterday buy 1 BTC @ 50,000                 now marked 53,000
        b   yesterday buy 10 ETH @ 3,000; today sell 4 @ 3,100, fee 1
        c   today buy 0.5 BTC @ 52,000, fee 2
        old yesterday buy 0.1 ETH @ 3,000               ETH marked 3,100
    """
    midnight = datetime.combine(now.date(), datetime.min.time())
    yesterday, today = midnight - timedelta(hours=12), midnight + (now - midnight) / 2
    ledger.ensure_account("sim", "USDT", STARTING_CASH)
    ledger.record_fills([
        instance_fill("BTC/USDT", "buy", 1.0, 50_000.0, 0.0, yesterday, "a", "i-1"),
        instance_fill("ETH/USDT", "buy", 10.0, 3_000.0, 0.0, yesterday, "b", "i-2"),
        instance_fill("ETH/USDT", "buy", 0.1, 3_000.0, 0.0, yesterday, "old", "i-3"),
        instance_fill("ETH/USDT", "sell", 4.0, 3_100.0, 1.0, today, "b", "i-4"),
        instance_fill("BTC/USDT", "buy", 0.5, 52_000.0, 2.0, today, "c", "i-5"),
    ])  # fmt: skip
    ledger.mark_price("sim", "BTC/USDT", 53_000.0, 53_000.0)
    ledger.mark_price("sim", "ETH/USDT", 3_100.0, 3_100.0)
    return {
        "a": {"quantity": 1.0, "unrealized": 3_000.0, "today": 53_000.0 - 50_000.0},
        "b": {"quantity": 6.0, "unrealized": 600.0,
              "today": (4 * 3_100.0 - 1.0) + 6 * 3_100.0 - 10 * 3_000.0},
        "c": {"quantity": 0.5, "unrealized": 500.0,
              "today": (-0.5 * 52_000.0 - 2.0) + 0.5 * 53_000.0},
        "old": {"quantity": 0.1, "unrealized": 10.0, "today": 0.1 * 3_100.0 - 0.1 * 3_000.0},
    }  # fmt: skip

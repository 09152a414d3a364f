"""Schema migrations: a ledger written by an older executor is upgraded in place, data kept."""

from datetime import datetime

import pytest
import sqlalchemy as sa

from executor import schema
from executor.intents import OrderIntent, make_intent_id
from executor.ledger import Ledger
from executor.migrations import LedgerSchemaError, current_version, upgrade


def intent(post_only: bool = False, minute: int = 0) -> OrderIntent:
    bar = datetime(2026, 1, 1, 10, minute)
    return OrderIntent(
        intent_id=make_intent_id("macd", "sim", "BTC/USDT", "1m", bar, "open"),
        strategy="macd", exchange="sim", symbol="BTC/USDT", timeframe="1m", bar_ts=bar,
        decided_at=bar, side="buy", action="open", order_type="limit", notional=100.0,
        limit_price=60_000.0, reference_price=60_100.0, post_only=post_only,
    )  # fmt: skip


V3_TABLES = (schema.executor_lease, schema.ledger_meta, schema.intent_quarantine)


def as_version(url: str, version: int) -> None:
    """What an executor of an older schema version left behind."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if version < 3:
            for table in V3_TABLES:
                table.drop(conn)
        if version < 2:
            conn.execute(sa.text("ALTER TABLE intents DROP COLUMN post_only"))
        conn.execute(schema.schema_version.delete())
        conn.execute(
            schema.schema_version.insert().values(
                version=version, applied_at=datetime(2026, 1, 1), description="as of old"
            )
        )
    engine.dispose()


def as_version_1(url: str) -> None:
    as_version(url, 1)


def test_a_version_1_ledger_is_upgraded_and_keeps_its_intents(ledger_url: str) -> None:
    old = Ledger(ledger_url)
    old.close()
    as_version_1(ledger_url)
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(
            schema.intents.insert().values(
                {k: v for k, v in intent().to_row().items() if k != "post_only"}
                | {
                    "status": "NEW",
                    "created_at": datetime(2026, 1, 1),
                    "updated_at": datetime(2026, 1, 1),
                }
            )
        )
    engine.dispose()
    ledger = Ledger(ledger_url)  # opening upgrades
    with ledger.transaction() as conn:
        assert current_version(conn) == schema.SCHEMA_VERSION
    [kept] = ledger.new_intents()
    assert kept.intent.intent_id == intent().intent_id and kept.intent.post_only is False
    assert ledger.add_intents([intent(post_only=True, minute=1)]) == 1
    assert [r.intent.post_only for r in ledger.new_intents()] == [False, True]
    ledger.close()


def test_a_ledger_newer_than_the_executor_is_refused(sqlite_url: str) -> None:
    Ledger(sqlite_url).close()
    engine = sa.create_engine(sqlite_url)
    with pytest.raises(LedgerSchemaError, match="newer than this executor"):
        upgrade(engine, target=1)
    engine.dispose()


def test_a_version_2_ledger_with_open_orders_and_positions_upgrades_and_trades_on(
    ledger_url: str,
) -> None:
    """Today's (v2) ledger in the middle of trading: an open limit order, a position with its
    stop, cash. The upgrade keeps every row; the lease, mode and quarantine work after it."""
    from executor.lease import Lease
    from executor.orders import OrderState
    from executor.records import Fill, NewOrder, OrderUpdate

    old = Ledger(ledger_url)
    old.ensure_account("sim", "USDT", 1_000.0)
    old.add_intents([intent(minute=1), intent(minute=2)])
    [first, second] = old.new_intents()
    bought = old.create_order(
        NewOrder(
            client_order_id="cid-filled",
            exchange="sim",
            symbol="BTC/USDT",
            side="buy",
            order_type="market",
            role="entry",
            quantity=0.01,
            intent_id=first.intent.intent_id,
            strategy="macd",
        ),
        accept_intent=True,
    )
    old.apply_order_update(
        bought.client_order_id,
        OrderUpdate(
            OrderState.FILLED, filled_quantity=0.01, average_price=60_000.0, exchange_order_id="x1"
        ),
        [
            Fill(
                exchange="sim",
                trade_id="t1",
                symbol="BTC/USDT",
                side="buy",
                quantity=0.01,
                price=60_000.0,
                fee=0.6,
                fee_currency="USDT",
                liquidity="taker",
                event_time=datetime(2026, 1, 1, 10, 2),
                client_order_id="cid-filled",
                intent_id=first.intent.intent_id,
                strategy="macd",
            )
        ],
    )
    old.set_protection(
        "sim", "BTC/USDT", stop_loss=58_000.0, take_profit=None, trailing_stop_pct=None
    )
    resting = old.create_order(
        NewOrder(
            client_order_id="cid-open",
            exchange="sim",
            symbol="BTC/USDT",
            side="buy",
            order_type="limit",
            role="entry",
            quantity=0.01,
            price=59_000.0,
            intent_id=second.intent.intent_id,
            strategy="macd",
        ),
        accept_intent=True,
    )
    old.apply_order_update(
        resting.client_order_id, OrderUpdate(OrderState.OPEN, exchange_order_id="x2")
    )
    before = {
        "orders": [(o.client_order_id, o.state) for o in old.orders()],
        "position": old.position("sim", "BTC/USDT"),
        "cash": old.cash("USDT", "sim"),
        "fills": old.fill_count(),
    }
    old.close()
    as_version(ledger_url, 2)

    ledger = Ledger(ledger_url)  # opening upgrades
    with ledger.transaction() as conn:
        assert current_version(conn) == schema.SCHEMA_VERSION
    assert [(o.client_order_id, o.state) for o in ledger.orders()] == before["orders"]
    assert ledger.position("sim", "BTC/USDT") == before["position"]
    assert ledger.position("sim", "BTC/USDT").stop_loss == 58_000.0
    assert ledger.cash("USDT", "sim") == before["cash"]
    assert ledger.fill_count() == before["fills"]
    lease = Lease(ledger.engine, mode="paper")
    assert lease.acquire() == 1
    ledger.claim_mode("paper")
    ledger.quarantine_intent("{not json", "not JSON", source="test")
    assert ledger.quarantined_intents()[0]["reason"] == "not JSON"
    lease.release()
    ledger.close()


def test_orders_the_executor_gave_up_on_become_given_up_and_exchange_rejections_stay(
    ledger_url: str,
) -> None:
    from executor.orders import OrderState
    from executor.records import NewOrder, OrderUpdate

    old = Ledger(ledger_url)
    for cid, reason in (
        (
            "cid-lost",
            "the exchange has no order cid-lost after 5 lookups: the submit never arrived",
        ),
        ("cid-refused", "binance: Account has insufficient balance"),
    ):
        order = old.create_order(
            NewOrder(client_order_id=cid, exchange="sim", symbol="BTC/USDT", side="buy",
                     order_type="market", role="entry", quantity=0.01)
        )  # fmt: skip
        old.apply_order_update(
            order.client_order_id, OrderUpdate(OrderState.REJECTED, reason=reason)
        )
    old.close()
    as_version(ledger_url, 3)
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:  # what a v3 executor wrote for an order it gave up on
        conn.execute(
            sa.text("UPDATE orders SET state = 'REJECTED' WHERE client_order_id = 'cid-lost'")
        )
    engine.dispose()
    ledger = Ledger(ledger_url)
    assert ledger.order("cid-lost").state == OrderState.GIVEN_UP
    assert ledger.order("cid-refused").state == OrderState.REJECTED
    ledger.close()

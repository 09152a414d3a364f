"""Schema migrations: a ledger written by an older executor is upgraded in place, data kept."""

import dataclasses
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


V7_INTENT_COLUMNS = ("notional_includes_fee", "stop_loss_pct", "take_profit_pct")
V3_TABLES = (schema.executor_lease, schema.ledger_meta, schema.intent_quarantine)


def as_v4_positions_and_fills(conn: sa.Connection) -> None:
    """v4 kept one realized_pnl (net of fees) per position and no valued fee per fill."""
    double = sa.Double().compile(dialect=conn.dialect)
    conn.execute(
        sa.text(f"ALTER TABLE positions ADD COLUMN realized_pnl {double} NOT NULL DEFAULT 0")
    )
    conn.execute(sa.text("UPDATE positions SET realized_pnl = realized_pnl_net"))
    for column in ("realized_pnl_gross", "realized_pnl_net", "fees_quote"):
        conn.execute(sa.text(f"ALTER TABLE positions DROP COLUMN {column}"))
    for column in ("fee_price", "fee_quote", "fee_issue"):
        conn.execute(sa.text(f"ALTER TABLE fills DROP COLUMN {column}"))


def as_v5_without_instances(conn: sa.Connection) -> None:
    """v5 had no strategy instances: one position per (exchange, symbol)."""
    for table in ("intents", "orders", "fills"):
        conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN instance_id"))
    conn.execute(sa.text("ALTER TABLE risk_state DROP COLUMN protocol_state"))
    if conn.dialect.name == "postgresql":
        pk = sa.inspect(conn).get_pk_constraint("positions")["name"]
        conn.execute(sa.text(f'ALTER TABLE positions DROP CONSTRAINT "{pk}"'))
        conn.execute(sa.text("ALTER TABLE positions DROP COLUMN instance_id"))
        conn.execute(sa.text("ALTER TABLE positions ADD PRIMARY KEY (exchange, symbol)"))
        return
    kept = [c for c in schema.positions.columns if c.name != "instance_id"]
    v5 = sa.Table("positions", sa.MetaData(), *[c._copy() for c in kept])
    names = ", ".join(c.name for c in kept)
    conn.execute(sa.text("ALTER TABLE positions RENAME TO positions_v6"))
    v5.create(conn)
    conn.execute(sa.text(f"INSERT INTO positions ({names}) SELECT {names} FROM positions_v6"))
    conn.execute(sa.text("DROP TABLE positions_v6"))


def as_version(url: str, version: int) -> None:
    """What an executor of an older schema version left behind."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if version < 7:  # v6 intents had no all-in flag nor level fractions
            for column in V7_INTENT_COLUMNS:
                conn.execute(sa.text(f"ALTER TABLE intents DROP COLUMN {column}"))
        if version < 6:
            as_v5_without_instances(conn)
        if version < 5:
            as_v4_positions_and_fills(conn)
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
                {
                    k: v
                    for k, v in intent().to_row().items()
                    if k not in ("post_only", "instance_id", *V7_INTENT_COLUMNS)
                }
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


V4_FILLS = [
    # trade_id, symbol, side, quantity, price, fee, fee_currency, applied
    ("t1", "BTC/USDT", "buy", 1.0, 100.0, 0.001, "BTC", True),
    ("t2", "BTC/USDT", "sell", 0.5, 120.0, 0.06, "USDT", True),
    ("t3", "ETH/USDT", "buy", 2.0, 10.0, 0.0005, "BNB", True),
    ("t4", "ETH/USDT", "sell", 2.0, 11.0, 0.0004, "BNB", True),
    ("t5", "BTC/USDT", "buy", 3.0, 101.0, 0.3, "USDT", False),  # an external order's
]


def write_v4_rows(url: str) -> None:
    """What the v4 executor's _apply_fill left for V4_FILLS: realized_pnl net of every fee,
    the BNB fees taken for USDT (from cash and from realized_pnl)."""
    at = datetime(2026, 1, 1, 10)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for trade_id, symbol, side, quantity, price, fee, currency, applied in V4_FILLS:
            conn.execute(
                sa.text(
                    "INSERT INTO fills (exchange, trade_id, symbol, side, quantity, price, fee, "
                    "fee_currency, liquidity, event_time, recorded_at, mode, applied) VALUES "
                    "('binance', :t, :s, :side, :q, :p, :f, :c, 'taker', :at, :at, 'live', :a)"
                ),
                {"t": trade_id, "s": symbol, "side": side, "q": quantity, "p": price, "f": fee,
                 "c": currency, "at": at, "a": applied},
            )  # fmt: skip
        for symbol, quantity, avg, realized, stop in (
            ("BTC/USDT", 0.999 - 0.5, 100.0, -0.001 * 100.0 + 20.0 * 0.5 - 0.06, 90.0),
            ("ETH/USDT", 0.0, 10.0, -0.0005 + 2.0 - 0.0004, None),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO positions (exchange, symbol, strategy, quantity, "
                    "avg_entry_price, realized_pnl, last_price, stop_loss, opened_at, "
                    "updated_at) VALUES ('binance', :s, 'macd', :q, :avg, :r, :avg, :stop, "
                    ":at, :at)"
                ),
                {"s": symbol, "q": quantity, "avg": avg, "r": realized, "stop": stop, "at": at},
            )
        cash = 1000.0 - 100.0 + 60.0 - 0.06 - 20.0 - 0.0005 + 22.0 - 0.0004
        conn.execute(
            sa.text(
                "INSERT INTO cash (exchange, currency, amount, updated_at) "
                "VALUES ('binance', 'USDT', :a, :at)"
            ),
            {"a": cash, "at": at},
        )
    engine.dispose()


def test_a_version_4_ledger_with_fees_in_base_quote_and_bnb_gets_gross_and_net_pnl(
    ledger_url: str,
) -> None:
    from executor.records import Fill

    Ledger(ledger_url).close()
    as_version(ledger_url, 4)
    write_v4_rows(ledger_url)
    ledger = Ledger(ledger_url)  # opening upgrades
    with ledger.transaction() as conn:
        assert current_version(conn) == schema.SCHEMA_VERSION
    btc = ledger.position("binance", "BTC/USDT")
    old_btc_net = -0.001 * 100.0 + 20.0 * 0.5 - 0.06
    assert btc.realized_pnl_net == old_btc_net  # carried over exactly
    assert btc.realized_pnl_gross == pytest.approx(10.0)
    assert btc.fees_quote == pytest.approx(0.1 + 0.06)
    assert btc.quantity == pytest.approx(0.499) and btc.avg_entry_price == 100.0
    assert btc.stop_loss == 90.0
    eth = ledger.position("binance", "ETH/USDT")
    # v4 took 0.0009 BNB for USDT: gross is exact, the BNB fees have no price and are flagged
    assert eth.realized_pnl_gross == pytest.approx(2.0)
    assert eth.fees_quote == pytest.approx(0.0, abs=1e-12)
    assert eth.realized_pnl_net == pytest.approx(2.0)
    issues = ledger.fee_issues()
    assert [i["trade_id"] for i in issues] == ["t3", "t4"]
    assert all("fee_price" in i["fee_issue"] and "v4" in i["fee_issue"] for i in issues)
    assert ledger.cash("USDT", "binance") == pytest.approx(1000 - 40.06 + 2.0)
    assert ledger.cash("BNB", "binance") == pytest.approx(-0.0009)
    with ledger.transaction() as conn:
        valued = dict(
            conn.execute(sa.select(schema.fills.c.trade_id, schema.fills.c.fee_quote)).all()
        )
        audit = conn.execute(
            sa.select(schema.audit_log.c.details).where(schema.audit_log.c.event == "fees_revalued")
        ).scalar_one()
    assert valued["t1"] == pytest.approx(0.1) and valued["t2"] == pytest.approx(0.06)
    assert valued["t5"] == pytest.approx(0.3) and valued["t3"] is None
    assert "binance:BNB" in audit
    # trading goes on from the carried-over book
    ledger.record_fills(
        [Fill("binance", "t6", "BTC/USDT", "sell", 0.499, 110.0, 0.05, "USDT", "taker",
              datetime(2026, 1, 1, 11))]
    )  # fmt: skip
    btc = ledger.position("binance", "BTC/USDT")
    assert btc.quantity == 0.0
    assert btc.realized_pnl_gross == pytest.approx(10.0 + 0.499 * 10.0)
    assert btc.realized_pnl_net == pytest.approx(old_btc_net + 4.99 - 0.05)
    ledger.close()


def test_a_migrated_ledger_has_the_columns_of_a_fresh_one(ledger_url: str) -> None:
    Ledger(ledger_url).close()
    engine = sa.create_engine(ledger_url)
    fresh = {t: [c["name"] for c in sa.inspect(engine).get_columns(t)] for t in ("positions",
             "fills", "intents", "orders")}  # fmt: skip
    fresh_pk = sa.inspect(engine).get_pk_constraint("positions")["constrained_columns"]
    engine.dispose()
    as_version(ledger_url, 4)
    Ledger(ledger_url).close()
    engine = sa.create_engine(ledger_url)
    for table, columns in fresh.items():
        migrated = [c["name"] for c in sa.inspect(engine).get_columns(table)]
        assert sorted(migrated) == sorted(columns)
    migrated_pk = sa.inspect(engine).get_pk_constraint("positions")["constrained_columns"]
    assert sorted(migrated_pk) == sorted(fresh_pk) == ["exchange", "instance_id", "symbol"]
    assert "realized_pnl" not in fresh["positions"]
    engine.dispose()


def test_a_version_5_ledger_with_open_orders_and_positions_becomes_the_default_instance(
    ledger_url: str,
) -> None:
    """v5 -> v6: every intent, order, fill and position of today's ledger is the `default`
    instance's (an external order and its fill keep none); the position keeps every value,
    and a second instance can then hold its own sub-position in the same symbol."""
    from executor.orders import OrderState
    from executor.records import Fill, NewOrder, OrderUpdate

    def btc_fill(trade_id: str, qty: float, price: float, **extra: object) -> Fill:
        return Fill("sim", trade_id, "BTC/USDT", "buy", qty, price, 0.6, "USDT", "taker",
                    datetime(2026, 1, 1, 10, 2), **extra)  # fmt: skip

    old = Ledger(ledger_url)
    old.ensure_account("sim", "USDT", 1_000.0)
    old.add_intents([intent(minute=1), intent(minute=2)])
    [first, second] = old.new_intents()
    for cid, rec, order_type, price in (
        ("cid-filled", first, "market", None),
        ("cid-open", second, "limit", 59_000.0),
    ):
        old.create_order(
            NewOrder(client_order_id=cid, exchange="sim", symbol="BTC/USDT", side="buy",
                     order_type=order_type, role="entry", quantity=0.01, price=price,
                     intent_id=rec.intent.intent_id, strategy="macd", instance_id="default"),
            accept_intent=True,
        )  # fmt: skip
    old.apply_order_update(
        "cid-filled",
        OrderUpdate(OrderState.FILLED, filled_quantity=0.01, average_price=60_000.0),
        [btc_fill("t1", 0.01, 60_000.0, client_order_id="cid-filled")],
    )
    old.apply_order_update("cid-open", OrderUpdate(OrderState.OPEN, exchange_order_id="x2"))
    old.create_order(
        NewOrder(client_order_id="ext-1", exchange="sim", symbol="BTC/USDT", side="buy",
                 order_type="limit", role="external", quantity=1.0, price=50_000.0)
    )  # fmt: skip
    old.record_fills([btc_fill("t-ext", 1.0, 50_000.0)], applied=False)
    old.set_protection("sim", "BTC/USDT", stop_loss=58_000.0, take_profit=None,
                       trailing_stop_pct=None)  # fmt: skip
    before = old.position("sim", "BTC/USDT")
    cash = old.cash("USDT", "sim")
    old.close()
    as_version(ledger_url, 5)
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        assert "instance_id" not in {c["name"] for c in sa.inspect(conn).get_columns("orders")}
    engine.dispose()

    ledger = Ledger(ledger_url)  # opening upgrades
    with ledger.transaction() as conn:
        assert current_version(conn) == schema.SCHEMA_VERSION
        intents = dict(conn.execute(sa.select(schema.intents.c.intent_id,
                                              schema.intents.c.instance_id)).all())  # fmt: skip
        fills = dict(conn.execute(sa.select(schema.fills.c.trade_id,
                                            schema.fills.c.instance_id)).all())  # fmt: skip
    assert set(intents.values()) == {"default"} and len(intents) == 2
    assert {o.client_order_id: o.instance_id for o in ledger.orders()} == {
        "cid-filled": "default", "cid-open": "default", "ext-1": None,
    }  # fmt: skip
    assert ledger.order("cid-open").state == OrderState.OPEN
    assert fills == {"t1": "default", "t-ext": None}
    after = ledger.position("sim", "BTC/USDT", "default")
    assert after == dataclasses.replace(before, instance_id="default")
    assert after.stop_loss == 58_000.0 and after.quantity == pytest.approx(0.01)
    assert ledger.cash("USDT", "sim") == cash
    # trading goes on: the open order fills for `default`, another instance buys the symbol
    ledger.apply_order_update(
        "cid-open",
        OrderUpdate(OrderState.FILLED, filled_quantity=0.01, average_price=59_000.0),
        [btc_fill("t2", 0.01, 59_000.0, client_order_id="cid-open")],
    )
    ledger.record_fills([btc_fill("t3", 0.02, 61_000.0, instance_id="eth-swing")])
    assert ledger.position("sim", "BTC/USDT", "default").quantity == pytest.approx(0.02)
    assert ledger.position("sim", "BTC/USDT", "eth-swing").quantity == pytest.approx(0.02)
    assert ledger.position("sim", "BTC/USDT").quantity == pytest.approx(0.04)
    assert [(p.instance_id, p.quantity) for p in ledger.open_positions()] == [
        ("default", pytest.approx(0.02)), ("eth-swing", pytest.approx(0.02)),
    ]  # fmt: skip
    ledger.close()

"""The ledger on SQLite and PostgreSQL: idempotency, positions, transactions, migrations."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from executor import schema
from executor.ledger import Ledger
from executor.migrations import LedgerSchemaError, Migration, current_version, upgrade
from executor.orders import IllegalTransition, OrderState
from executor.records import Fill, NewOrder, OrderUpdate
from tests.executor.helpers import T0, make_intent


def fill(
    trade_id: str,
    side: str,
    quantity: float,
    price: float,
    *,
    fee: float = 0.0,
    fee_currency: str = "USDT",
    symbol: str = "BTC/USDT",
    at: datetime = T0,
) -> Fill:
    return Fill("sim", trade_id, symbol, side, quantity, price, fee, fee_currency, "taker", at)


@pytest.fixture
def ledger(ledger_url: str) -> Ledger:
    led = Ledger(ledger_url)
    yield led
    led.close()


def test_add_intents_is_idempotent(ledger: Ledger) -> None:
    a, b = make_intent("BTC/USDT"), make_intent("ETH/USDT")
    assert ledger.add_intents([a, b, a]) == 2
    assert ledger.add_intents([a, b]) == 0
    assert ledger.add_intents([]) == 0
    # round-trips every field; a strategy's intent naming no instance is `default`'s
    expected = [dataclasses.replace(x, instance="default") for x in (a, b)]
    assert [r.intent for r in ledger.new_intents()] == expected


def test_fills_are_recorded_once_per_trade_id(ledger: Ledger) -> None:
    ledger.ensure_account("sim", "USDT", 1000.0)
    first = fill("t1", "buy", 1.0, 100.0, fee=0.1)
    assert ledger.record_fills([first, first]) == 1
    assert ledger.record_fills([first]) == 0
    assert ledger.fill_count() == 1
    assert ledger.account("USDT").cash == pytest.approx(1000.0 - 100.0 - 0.1)


def test_trade_ids_are_unique_per_symbol_not_per_exchange(ledger: Ledger) -> None:
    # Binance numbers trades per symbol: trade 1 of BTC/USDT is not trade 1 of ETH/USDT.
    assert (
        ledger.record_fills(
            [fill("1", "buy", 1.0, 100.0), fill("1", "buy", 2.0, 10.0, symbol="ETH/USDT")]
        )
        == 2
    )
    assert ledger.known_trade_ids("sim", "ETH/USDT", ["1", "2"]) == {"1"}


def test_positions_average_in_and_realize_on_the_way_out(ledger: Ledger) -> None:
    ledger.ensure_account("sim", "USDT", 1000.0)
    ledger.record_fills([fill("t1", "buy", 1.0, 100.0), fill("t2", "buy", 1.0, 120.0)])
    (position,) = ledger.open_positions()
    assert position.quantity == pytest.approx(2.0)
    assert position.avg_entry_price == pytest.approx(110.0)
    ledger.set_protection(
        "sim", "BTC/USDT", stop_loss=90.0, take_profit=150.0, trailing_stop_pct=None
    )
    ledger.record_fills([fill("t3", "sell", 1.5, 130.0, fee=0.2)])
    position = ledger.position("sim", "BTC/USDT")
    assert position.quantity == pytest.approx(0.5)
    assert position.realized_pnl_net == pytest.approx(1.5 * 20.0 - 0.2)
    assert position.realized_pnl_gross == pytest.approx(1.5 * 20.0)
    assert position.fees_quote == pytest.approx(0.2)
    assert position.stop_loss == 90.0
    ledger.record_fills([fill("t4", "sell", 0.5, 100.0)])
    assert ledger.open_positions() == []
    closed = ledger.position("sim", "BTC/USDT")
    assert closed.quantity == 0.0 and closed.stop_loss is None
    assert ledger.account("USDT").cash == pytest.approx(1000 - 220 + 195 - 0.2 + 50)


def test_a_fee_in_the_base_asset_reduces_the_position(ledger: Ledger) -> None:
    ledger.record_fills([fill("t1", "buy", 1.0, 100.0, fee=0.001, fee_currency="BTC")])
    assert ledger.position("sim", "BTC/USDT").quantity == pytest.approx(0.999)


def test_account_values_positions_at_the_last_price(ledger: Ledger) -> None:
    assert ledger.account("USDT").equity == 0.0  # not seeded yet
    assert ledger.ensure_account("sim", "USDT", 500.0)
    assert not ledger.ensure_account("sim", "USDT", 999.0)
    ledger.record_fills([fill("t1", "buy", 2.0, 100.0)])
    ledger.mark_price("sim", "BTC/USDT", 110.0, high=112.0)
    account = ledger.account("USDT")
    assert (account.cash, account.positions_value, account.equity) == pytest.approx(
        (300.0, 220.0, 520.0)
    )
    assert account.open_positions == 1
    assert ledger.position("sim", "BTC/USDT").high_water == 112.0


def order_for(intent_id: str, cid: str = "tp-x-e0") -> NewOrder:
    return NewOrder(
        client_order_id=cid,
        exchange="sim",
        symbol="BTC/USDT",
        side="buy",
        order_type="market",
        role="entry",
        quantity=1.0,
        intent_id=intent_id,
    )


def test_an_order_update_and_its_fills_commit_together(ledger: Ledger) -> None:
    intent = make_intent()
    ledger.add_intents([intent])
    order = ledger.create_order(order_for(intent.intent_id), accept_intent=True, reason="ok")
    assert order.state == OrderState.PENDING_SUBMIT
    assert ledger.intent(intent.intent_id).status == "ACCEPTED"
    update = OrderUpdate(
        OrderState.FILLED,
        exchange_order_id="42",
        filled_quantity=1.0,
        average_price=100.0,
        fee=0.1,
        fee_currency="USDT",
    )
    done = ledger.apply_order_update(
        order.client_order_id, update, [fill("t1", "buy", 1.0, 100.0, fee=0.1)]
    )
    assert (done.state, done.filled_quantity, done.exchange_order_id) == (
        OrderState.FILLED,
        1.0,
        "42",
    )
    assert done.submitted_at is not None
    assert ledger.intent(intent.intent_id).status == "DONE"
    (recorded,) = ledger.fills_since(T0)
    assert (recorded.client_order_id, recorded.intent_id) == (
        order.client_order_id,
        intent.intent_id,
    )


def test_an_illegal_transition_writes_nothing(ledger: Ledger) -> None:
    order = ledger.create_order(order_for("i1"))
    ledger.apply_order_update(order.client_order_id, OrderUpdate(OrderState.CANCELED))
    with pytest.raises(IllegalTransition):
        ledger.apply_order_update(
            order.client_order_id, OrderUpdate(OrderState.FILLED), [fill("t9", "buy", 1.0, 100.0)]
        )
    assert ledger.fill_count() == 0
    assert ledger.order(order.client_order_id).state == OrderState.CANCELED


def test_fills_since_filters_by_event_time(ledger: Ledger) -> None:
    ledger.record_fills(
        [fill("a", "buy", 1.0, 1.0, at=T0), fill("b", "buy", 1.0, 1.0, at=T0 + timedelta(hours=1))]
    )
    assert [f.trade_id for f in ledger.fills_since(T0 + timedelta(minutes=1))] == ["b"]
    assert [f.trade_id for f in ledger.fills_since()] == ["a", "b"]


def test_trading_state_and_peak_equity(ledger: Ledger) -> None:
    assert ledger.trading_state() == "ACTIVE"
    ledger.set_trading_state("REDUCING", "paused by test", "operator:alice")
    assert ledger.trading_state() == "REDUCING"
    assert ledger.update_peak_equity(100.0) == 100.0
    assert ledger.update_peak_equity(90.0) == 100.0
    assert ledger.update_peak_equity(90.0, reset=True) == 90.0
    assert ledger.risk_record().state == "REDUCING"  # the peak does not touch the state
    with pytest.raises(ValueError, match="allowed"):
        ledger.set_trading_state("PANIC", "", "x")
    (entry,) = ledger.audit_entries("trading_state")
    assert entry["actor"] == "operator:alice"
    assert entry["details"] == {"from": None, "to": "REDUCING", "reason": "paused by test"}


def test_commands_are_audited_when_issued_and_applied(ledger: Ledger) -> None:
    command_id = ledger.add_command("close-position", "alice", "too risky", "BTC/USDT")
    (pending,) = ledger.commands(pending_only=True)
    assert (pending.id, pending.who, pending.why) == (command_id, "alice", "too risky")
    ledger.mark_command_applied(command_id, "done")
    assert ledger.commands(pending_only=True) == []
    events = [e["event"] for e in ledger.audit_entries()]
    assert events[:2] == ["command_applied", "command_issued"]
    with pytest.raises(ValueError, match="needs a symbol"):
        ledger.add_command("close-position", "alice", "x")
    with pytest.raises(ValueError, match="allowed"):
        ledger.add_command("sell-everything", "alice", "x")


def test_reopening_keeps_data_and_schema(ledger_url: str) -> None:
    first = Ledger(ledger_url)
    first.add_intents([make_intent()])
    first.close()
    second = Ledger(ledger_url)
    assert len(second.new_intents()) == 1
    with second.engine.connect() as conn:
        assert current_version(conn) == schema.SCHEMA_VERSION
    second.close()


def test_a_newer_schema_is_refused(ledger_url: str) -> None:
    Ledger(ledger_url).close()
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(
            schema.schema_version.insert().values(
                version=schema.SCHEMA_VERSION + 1, applied_at=T0, description="from the future"
            )
        )
    engine.dispose()
    with pytest.raises(LedgerSchemaError, match="newer than this executor"):
        Ledger(ledger_url)


def test_an_older_schema_is_upgraded_step_by_step(sqlite_url: str) -> None:
    Ledger(sqlite_url).close()
    engine = sa.create_engine(sqlite_url)
    now = schema.SCHEMA_VERSION
    steps = [
        Migration(
            now + 1,
            "add a note column",
            lambda c: c.exec_driver_sql("ALTER TABLE intents ADD COLUMN note TEXT"),
        ),
        Migration(
            now + 2,
            "index it",
            lambda c: c.exec_driver_sql("CREATE INDEX ix_note ON intents (note)"),
        ),
    ]
    assert upgrade(engine, target=now + 2, steps=steps) == now
    assert upgrade(engine, target=now + 2, steps=steps) == now + 2  # nothing left to do
    with engine.connect() as conn:
        assert current_version(conn) == now + 2
        assert "note" in {c["name"] for c in sa.inspect(conn).get_columns("intents")}
    with pytest.raises(LedgerSchemaError, match="no migration step"):
        upgrade(engine, target=now + 3, steps=steps)
    engine.dispose()


WRITER = """
import sys
from datetime import datetime, timedelta
from executor.ledger import Ledger
from tests.executor.helpers import make_intent
ledger = Ledger(sys.argv[1])
for i in range(150):
    ledger.add_intents([make_intent(bar_ts=datetime(2025, 1, 1) + timedelta(minutes=i))])
"""


def test_sqlite_takes_intents_from_another_process_while_the_executor_writes(
    sqlite_url: str,
) -> None:
    ledger = Ledger(sqlite_url)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, sqlite_url], stderr=subprocess.PIPE, text=True
    )
    for i in range(150):
        ledger.record_fills([fill(f"t{i}", "buy", 0.01, 100.0)])
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert ledger.fill_count() == 150
    assert ledger.intent_counts() == {"NEW": 150}
    ledger.close()

"""Strategy instances in the ledger and the engine: every intent, order, fill and position
carries its instance; two instances share a symbol as sub-positions whose sum is the
exchange's position; `close-position` closes every instance's share."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from executor.intents import InvalidIntent, intent_from_mapping
from executor.ledger import Ledger
from executor.ledger.sub_positions import SEVERAL_INSTANCES, combine, split_fill
from executor.orders import OrderState
from executor.records import Fill, Position
from tests.executor.helpers import T0, make_intent
from tests.executor.test_engine_paper import Rig


def position(instance: str, quantity: float, price: float = 100.0, **extra: object) -> Position:
    values: dict = dict(
        exchange="sim", symbol="BTC/USDT", quantity=quantity, avg_entry_price=price,
        realized_pnl_gross=1.0, realized_pnl_net=0.5, fees_quote=0.5, last_price=110.0,
        strategy="macd", stop_loss=None, take_profit=None, trailing_stop_pct=None,
        high_water=None, entry_intent_id=f"i{instance}", opened_at=T0, updated_at=T0,
        instance_id=instance,
    )  # fmt: skip
    values.update(extra)
    return Position(**values)


def fill(trade_id: str, side: str, qty: float, price: float, **extra: object) -> Fill:
    return Fill("sim", trade_id, "BTC/USDT", side, qty, price, 0.0, "USDT", "taker", T0,
                **extra)  # fmt: skip


# ------------------------------------------------------------------------ pure functions


def test_combine_sums_quantities_and_weights_the_entry_price() -> None:
    a = position("a", 1.0, 100.0, stop_loss=90.0, take_profit=130.0)
    b = position("b", 3.0, 120.0, stop_loss=95.0, take_profit=125.0, opened_at=T0 - timedelta(1))
    total = combine([a, b])
    assert total.quantity == 4.0
    assert total.avg_entry_price == pytest.approx((100.0 + 360.0) / 4.0)
    assert total.realized_pnl_net == 1.0 and total.fees_quote == 1.0
    # levels that protect every share: the lowest stop, the highest target
    assert (total.stop_loss, total.take_profit) == (90.0, 130.0)
    assert total.instance_id == SEVERAL_INSTANCES
    assert total.entry_intent_id == "ib"  # the earliest opened share
    assert combine([a]) is a


def test_combine_leaves_a_level_out_unless_every_share_has_one() -> None:
    total = combine([position("a", 1.0, stop_loss=90.0), position("b", 1.0)])
    assert total.stop_loss is None


def test_combine_refuses_nothing_and_mixed_symbols() -> None:
    with pytest.raises(ValueError, match="at least one"):
        combine([])
    with pytest.raises(ValueError, match="different exchanges or symbols"):
        combine([position("a", 1.0), position("b", 1.0, symbol="ETH/USDT")])


def test_a_fill_with_no_instance_is_shared_pro_rata_among_the_shares_it_reduces() -> None:
    subs = [position("a", 1.0), position("b", 3.0)]
    parts = split_fill(dataclasses.replace(fill("t1", "sell", 2.0, 100.0), fee=0.2), subs, "x")
    assert [(p.instance_id, p.quantity, p.fee) for p in parts] == [
        ("a", pytest.approx(0.5), pytest.approx(0.05)),
        ("b", pytest.approx(1.5), pytest.approx(0.15)),
    ]
    assert sum(p.quantity for p in parts) == pytest.approx(2.0)


def test_a_sell_beyond_every_share_leaves_the_excess_with_the_largest() -> None:
    parts = split_fill(
        fill("t1", "sell", 5.0, 100.0), [position("a", 1.0), position("b", 3.0)], "x"
    )
    assert [(p.instance_id, p.quantity) for p in parts] == [
        ("a", pytest.approx(1.0)), ("b", pytest.approx(4.0)),
    ]  # fmt: skip


def test_a_fill_naming_its_instance_or_opening_is_not_split() -> None:
    named = fill("t1", "sell", 1.0, 100.0, instance_id="a")
    assert split_fill(named, [position("a", 1.0), position("b", 1.0)], "x") == [named]
    (buy,) = split_fill(fill("t2", "buy", 1.0, 100.0), [position("a", 1.0)], "x")
    assert buy.instance_id == "a"
    (first,) = split_fill(fill("t3", "buy", 1.0, 100.0), [], "default")
    assert first.instance_id == "default"


# ------------------------------------------------------------------------------ intents


@pytest.mark.parametrize(
    "bad", ["Trend", "", "a" * 41, "has space", "-lead", 7, 1.5, float("nan"), ["a"], True]
)
def test_a_bad_instance_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidIntent, match="instance"):
        make_intent(instance=bad)


def test_an_intent_from_json_keeps_its_instance() -> None:
    row = {k: v for k, v in dataclasses.asdict(make_intent()).items()}
    assert intent_from_mapping({**row, "instance": "btc-4h"}).instance == "btc-4h"
    with pytest.raises(InvalidIntent, match="instance"):
        intent_from_mapping({**row, "instance": "BTC 4h"})
    ledger_row = {k: v for k, v in row.items() if k != "instance"}
    assert intent_from_mapping({**ledger_row, "instance_id": "btc-4h"}).instance == "btc-4h"
    with pytest.raises(InvalidIntent, match="not both"):
        intent_from_mapping({**row, "instance": "a", "instance_id": "b"})


def test_unnamed_intents_are_manual_by_hand_and_default_from_the_strategy(
    ledger_url: str,
) -> None:
    ledger = Ledger(ledger_url)
    by_hand = make_intent("ETH/USDT", strategy="manual")
    named = make_intent("SOL/USDT", instance="sol-swing")
    (result,) = ledger.submit_intents([by_hand])
    assert result.accepted
    assert ledger.add_intents([make_intent(), named]) == 2
    got = {r.intent.symbol: r.intent.instance for r in ledger.new_intents()}
    assert got == {"ETH/USDT": "manual", "BTC/USDT": "default", "SOL/USDT": "sol-swing"}
    # the same id for another instance is different content: refused, the stored one stands
    (again,) = ledger.submit_intents([dataclasses.replace(named, instance="other")])
    assert not again.accepted and "instance_id" in again.reason
    ledger.close()


# ------------------------------------------------------------------------------- ledger


def test_two_instances_hold_sub_positions_whose_sum_is_the_exchange_position(
    ledger_url: str,
) -> None:
    ledger = Ledger(ledger_url)
    ledger.ensure_account("sim", "USDT", 10_000.0)
    ledger.record_fills([fill("t1", "buy", 1.0, 100.0, instance_id="a"),
                         fill("t2", "buy", 3.0, 120.0, instance_id="b")])  # fmt: skip
    assert ledger.position("sim", "BTC/USDT", "a").quantity == 1.0
    assert ledger.position("sim", "BTC/USDT", "b").avg_entry_price == 120.0
    (total,) = ledger.exchange_positions()
    assert total.quantity == 4.0 and total.avg_entry_price == pytest.approx(115.0)
    assert ledger.position("sim", "BTC/USDT") == total
    inputs = ledger.risk_inputs("sim", "USDT", T0, 100)
    assert inputs.positions["BTC/USDT"].quantity == 4.0
    assert ledger.account().open_positions == 2  # one per sub-position
    # a native backstop's fill names no instance: shared pro rata, realized per instance
    ledger.record_fills([fill("t3", "sell", 2.0, 130.0)])
    a, b = ledger.position("sim", "BTC/USDT", "a"), ledger.position("sim", "BTC/USDT", "b")
    assert (a.quantity, b.quantity) == (pytest.approx(0.5), pytest.approx(1.5))
    assert a.realized_pnl_gross == pytest.approx(0.5 * 30.0)
    assert b.realized_pnl_gross == pytest.approx(1.5 * 10.0)
    assert ledger.cash("USDT", "sim") == pytest.approx(10_000 - 100 - 360 + 260)
    ledger.close()


# ------------------------------------------------------------------------------- engine


@pytest.fixture
def rig(sqlite_url: str) -> Rig:
    return Rig(sqlite_url)


def open_for(rig: Rig, instance: str, notional: float, minute: int) -> None:
    intent = make_intent(notional=notional, strategy=f"s{instance}", instance=instance,
                         bar_ts=T0 + timedelta(minutes=minute))  # fmt: skip
    rig.ledger.add_intents([intent])
    rig.tick()
    assert rig.ledger.intent(intent.intent_id).status == "DONE"


def test_orders_and_fills_carry_the_instance_of_their_intent(rig: Rig) -> None:
    open_for(rig, "a", 100.0, 0)
    open_for(rig, "b", 150.0, 1)
    orders = {o.instance_id: o for o in rig.ledger.orders()}
    assert set(orders) == {"a", "b"}
    fills = {f.instance_id: f for f in rig.ledger.fills_since(None)}
    assert fills["a"].client_order_id == orders["a"].client_order_id
    subs = {p.instance_id: p for p in rig.ledger.open_positions()}
    assert subs["a"].quantity == pytest.approx(orders["a"].filled_quantity)
    assert subs["b"].quantity == pytest.approx(orders["b"].filled_quantity)


def test_a_close_intent_closes_only_its_instances_sub_position(rig: Rig) -> None:
    open_for(rig, "a", 100.0, 0)
    open_for(rig, "b", 150.0, 1)
    held_b = rig.ledger.position("sim", "BTC/USDT", "b").quantity
    close = make_intent(action="close", strategy="sa", instance="a",
                        bar_ts=T0 + timedelta(minutes=2))  # fmt: skip
    rig.ledger.add_intents([close])
    rig.tick()
    (exit_order,) = rig.ledger.orders(intent_id=close.intent_id)
    assert (exit_order.instance_id, exit_order.state) == ("a", OrderState.FILLED)
    assert rig.ledger.position("sim", "BTC/USDT", "a").quantity == pytest.approx(0.0)
    assert rig.ledger.position("sim", "BTC/USDT", "b").quantity == pytest.approx(held_b)
    # closing an instance that holds nothing is refused with the reason
    again = make_intent(action="close", strategy="sa", instance="a",
                        bar_ts=T0 + timedelta(minutes=3))  # fmt: skip
    rig.ledger.add_intents([again])
    rig.tick()
    record = rig.ledger.intent(again.intent_id)
    assert record.status == "REJECTED_BY_RISK" and "'a' holds no BTC/USDT" in record.status_reason


def test_close_position_closes_every_instances_sub_position(rig: Rig) -> None:
    open_for(rig, "a", 100.0, 0)
    open_for(rig, "b", 150.0, 1)
    rig.ledger.add_command("close-position", who="ops", why="test", symbol="BTC/USDT")
    rig.tick()
    exits = [o for o in rig.ledger.orders() if o.role == "operator"]
    assert sorted(o.instance_id for o in exits) == ["a", "b"]
    assert all(o.state == OrderState.FILLED for o in exits)
    assert rig.ledger.open_positions() == []
    (command,) = rig.ledger.commands()
    assert "a: exit" in command.result and "b: exit" in command.result

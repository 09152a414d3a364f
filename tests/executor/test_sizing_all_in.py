"""The all-in convention in the executor (issue 11): an intent whose notional includes the fee
is sized as the backtester sizes it, for market and limit entries alike, the risk gate reserves
no second fee, and default stop / take-profit fractions are applied to the fill price."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from executor import schema
from executor.brokers.paper import PaperBroker, default_paper_rules
from executor.engine import Engine, EngineOptions
from executor.intents import InvalidIntent, intent_from_mapping
from executor.ledger import Ledger
from executor.sizing import entry_quantity
from tests.executor.helpers import T0, Clock, StubMarket, make_intent
from tests.executor.test_migrations import as_version
from trading_core import position_sizing
from trading_core.config import TradingConfig

MAKER, TAKER = 0.0005, 0.001
RULES = default_paper_rules("BTC/USDT")


def config(**risk: float) -> TradingConfig:
    return TradingConfig.model_validate(
        {
            "executor": {"starting_cash": 1000.0, "exchange": "sim"},
            "risk": {"position_fraction": 1.0, "max_notional": 1e6, "min_notional": 1.0, **risk},
            "fees": {"maker": MAKER, "taker": TAKER, "max_slippage_bps": 0.0},
        }
    )


class Rig:
    def __init__(self, url: str, cfg: TradingConfig | None = None):
        self.clock = Clock()
        self.market = StubMarket(self.clock)
        self.market.set_book("BTC/USDT", 100.0, amount=1000.0)
        self.ledger = Ledger(url, clock=self.clock)
        cfg = cfg or config()
        broker = PaperBroker(self.market, exchange="sim", fees=cfg.fees, clock=self.clock)
        self.engine = Engine(self.ledger, broker, self.market, cfg, EngineOptions(),
                             clock=self.clock)  # fmt: skip
        self.engine.start()

    def submit(self, **fields: object) -> str:
        intent = make_intent(**fields)
        self.ledger.add_intents([intent])
        self.clock.advance(minutes=1)
        self.engine.tick()
        return intent.intent_id

    def status(self, intent_id: str) -> tuple[str, str | None]:
        record = self.ledger.intent(intent_id)
        assert record is not None
        return record.status, record.status_reason

    def entry_fill(self) -> tuple[float, float, float]:
        [fill] = self.ledger.fills_since()
        return fill.quantity, fill.price, fill.fee


@pytest.fixture
def rig(sqlite_url: str) -> Rig:
    r = Rig(sqlite_url)
    yield r
    r.ledger.close()


# ----------------------------------------------------------------------------- pure sizing


def test_an_all_in_quantity_is_the_backtesters_bit_for_bit() -> None:
    rules = dataclasses.replace(RULES, amount_step=None)
    for notional, price, fee in [(1000.0, 100.01, 0.001), (9_876.5, 23_456.78, 0.00075)]:
        expected = position_sizing.all_in_quantity(notional, price, fee)
        assert entry_quantity(notional, price, rules, fee_rate=fee) == expected
        assert entry_quantity(notional, price, rules) == notional / price  # fee outside


@pytest.mark.parametrize("fee", [float("nan"), -0.001, 1.0, float("inf")])
def test_a_bad_fee_rate_is_refused_naming_it(fee: float) -> None:
    with pytest.raises(ValueError, match="fee_rate"):
        entry_quantity(100.0, 100.0, RULES, fee_rate=fee)


# --------------------------------------------------------------------------- the executor


def test_a_market_entry_with_the_fee_inside_spends_the_notional(rig: Rig) -> None:
    rig.submit(notional=200.0, notional_includes_fee=True)
    quantity, price, fee = rig.entry_fill()
    assert quantity == entry_quantity(200.0, price, RULES, fee_rate=TAKER)
    assert quantity * price + fee <= 200.0 + 1e-9
    assert rig.ledger.cash("USDT") == pytest.approx(800.0, abs=1e-5)  # the lot step's floor


def test_without_the_flag_the_fee_comes_on_top(rig: Rig) -> None:
    rig.submit(notional=200.0)
    quantity, price, fee = rig.entry_fill()
    assert quantity == entry_quantity(200.0, price, RULES)
    assert rig.ledger.cash("USDT") == pytest.approx(800.0 - fee, abs=1e-5)


def test_the_gate_takes_an_all_in_entry_of_all_the_cash_and_reserves_no_second_fee(
    rig: Rig,
) -> None:
    on_top = rig.submit(notional=1000.0)
    status, reason = rig.status(on_top)
    assert status == "REJECTED_BY_RISK" and "with fees" in (reason or "")
    later = T0 + timedelta(minutes=1)
    all_in = rig.submit(notional=1000.0, notional_includes_fee=True, bar_ts=later)
    assert rig.status(all_in)[0] in ("ACCEPTED", "DONE")
    assert 0.0 <= rig.ledger.cash("USDT") < 1e-4


def test_the_other_gates_still_hold_for_an_all_in_entry(sqlite_url: str) -> None:
    rig = Rig(sqlite_url, config(max_notional=150.0))
    refused = rig.submit(notional=200.0, notional_includes_fee=True)
    status, reason = rig.status(refused)
    assert status == "REJECTED_BY_RISK" and "max_notional" in (reason or "")
    rig.ledger.close()


def test_a_limit_entry_with_the_fee_inside_is_sized_with_the_maker_fee(rig: Rig) -> None:
    rig.submit(notional=200.0, notional_includes_fee=True, order_type="limit", limit_price=99.0)
    [order] = rig.ledger.orders()
    assert order.order_type == "limit" and order.price == 99.0
    assert order.quantity == entry_quantity(200.0, 99.0, RULES, fee_rate=MAKER)
    assert order.quantity != entry_quantity(200.0, 99.0, RULES, fee_rate=TAKER)


def test_default_levels_are_fractions_of_the_fill_price(rig: Rig) -> None:
    # the decision saw 99; the entry fills near 100: the levels follow the fill
    rig.submit(notional=200.0, reference_price=99.0, stop_loss_pct=0.02, take_profit_pct=0.05)
    _, price, _ = rig.entry_fill()
    pos = rig.ledger.position("sim", "BTC/USDT")
    assert pos is not None
    assert (pos.stop_loss, pos.take_profit) == position_sizing.exit_levels(
        price, stop_loss=None, take_profit=None, default_stop_fraction=0.02,
        default_take_fraction=0.05,
    )  # fmt: skip
    assert pos.stop_loss == price * (1 - 0.02) and pos.stop_loss != 99.0 * (1 - 0.02)


def test_an_absolute_level_wins_over_its_fraction(rig: Rig) -> None:
    rig.submit(notional=200.0, stop_loss=90.0, stop_loss_pct=0.02, take_profit_pct=0.05)
    _, price, _ = rig.entry_fill()
    pos = rig.ledger.position("sim", "BTC/USDT")
    assert pos is not None
    assert (pos.stop_loss, pos.take_profit) == (90.0, price * (1 + 0.05))


# ------------------------------------------------------------------------------ the intent


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"notional_includes_fee": "yes"}, "notional_includes_fee"),
        ({"notional_includes_fee": 1}, "notional_includes_fee"),
        ({"notional_includes_fee": True, "notional": None, "quantity": 1.0},
         "notional_includes_fee"),
        ({"stop_loss_pct": 1.0}, "stop_loss_pct"),
        ({"stop_loss_pct": float("nan")}, "stop_loss_pct"),
        ({"stop_loss_pct": -0.02}, "stop_loss_pct"),
        ({"stop_loss_pct": "2%"}, "stop_loss_pct"),
        ({"take_profit_pct": float("inf")}, "take_profit_pct"),
        ({"take_profit_pct": 0.0}, "take_profit_pct"),
        ({"take_profit_pct": 1e300}, "take_profit_pct"),
    ],
)  # fmt: skip
def test_bad_sizing_fields_are_refused_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(InvalidIntent, match=field):
        make_intent(**changes)


def test_the_sizing_fields_round_trip_through_json_and_the_ledger(sqlite_url: str) -> None:
    intent = make_intent(notional_includes_fee=True, stop_loss_pct=0.02, take_profit_pct=0.5)
    row = json.loads(json.dumps(intent.to_row(), default=str))
    row["bar_ts"] += "Z"
    row["decided_at"] += "Z"
    assert intent_from_mapping(row) == intent
    ledger = Ledger(sqlite_url)
    ledger.add_intents([intent])
    [stored] = ledger.new_intents()
    assert stored.intent == dataclasses.replace(intent, instance="default")
    ledger.close()


def test_a_version_6_ledger_keeps_its_intents_with_the_fee_outside(sqlite_url: str) -> None:
    Ledger(sqlite_url).close()
    as_version(sqlite_url, 6)
    old = make_intent(notional=250.0)
    values = {
        k: v
        for k, v in old.to_row().items()
        if k not in ("notional_includes_fee", "stop_loss_pct", "take_profit_pct")
    }
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(
            schema.intents.insert().values(
                {**values, "reference_price": 0.0, "instance_id": "default", "status": "NEW",
                 "created_at": datetime(2026, 1, 1), "updated_at": datetime(2026, 1, 1)}
            )
        )  # fmt: skip
    engine.dispose()
    ledger = Ledger(sqlite_url)  # opening upgrades
    [kept] = ledger.new_intents()
    assert kept.intent.notional == 250.0 and kept.intent.notional_includes_fee is False
    assert (kept.intent.stop_loss_pct, kept.intent.take_profit_pct) == (None, None)
    ledger.close()

"""Dust: what a full exit leaves when the buy paid its fee in the base asset (Binance spot)
is below the market's minimum order; it is no open position and must not block a re-entry."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.ledger import Ledger
from executor.ledger.dust import is_dust
from executor.records import Fill
from executor.sizing import MarketRules
from tests.executor.helpers import T0, Clock, StubMarket, make_intent
from trading_core.config import TradingConfig
from trading_core.config_fees import PaperFeeCurrency

RULES = MarketRules("BTC/USDT", amount_step=0.01, min_quantity=0.01)


def fill(trade_id: str, side: str, quantity: float, price: float, fee: float, asset: str) -> Fill:
    return Fill("sim", trade_id, "BTC/USDT", side, quantity, price, fee, asset, "taker", T0)


@pytest.mark.parametrize(
    ("quantity", "rules", "dust"),
    [
        (0.0, RULES, False),  # flat is not dust
        (1e-13, RULES, False),  # within QTY_EPSILON: flat
        (0.008, RULES, True),  # below one lot step
        (-0.008, RULES, True),  # a short remainder too
        (0.0100001, RULES, False),  # one sellable lot
        (0.015, MarketRules("BTC/USDT", amount_step=0.001, min_quantity=0.02), True),
        (0.008, None, False),  # a market without minimums has no dust
        (0.008, MarketRules("BTC/USDT"), False),  # any quantity can be sold
    ],
)
def test_a_holding_below_the_minimum_order_is_dust(quantity, rules, dust) -> None:
    assert is_dust(quantity, rules) is dust


@pytest.fixture
def ledger(sqlite_url: str) -> Ledger:
    led = Ledger(sqlite_url)
    led.ensure_account("sim", "USDT", 1000.0)
    yield led
    led.close()


def _round_trip_leaving_dust(ledger: Ledger) -> float:
    """Buy 2 BTC paying 0.002 BTC fee, sell the lot-step floor of the 1.998 held."""
    ledger.record_fills([fill("b1", "buy", 2.0, 100.0, 0.002, "BTC")])
    ledger.set_protection("sim", "BTC/USDT", stop_loss=90.0, take_profit=None,
                          trailing_stop_pct=0.05)  # fmt: skip
    held = ledger.position("sim", "BTC/USDT")
    assert held is not None
    sold = math.floor(held.quantity * 100) / 100  # 1.99: the exchange's lot step
    ledger.record_fills([fill("s1", "sell", sold, 110.0, 0.2, "USDT")])
    left = ledger.position("sim", "BTC/USDT")
    assert left is not None
    return left.quantity


def test_without_a_minimum_the_remainder_counts_as_open(ledger: Ledger) -> None:
    """The bug the rule fixes: the remainder is an open position, and the risk gate sees
    the symbol busy."""
    dust = _round_trip_leaving_dust(ledger)
    assert 0 < dust < 0.01
    assert [p.quantity for p in ledger.open_positions()] == [dust]
    assert "BTC/USDT" in ledger.risk_inputs("sim", "USDT", T0, 10).positions


def test_dust_is_not_open_is_reported_and_still_worth_its_value(ledger: Ledger) -> None:
    assert ledger.set_market_minimum("sim", "BTC/USDT", min_quantity=0.01, amount_step=0.01)
    assert not ledger.set_market_minimum("sim", "BTC/USDT", min_quantity=0.01, amount_step=0.01)
    dust = _round_trip_leaving_dust(ledger)
    assert ledger.open_positions() == []
    [reported] = ledger.dust_positions()
    assert reported.quantity == dust
    assert (reported.stop_loss, reported.trailing_stop_pct) == (None, None)  # nothing to watch
    account = ledger.account("USDT")
    assert account.open_positions == 0
    assert account.equity == pytest.approx(account.cash + dust * 110.0)
    inputs = ledger.risk_inputs("sim", "USDT", T0, 10)
    assert inputs.positions == {}
    assert inputs.equity == pytest.approx(account.equity)


def test_a_buy_on_top_of_dust_opens_a_new_position(ledger: Ledger) -> None:
    ledger.set_market_minimum("sim", "BTC/USDT", min_quantity=0.01, amount_step=0.01)
    dust = _round_trip_leaving_dust(ledger)
    later = T0 + timedelta(hours=3)
    again = Fill("sim", "b2", "BTC/USDT", "buy", 1.0, 120.0, 0.12, "USDT", "taker", later)
    ledger.record_fills([again])
    [pos] = ledger.open_positions()
    assert pos.quantity == pytest.approx(1.0 + dust)
    assert pos.opened_at == later  # a new position, not the old one's
    assert pos.high_water == 120.0  # the trailing stop starts again from this entry
    assert ledger.dust_positions() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_quantity", float("nan")),
        ("min_quantity", -1.0),
        ("min_quantity", math.inf),
        ("min_quantity", "0.01"),
        ("amount_step", float("nan")),
        ("amount_step", -0.01),
        ("amount_step", True),
    ],
)
def test_a_bad_minimum_is_refused_naming_the_field(ledger: Ledger, field, value) -> None:
    values = {"min_quantity": 0.01, "amount_step": 0.01, field: value}
    with pytest.raises(ValueError, match=field):
        ledger.set_market_minimum("sim", "BTC/USDT", **values)
    assert ledger.dust_positions() == []


# ------------------------------------------------------------------ engine + paper broker

CONFIG = TradingConfig.model_validate(
    {
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        "risk": {"position_fraction": 0.5, "max_notional": 400.0, "min_notional": 5.0,
                 "max_open_positions": 1},
        "fees": {"maker": 0.001, "taker": 0.001},
    }
)  # fmt: skip


def test_dust_left_by_a_base_fee_does_not_block_the_re_entry(sqlite_url: str) -> None:
    clock = Clock()
    market = StubMarket(clock)
    market.set_book("BTC/USDT", 100.0, amount=1000.0)
    ledger = Ledger(sqlite_url, clock=clock)
    broker = PaperBroker(
        market, exchange="sim", fees=CONFIG.fees, clock=clock, rules=lambda s: RULES,
        fee_currency=PaperFeeCurrency(currency="base"),
    )  # fmt: skip
    engine = Engine(ledger, broker, market, CONFIG, EngineOptions(), clock=clock)
    engine.start()

    def tick() -> None:
        clock.advance(minutes=1)
        engine.tick()

    ledger.add_intents([make_intent(notional=200.0)])
    tick()
    ledger.add_intents([make_intent(action="close", bar_ts=T0 + timedelta(minutes=1))])
    tick()
    [dust] = ledger.dust_positions()
    assert 0 < dust.quantity < RULES.min_quantity
    assert ledger.open_positions() == []
    again = make_intent(notional=200.0, bar_ts=T0 + timedelta(minutes=2))
    ledger.add_intents([again])
    tick()
    record = ledger.intent(again.intent_id)
    assert record is not None and record.status in ("ACCEPTED", "DONE"), record
    [pos] = ledger.open_positions()
    assert pos.quantity > 1.0
    ledger.close()

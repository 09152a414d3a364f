"""Backstops in paper mode (the levels, the keeper's lifecycle, the paper exchange holding
them) and the pure policy (executor.backstop_levels)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from executor.backstop_levels import (
    BackstopPlan,
    BackstopSettings,
    leg_base,
    leg_ids,
    list_client_id,
    plan_backstop,
    replace_reason,
)
from executor.brokers.base import BrokerUnavailable, OrderRejected
from executor.brokers.paper import PaperBroker
from executor.engine import Engine
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import OrderRecord, Position
from executor.sizing import MarketRules
from tests.executor.helpers import T0, Clock, StubMarket, make_intent, make_order
from trading_core.config import TradingConfig

CONFIG = TradingConfig.model_validate(
    {
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        "risk": {"position_fraction": 0.5, "max_notional": 400.0, "min_notional": 5.0},
        "fees": {"maker": 0.001, "taker": 0.001},
    }
)
RULES = MarketRules("BTC/USDT", amount_step=0.001, price_tick=0.01, min_notional=5.0)


def position(**changes: object) -> Position:
    base = Position(
        exchange="sim",
        symbol="BTC/USDT",
        quantity=2.0,
        avg_entry_price=100.0,
        realized_pnl_gross=0.0,
        realized_pnl_net=0.0,
        fees_quote=0.0,
        last_price=100.0,
        strategy="macd",
        stop_loss=95.0,
        take_profit=None,
        trailing_stop_pct=None,
        high_water=100.0,
        entry_intent_id="abc",
        opened_at=T0,
        updated_at=T0,
    )
    return dataclasses.replace(base, **changes)


# ------------------------------------------------------------------------ pure policy


def test_levels_are_wider_than_the_executors_and_rounded_away_from_it() -> None:
    settings = BackstopSettings(margin_pct=0.01, limit_offset_pct=0.005)
    plan = plan_backstop(position(quantity=2.0004), RULES, settings, oco=False)
    # 95 x 0.99 = 94.05; 94.05 x 0.995 = 93.57975 -> down to the tick.
    assert plan == BackstopPlan(quantity=2.0, trigger=94.05, limit=93.57, take=None)
    oco = plan_backstop(position(take_profit=110.003), RULES, settings, oco=True)
    assert oco is not None and oco.take == 111.11  # 111.103 up to the tick
    # The trailing level counts when it is the higher one: 120 x 0.95 = 114 > 95.
    trailing = plan_backstop(
        position(trailing_stop_pct=0.05, high_water=120.0), RULES, settings, oco=False
    )
    assert trailing is not None and trailing.trigger == 112.86


@pytest.mark.parametrize(
    "changes",
    [
        {"stop_loss": None},  # a take-profit alone protects nothing
        {"stop_loss": None, "take_profit": 110.0},
        {"quantity": 0.04},  # 0.04 x 93.1 is below the 5 USDT minimum
        {"quantity": 0.0},
    ],
)
def test_no_backstop_without_a_stop_or_for_dust(changes: dict) -> None:
    assert plan_backstop(position(**changes), RULES, BackstopSettings(), oco=True) is None


def leg(cid: str = "tp-abc-b0", **changes: object) -> OrderRecord:
    defaults = {
        "role": "backstop",
        "side": "sell",
        "order_type": "stop_loss_limit",
        "intent_id": None,
        "quantity": 2.0,
        "price": 93.1,
        "stop_price": 94.05,
        "state": OrderState.OPEN,
    }
    return make_order(client_order_id=cid, **{**defaults, **changes})


def test_a_resting_backstop_is_replaced_only_past_the_step() -> None:
    plan = BackstopPlan(quantity=2.0, trigger=94.05, limit=93.1)
    step = 0.0025
    assert replace_reason([leg()], plan, RULES, step) is None
    nudged = dataclasses.replace(plan, trigger=94.05 * 1.002)
    assert replace_reason([leg()], nudged, RULES, step) is None
    risen = dataclasses.replace(plan, trigger=94.05 * 1.003)
    assert "trigger" in replace_reason([leg()], risen, RULES, step)
    lowered = dataclasses.replace(plan, trigger=90.0)  # the protection itself was lowered
    assert "trigger" in replace_reason([leg()], lowered, RULES, step)
    grown = dataclasses.replace(plan, quantity=2.5)  # a partly filled entry filled more
    assert "quantity" in replace_reason([leg()], grown, RULES, step)
    with_take = dataclasses.replace(plan, take=111.1)
    assert "added" in replace_reason([leg()], with_take, RULES, step)
    assert replace_reason([leg()], None, RULES, step) == "the position no longer has a stop to back"


def test_oco_legs_are_judged_together() -> None:
    plan = BackstopPlan(quantity=2.0, trigger=94.05, limit=93.1, take=111.1)
    stop, take = leg("tp-abc-b0s"), leg("tp-abc-b0t", order_type="limit_maker", price=111.1)
    assert replace_reason([stop, take], plan, RULES, 0.0025) is None
    moved = dataclasses.replace(plan, take=115.0)
    assert "take-profit" in replace_reason([stop, take], moved, RULES, 0.0025)
    # The take leg expired because the stop triggered: the stop is executing, leave it be.
    assert replace_reason([stop], plan, RULES, 0.0025) is None
    assert "stop leg" in replace_reason([take], plan, RULES, 0.0025)
    two = [leg("tp-abc-b0"), leg("tp-abc-b1")]
    assert "more than one" in replace_reason(two, plan, RULES, 0.0025)


def test_ids_of_legs_and_lists() -> None:
    assert leg_ids("tp-abc-b3", oco=False) == ("tp-abc-b3",)
    assert leg_ids("tp-abc-b3", oco=True) == ("tp-abc-b3s", "tp-abc-b3t")
    assert {leg_base("tp-abc-b3s"), leg_base("tp-abc-b3t"), leg_base("tp-abc-b3")} == {"tp-abc-b3"}
    assert list_client_id("tp-abc-b3t") == "tp-abc-b3l"


def test_settings_come_from_the_executor_config_with_defaults() -> None:
    assert BackstopSettings.from_config(CONFIG) == BackstopSettings()
    with pytest.raises(ValueError, match="step_pct"):
        BackstopSettings(margin_pct=0.01, step_pct=0.01)  # could end up inside the stop
    with pytest.raises(ValueError, match="margin_pct"):
        BackstopSettings(margin_pct=0.0)


# ----------------------------------------------------------------------- paper engine


class Recording(PaperBroker):
    """A paper broker that notes every call and can be made to fail backstop calls."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[tuple[str, str]] = []
        self.failing = False

    def submit(self, order, at=None):  # type: ignore[no-untyped-def]
        self.calls.append(("submit", order.role))
        return super().submit(order, at)

    def cancel(self, order):  # type: ignore[no-untyped-def]
        self.calls.append(("cancel", order.role))
        if self.failing and order.role == "backstop":
            raise BrokerUnavailable("exchange down")
        return super().cancel(order)

    def place_backstop(self, legs, at=None):  # type: ignore[no-untyped-def]
        self.calls.append(("place_backstop", legs[0].role))
        if self.failing:
            raise BrokerUnavailable("exchange down")
        return super().place_backstop(legs, at)


class PaperRig:
    def __init__(self, url: str):
        self.url = url
        self.clock = Clock()
        self.market = StubMarket(self.clock)
        self.market.set_book("BTC/USDT", 100.0, amount=1000.0)
        self.start()

    def start(self) -> None:
        """A new process: ledger, broker and engine (the market and clock go on)."""
        self.ledger = Ledger(self.url, clock=self.clock)
        self.broker = Recording(self.market, exchange="sim", fees=CONFIG.fees, clock=self.clock)
        self.engine = Engine(self.ledger, self.broker, self.market, CONFIG, clock=self.clock)
        self.engine.start()

    def candle(self, minute: int, o: float, h: float, lo: float, c: float) -> None:
        self.market.add_candle("BTC/USDT", T0 + timedelta(minutes=minute), o, h, lo, c)

    def tick(self, minutes: float = 1.0):
        self.clock.advance(minutes=minutes)
        return self.engine.tick()

    def enter(self, **protection: object) -> Position:
        self.ledger.add_intents([make_intent(notional=200.0, **protection)])
        self.tick()
        (held,) = self.ledger.open_positions()
        return held

    def backstops(self, *states: OrderState) -> list[OrderRecord]:
        rows = [o for o in self.ledger.orders() if o.role == "backstop"]
        return [o for o in rows if o.state in states] if states else rows


@pytest.fixture
def rig(sqlite_url: str) -> PaperRig:
    return PaperRig(sqlite_url)


def test_a_protected_entry_rests_a_stop_limit_that_is_no_trade_and_no_exit(
    rig: PaperRig,
) -> None:
    held = rig.enter(stop_loss=95.0)
    (stop,) = rig.backstops()
    assert (stop.order_type, stop.side, stop.state, stop.intent_id) == (
        "stop_loss_limit",
        "sell",
        OrderState.OPEN,
        None,
    )
    assert (stop.stop_price, stop.price) == pytest.approx((94.05, 93.1095))
    assert stop.quantity == pytest.approx(held.quantity)
    entry = next(o for o in rig.ledger.orders() if o.role == "entry")
    assert rig.ledger.intent(entry.intent_id).status == "DONE"  # not kept open by the backstop
    inputs = rig.ledger.risk_inputs("sim", "USDT", T0, 10)
    assert (inputs.trades_today, inputs.live_entry_symbols) == (1, frozenset())
    # A close intent is not refused as "an exit is already working".
    rig.ledger.add_intents([make_intent(action="close", bar_ts=T0 + timedelta(minutes=1))])
    rig.tick()
    assert rig.ledger.open_positions() == []


def test_with_a_take_profit_the_backstop_is_an_oco(rig: PaperRig) -> None:
    rig.enter(stop_loss=95.0, take_profit=110.0)
    stop, take = rig.backstops()
    assert (stop.client_order_id[-1], take.client_order_id[-1]) == ("s", "t")
    assert (take.order_type, take.price, take.stop_price) == ("limit_maker", 111.1, None)


def test_the_backstop_is_canceled_before_the_executors_exit(rig: PaperRig) -> None:
    rig.enter(stop_loss=95.0)
    rig.broker.calls.clear()
    rig.candle(1, 100, 100, 94.5, 95)  # the executor's stop, not the backstop's trigger
    rig.tick()
    assert rig.broker.calls == [("cancel", "backstop"), ("submit", "stop_loss")]
    (stop,) = rig.backstops()
    assert stop.state == OrderState.CANCELED
    assert rig.ledger.open_positions() == []
    rig.tick()
    assert len(rig.backstops()) == 1  # nothing placed for a flat position


def test_a_trailing_stop_moves_the_backstop_up_in_steps(rig: PaperRig) -> None:
    rig.enter(trailing_stop_pct=0.05)
    minutes = 40
    for minute in range(1, minutes + 1):
        close = 100.0 + 0.1 * minute  # +0.1 % a minute
        rig.candle(minute, close - 0.05, close + 0.05, close - 0.1, close)
        rig.tick()
    rows = rig.backstops()
    assert 8 <= len(rows) <= minutes // 2  # one replacement per ~0.25 %, not per candle
    (live,) = rig.backstops(OrderState.OPEN)
    assert all(o.state == OrderState.CANCELED for o in rows if o.id != live.id)
    stop = (100.0 + 0.1 * minutes + 0.05) * 0.95
    assert stop * 0.99 * (1 - 0.0025) <= live.stop_price <= stop * 0.99
    assert rig.ledger.open_positions()[0].quantity == pytest.approx(live.quantity)


def test_while_halted_the_resting_backstop_still_protects(rig: PaperRig) -> None:
    rig.enter(stop_loss=95.0)
    rig.ledger.set_trading_state("HALTED", "test", "operator:test")
    rig.candle(1, 100, 100, 90, 91)  # through the stop and the backstop's trigger
    rig.tick()
    assert rig.ledger.audit_entries("protective_exit_suppressed")
    assert rig.ledger.open_positions()  # the executor does nothing ...
    rig.tick()
    assert rig.ledger.open_positions() == []  # ... the exchange's stop does
    (stop,) = rig.backstops()
    assert (stop.state, stop.average_price) == (OrderState.FILLED, pytest.approx(94.05))
    (fill,) = [f for f in rig.ledger.fills_since() if f.side == "sell"]
    assert (fill.client_order_id, fill.liquidity) == (stop.client_order_id, "taker")


def test_a_backstop_that_fills_while_the_executor_is_down_is_recorded_once(
    rig: PaperRig,
) -> None:
    rig.enter(stop_loss=95.0, take_profit=110.0)
    rig.ledger.close()  # the executor dies; the exchange keeps its orders
    rig.candle(1, 99, 99, 96, 97)
    rig.candle(2, 97, 97, 93, 93.5)  # through the backstop's trigger 94.05
    rig.clock.advance(minutes=5)
    rig.start()
    rig.tick()
    stop, take = rig.backstops()
    assert (stop.state, take.state) == (OrderState.FILLED, OrderState.EXPIRED)
    assert rig.ledger.open_positions() == []
    assert [o.role for o in rig.ledger.orders()] == ["entry", "backstop", "backstop"]
    fills = rig.ledger.fill_count()
    rig.tick()
    rig.start()  # and once more: nothing is recorded twice
    rig.tick()
    assert rig.ledger.fill_count() == fills == 2


def test_a_stop_limit_that_gaps_past_its_limit_rests_until_traded_through(
    rig: PaperRig,
) -> None:
    rig.enter(stop_loss=95.0)
    rig.ledger.set_trading_state("HALTED", "test", "operator:test")
    rig.candle(1, 92, 93, 90, 91)  # opens below the limit 93.11: no fill
    rig.tick()
    rig.tick()
    (stop,) = rig.backstops()
    assert stop.state == OrderState.OPEN and rig.ledger.open_positions()
    rig.candle(3, 92, 93.5, 92, 93)  # trades through 93.1095
    rig.tick(minutes=2)
    rig.tick()
    stop = rig.ledger.order(stop.client_order_id)
    assert (stop.state, stop.average_price) == (OrderState.FILLED, pytest.approx(93.1095))
    assert [f.liquidity for f in rig.ledger.fills_since() if f.side == "sell"] == ["maker"]


def test_backstop_failures_never_stop_the_tick_or_the_exit(rig: PaperRig) -> None:
    rig.enter(stop_loss=95.0)
    rig.broker.failing = True
    rig.candle(1, 100, 100, 94.5, 95)
    report = rig.tick()
    assert report.errors == [] and rig.ledger.audit_entries("backstop_failed")
    # The exit is still tried; like Binance, paper refuses it while the backstop holds the
    # quantity, which the backstop goes on protecting.
    (refused,) = [o for o in rig.ledger.orders() if o.role == "stop_loss"]
    assert refused.state == OrderState.REJECTED and "backstop holds" in refused.reason
    assert rig.backstops(OrderState.OPEN)
    rig.broker.failing = False  # the exchange answers again: the next trigger exits
    rig.candle(2, 95, 95, 94.2, 94.5)
    assert rig.tick().protective_exits == 1
    assert rig.ledger.open_positions() == []
    assert [o.state for o in rig.backstops()] == [OrderState.CANCELED]


def test_a_failing_exchange_is_retried_with_a_backoff(rig: PaperRig) -> None:
    rig.broker.failing = True
    rig.enter(stop_loss=95.0)
    for minute in range(1, 16):
        rig.candle(minute, 100, 100.5, 99.5, 100)
        rig.tick()
    tries = [c for c in rig.broker.calls if c[0] == "place_backstop"]
    assert 3 <= len(tries) <= 6  # after 0, 1, 3, 7, 15 skipped calls, not every tick
    assert {o.state for o in rig.backstops()} == {OrderState.REJECTED}
    rig.broker.failing = False
    for minute in range(16, 60):
        rig.candle(minute, 100, 100.5, 99.5, 100)
        rig.tick()
    assert rig.backstops(OrderState.OPEN)


def test_the_paper_exchange_refuses_a_backstop_that_would_act_at_once(rig: PaperRig) -> None:
    above = leg("tp-abc-b0s", exchange="sim", stop_price=100.5, price=100.0)  # bid 99.99
    with pytest.raises(OrderRejected, match="trigger immediately"):
        rig.broker.place_backstop([above])
    stop = leg("tp-abc-b0s", exchange="sim")
    take = leg("tp-abc-b0t", exchange="sim", order_type="limit_maker", price=99.0)
    with pytest.raises(OrderRejected, match="would take"):
        rig.broker.place_backstop([stop, take])


def test_a_backstop_left_behind_a_flat_position_is_canceled_next_tick(rig: PaperRig) -> None:
    held = rig.enter(stop_loss=95.0)
    sale = dataclasses.replace(rig.ledger.fills_since()[0], trade_id="manual-1", side="sell")
    rig.ledger.record_fills([dataclasses.replace(sale, quantity=held.quantity)])
    assert rig.ledger.open_positions() == []
    rig.tick()
    assert [o.state for o in rig.backstops()] == [OrderState.CANCELED]
    assert rig.ledger.audit_entries("backstop_canceled")[0]["details"]["why"] == (
        "its position is flat"
    )

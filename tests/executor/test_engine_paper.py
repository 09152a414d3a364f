"""The engine's tick in paper mode: intents to orders to fills, protective exits, operator
commands, drawdown, repricing and orders whose answer was lost."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from executor.brokers.base import OrderSnapshot, SubmitOutcomeUnknown
from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.records import NewOrder, OrderRecord
from tests.executor.helpers import T0, Clock, StubMarket, make_intent
from trading_core.config import TradingConfig

CONFIG = TradingConfig.model_validate(
    {
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        "risk": {
            "position_fraction": 0.5,
            "max_notional": 400.0,
            "min_notional": 5.0,
            "max_drawdown_pct": 0.2,
            "max_open_positions": 2,
        },
        "fees": {"maker": 0.001, "taker": 0.001},
    }
)


class Rig:
    def __init__(
        self,
        url: str,
        options: EngineOptions | None = None,
        broker=None,
        market_name: str = "stub",
    ):
        self.clock = Clock()
        self.market = StubMarket(self.clock)
        self.market.name = market_name
        for symbol, mid in (("BTC/USDT", 100.0), ("ETH/USDT", 50.0), ("SOL/USDT", 10.0)):
            self.market.set_book(symbol, mid, amount=1000.0)
        self.ledger = Ledger(url, clock=self.clock)
        self.broker = broker or PaperBroker(
            self.market, exchange="sim", fees=CONFIG.fees, clock=self.clock
        )
        self.engine = Engine(
            self.ledger,
            self.broker,
            self.market,
            CONFIG,
            options or EngineOptions(),
            clock=self.clock,
        )
        self.engine.start()

    def candle(self, symbol: str, minute: int, o: float, h: float, lo: float, c: float) -> None:
        self.market.add_candle(symbol, T0 + timedelta(minutes=minute), o, h, lo, c)

    def tick(self, minutes: float = 1.0):
        self.clock.advance(minutes=minutes)
        return self.engine.tick()


@pytest.fixture
def rig(sqlite_url: str) -> Rig:
    return Rig(sqlite_url)


def backstops(rig: Rig) -> list[OrderRecord]:
    return [o for o in rig.ledger.orders() if o.role == "backstop"]


def test_an_intent_becomes_one_filled_order_and_a_position(rig: Rig) -> None:
    intent = make_intent(notional=200.0)
    rig.ledger.add_intents([intent])
    report = rig.tick()
    assert (report.intents_seen, report.orders_submitted, report.fills_recorded) == (1, 1, 1)
    (order,) = rig.ledger.orders(intent_id=intent.intent_id)
    assert order.state == OrderState.FILLED
    assert rig.ledger.intent(intent.intent_id).status == "DONE"
    (position,) = rig.ledger.open_positions()
    assert position.quantity == pytest.approx(order.filled_quantity)
    assert position.quantity * position.avg_entry_price <= 200.0
    assert rig.ledger.account().cash == pytest.approx(
        1000.0 - order.filled_quantity * order.average_price * 1.001
    )
    # The same decision arriving again changes nothing.
    assert rig.ledger.add_intents([intent]) == 0
    rig.tick()
    assert len(rig.ledger.orders()) == 1


def test_a_rejected_intent_keeps_the_reason_and_creates_no_order(rig: Rig) -> None:
    intent = make_intent(notional=450.0)
    rig.ledger.add_intents([intent])
    assert rig.tick().intents_rejected == 1
    record = rig.ledger.intent(intent.intent_id)
    assert record.status == "REJECTED_BY_RISK"
    assert "max_notional" in record.status_reason
    assert rig.ledger.orders() == []


def test_a_close_intent_sells_the_whole_position(rig: Rig) -> None:
    rig.ledger.add_intents([make_intent(notional=200.0)])
    rig.tick()
    close = make_intent(action="close", bar_ts=T0 + timedelta(minutes=1))
    rig.ledger.add_intents([close])
    rig.tick()
    (exit_order,) = rig.ledger.orders(intent_id=close.intent_id)
    assert (exit_order.role, exit_order.side, exit_order.state) == (
        "exit",
        "sell",
        OrderState.FILLED,
    )
    assert rig.ledger.open_positions() == []
    assert rig.ledger.intent(close.intent_id).status == "DONE"


@pytest.mark.parametrize(
    ("protection", "candles", "role", "price"),
    [
        ({"stop_loss": 95.0}, [(100, 101, 99, 100), (99, 99.5, 94, 95.5)], "stop_loss", 95.0),
        ({"take_profit": 110.0}, [(100, 111, 99, 108)], "take_profit", 110.0),
        # Stop and target in one candle: the stop is assumed first.
        ({"stop_loss": 95.0, "take_profit": 110.0}, [(100, 111, 94, 100)], "stop_loss", 95.0),
        # Trailing 5 %: the high of 120 lifts the stop to 114 for the next candle.
        (
            {"trailing_stop_pct": 0.05},
            [(100, 120, 100, 119), (118, 118, 113, 115)],
            "trailing_stop",
            114.0,
        ),
    ],
)
def test_protective_exits_are_watched_between_runs(
    rig: Rig, protection: dict, candles: list, role: str, price: float
) -> None:
    rig.ledger.add_intents([make_intent(notional=200.0, **protection)])
    rig.tick()
    for i, candle in enumerate(candles):
        rig.candle("BTC/USDT", 2 + i, *candle)
    rig.tick(minutes=len(candles) + 2)
    exits = [o for o in rig.ledger.orders() if o.role == role]
    assert len(exits) == 1, rig.ledger.orders()
    assert exits[0].state == OrderState.FILLED
    assert exits[0].average_price == pytest.approx(price)
    assert rig.ledger.open_positions() == []
    rig.tick()
    # No second exit; the backstop resting on the exchange was canceled before the exit.
    assert [o.role for o in rig.ledger.orders() if o.role != "backstop"] == ["entry", role]
    assert all(o.state == OrderState.CANCELED for o in backstops(rig))


def test_halted_trades_nothing_not_even_protective_exits(rig: Rig) -> None:
    rig.ledger.add_intents([make_intent(notional=200.0, stop_loss=95.0)])
    rig.tick()
    rig.ledger.set_trading_state("HALTED", "test", "operator:test")
    rig.candle("BTC/USDT", 2, 100, 100, 90, 91)
    rig.ledger.add_intents([make_intent("ETH/USDT")])
    rig.tick(minutes=3)
    assert [o.role for o in rig.ledger.orders()] == ["entry", "backstop"]  # left resting
    assert rig.ledger.audit_entries("protective_exit_suppressed")


def test_pause_allows_exits_only_and_resume_restores(rig: Rig) -> None:
    rig.ledger.add_intents([make_intent(notional=200.0)])
    rig.tick()
    rig.ledger.add_command("pause", "alice", "news event")
    rig.ledger.add_intents(
        [make_intent("ETH/USDT"), make_intent(action="close", bar_ts=T0 + timedelta(minutes=1))]
    )
    rig.tick()
    assert rig.ledger.trading_state() == "REDUCING"
    statuses = {
        r.intent.symbol: r.status
        for r in [
            rig.ledger.intent(i.intent_id)
            for i in (
                make_intent("ETH/USDT"),
                make_intent(action="close", bar_ts=T0 + timedelta(minutes=1)),
            )
        ]
    }
    assert statuses == {"ETH/USDT": "REJECTED_BY_RISK", "BTC/USDT": "DONE"}
    rig.ledger.add_command("resume", "alice", "calm again")
    rig.tick()
    assert rig.ledger.trading_state() == "ACTIVE"
    applied = rig.ledger.audit_entries("command_applied")
    assert [e["details"]["why"] for e in applied] == ["calm again", "news event"]


def test_close_all_takes_effect_within_one_tick(rig: Rig) -> None:
    rig.ledger.add_intents([make_intent(notional=200.0), make_intent("ETH/USDT", notional=200)])
    rig.tick()
    assert len(rig.ledger.open_positions()) == 2
    rig.ledger.add_command("close-all", "bob", "end of test")
    rig.tick()
    assert rig.ledger.open_positions() == []
    assert {o.role for o in rig.ledger.orders() if o.side == "sell"} == {"operator"}
    assert rig.ledger.trading_state() == "REDUCING"
    (command,) = rig.ledger.commands()
    assert command.applied_at is not None and "FILLED" in command.result


def test_close_position_and_halt_cancel_working_entries(rig: Rig) -> None:
    limit = make_intent("ETH/USDT", order_type="limit", limit_price=40.0)
    rig.ledger.add_intents([make_intent(notional=200.0), limit])
    rig.tick()
    (working,) = rig.ledger.orders([OrderState.OPEN])
    rig.ledger.add_command("close-position", "bob", "trim", "BTC/USDT")
    rig.tick()
    assert [p.symbol for p in rig.ledger.open_positions()] == []
    assert rig.ledger.order(working.client_order_id).state == OrderState.OPEN  # other symbol
    rig.ledger.add_command("halt", "bob", "stop everything")
    rig.tick()
    assert rig.ledger.trading_state() == "HALTED"
    assert rig.ledger.order(working.client_order_id).state == OrderState.CANCELED


def test_a_drawdown_beyond_the_limit_halts_trading(rig: Rig) -> None:
    rig.ledger.add_intents([make_intent(notional=400.0)])
    rig.tick()
    rig.candle("BTC/USDT", 2, 100, 100, 40, 41)  # the position loses ~60 %: equity -24 %
    rig.tick(minutes=3)
    risk = rig.ledger.risk_record()
    assert risk.state == "HALTED"
    assert "max_drawdown_pct" in risk.reason
    late = make_intent("ETH/USDT", bar_ts=rig.clock() - timedelta(minutes=1))
    rig.ledger.add_intents([late])
    rig.tick()
    assert rig.ledger.intent(late.intent_id).status == "REJECTED_BY_RISK"


def test_unfilled_limit_entries_are_repriced_then_given_up(sqlite_url: str) -> None:
    rig = Rig(sqlite_url, EngineOptions(limit_timeout_seconds=120, max_reprices=2))
    # An hour bar: its entry may be chased for an hour and a half (one bar + grace).
    intent = dataclasses.replace(make_intent(order_type="limit", limit_price=90.0), timeframe="1h")
    rig.ledger.add_intents([intent])
    rig.tick()
    for _ in range(4):
        rig.tick(minutes=3)
    orders = rig.ledger.orders(intent_id=intent.intent_id)
    assert [o.attempt for o in orders] == [0, 1, 2]
    assert [o.state for o in orders] == [OrderState.CANCELED] * 3
    assert orders[1].price == pytest.approx(99.99)  # repriced at the best bid
    assert len({o.client_order_id for o in orders}) == 3
    assert "reprices used" in rig.ledger.intent(intent.intent_id).status_reason


class LosesAnswers(PaperBroker):
    """Accepts and fills every order, then loses the answer (accept-then-timeout)."""

    def __init__(self, *args, hide: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.hide = hide  # the exchange never got it: queries find nothing
        self.submits: list[str] = []
        self.seen: dict[str, OrderSnapshot] = {}

    def submit(self, order: OrderRecord, at=None) -> OrderSnapshot:
        self.submits.append(order.client_order_id)
        if not self.hide:
            self.seen[order.client_order_id] = super().submit(order, at)
        raise SubmitOutcomeUnknown("read timeout")

    def query(self, order: OrderRecord, at=None) -> OrderSnapshot | None:
        return self.seen.get(order.client_order_id)


def lossy_rig(url: str, hide: bool) -> Rig:
    clock = Clock()
    market = StubMarket(clock)
    market.set_book("BTC/USDT", 100.0, amount=1000.0)
    broker = LosesAnswers(market, exchange="sim", fees=CONFIG.fees, clock=clock, hide=hide)
    rig = Rig(
        url, EngineOptions(unknown_order_grace_seconds=30, max_unknown_lookups=3), broker=broker
    )
    rig.clock, rig.market = clock, market
    rig.engine._clock = clock
    rig.ledger._clock = clock
    return rig


def test_a_lost_answer_is_resolved_by_query_never_by_a_second_submit(sqlite_url: str) -> None:
    rig = lossy_rig(sqlite_url, hide=False)
    intent = make_intent(notional=200.0)
    rig.ledger.add_intents([intent])
    rig.tick()
    (order,) = rig.ledger.orders()
    assert order.state == OrderState.IN_FLIGHT_UNKNOWN
    assert rig.ledger.open_positions() == []
    rig.tick(minutes=1)
    order = rig.ledger.order(order.client_order_id)
    assert order.state == OrderState.FILLED
    assert rig.broker.submits == [order.client_order_id]
    assert len(rig.ledger.open_positions()) == 1
    assert rig.ledger.intent(intent.intent_id).status == "DONE"


def test_an_order_the_exchange_never_got_is_given_up_not_resent(sqlite_url: str) -> None:
    rig = lossy_rig(sqlite_url, hide=True)
    rig.ledger.add_intents([make_intent(notional=200.0)])
    for _ in range(5):
        rig.tick(minutes=1)
    (order,) = rig.ledger.orders()
    assert order.state == OrderState.GIVEN_UP
    assert "after 3 lookups" in order.reason
    assert len(rig.broker.submits) == 1


def test_an_order_left_pending_by_a_crash_is_submitted_once(rig: Rig) -> None:
    intent = make_intent(notional=200.0)
    rig.ledger.add_intents([intent])
    rig.ledger.create_order(
        NewOrder(
            client_order_id="tp-crashed-e0",
            exchange="sim",
            symbol="BTC/USDT",
            side="buy",
            order_type="market",
            role="entry",
            quantity=1.0,
            intent_id=intent.intent_id,
        ),
        accept_intent=True,
    )
    rig.engine.tick()  # within the grace period: left alone
    assert rig.ledger.order("tp-crashed-e0").state == OrderState.PENDING_SUBMIT
    rig.tick(minutes=1)
    assert rig.ledger.order("tp-crashed-e0").state == OrderState.FILLED
    rig.tick(minutes=1)
    assert rig.ledger.fill_count() == 1


class RecordingMarket(StubMarket):
    def __init__(self, clock: Clock):
        super().__init__(clock)
        self.book_times: list = []

    def fetch_order_book(self, exchange, symbol, depth, at=None):
        self.book_times.append(at)
        return super().fetch_order_book(exchange, symbol, depth, at)


def test_replayed_markets_are_read_at_the_decision_time(sqlite_url: str) -> None:
    clock = Clock(T0 + timedelta(days=400))  # wall clock far after the replayed bars
    market = RecordingMarket(clock)
    market.name = "replay"
    market.set_book("BTC/USDT", 100.0, amount=1000.0)
    ledger = Ledger(sqlite_url, clock=clock)
    broker = PaperBroker(market, exchange="sim", fees=CONFIG.fees, clock=clock)
    engine = Engine(ledger, broker, market, CONFIG, clock=clock)
    engine.start()
    intent = make_intent(notional=100.0)
    ledger.add_intents([intent])
    engine.tick()
    assert set(market.book_times) == {intent.decided_at}
    (f,) = ledger.fills_since()
    assert f.event_time == intent.decided_at


def test_pause_does_not_loosen_a_halt(rig: Rig) -> None:
    rig.ledger.add_command("halt", "alice", "exchange incident")
    rig.ledger.add_command("pause", "bob", "news")
    rig.tick()
    assert rig.ledger.trading_state() == "HALTED"
    (pause, _halt) = rig.ledger.commands()
    assert "does not loosen" in pause.result


def test_a_limit_entry_is_not_chased_past_its_age_limit_nor_beyond_the_cash(
    sqlite_url: str,
) -> None:
    """Repricing is a new decision at today's price: never for an entry older than one bar
    plus grace, and never for more than the cash not committed elsewhere."""
    rig = Rig(sqlite_url, EngineOptions(limit_timeout_seconds=120, max_reprices=3))
    old = make_intent(order_type="limit", limit_price=90.0)  # a 1m bar: 90 s to live
    rig.ledger.add_intents([old])
    rig.tick()
    rig.tick(minutes=3)
    (order,) = rig.ledger.orders(intent_id=old.intent_id)
    assert order.state == OrderState.CANCELED
    assert rig.ledger.audit_entries("reprice_skipped")[0]["details"]["reason"] == (
        "not repriced: the entry is older than its age limit"
    )
    assert rig.ledger.intent(old.intent_id).status == "DONE"

"""Reconciliation and the engine in exchange mode, against the fake Binance via ccxt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from executor.brokers.ccxt_broker import CcxtBroker
from executor.engine import Engine, EngineOptions, StartupRefused
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.reconcile import Reconciler
from tests.executor.helpers import Clock, StubMarket, make_intent
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.config import TradingConfig
from trading_core.retry import RetryPolicy
from trading_core.timeframes import utc_now

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.01, jitter=False)


def config(mode: str = "testnet") -> TradingConfig:
    return TradingConfig.model_validate(
        {
            "executor": {"mode": mode, "exchange": "binance"},
            "market": {"symbols": ["BTC/USDT"]},
            "risk": {"position_fraction": 0.5, "max_notional": 5_000.0},
        }
    )


class ExchangeRig:
    def __init__(self, fake: FakeBinance, url: str, mode: str = "testnet"):
        self.fake = fake
        self.clock = Clock(utc_now())
        self.ledger = Ledger(url, mode=mode, clock=self.clock)
        self.broker = CcxtBroker(
            make_ccxt_client(fake.url, timeout=500),
            fees=config().fees,
            retry=FAST,
            sleep=lambda _: None,
        )
        self.reconciler = Reconciler(self.ledger, self.broker, symbols=["BTC/USDT"])
        self.engine = Engine(
            self.ledger,
            self.broker,
            StubMarket(self.clock),
            config(mode),
            EngineOptions(unknown_order_grace_seconds=1, max_unknown_lookups=3),
            reconciler=self.reconciler,
            clock=self.clock,
        )

    def tick(self, seconds: float = 2.0):
        self.clock.advance(seconds=seconds)
        return self.engine.tick()

    def btc(self) -> float:
        return float(self.fake.balances()["BTC"]["free"]) + float(
            self.fake.balances()["BTC"]["locked"]
        )


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(balances={"USDT": 10_000, "BTC": 0.5}, hang_seconds=2.0) as server:
        server.set_order_book("BTCUSDT", bids=[(30_000, 5.0)], asks=[(30_010, 5.0)])
        yield server
        assert server.internal_errors == []


@pytest.fixture
def rig(fake: FakeBinance, tmp_path: Path) -> ExchangeRig:
    r = ExchangeRig(fake, f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    yield r
    r.ledger.close()


def test_start_records_the_baseline_and_trades_reconcile(rig: ExchangeRig) -> None:
    assert rig.engine.start()
    assert rig.ledger.latest_balances("binance", "baseline")["BTC"] == pytest.approx(0.5)
    assert rig.ledger.account().cash == pytest.approx(10_000.0)
    rig.ledger.add_intents(
        [
            make_intent(
                bar_ts=rig.clock() - timedelta(minutes=1), exchange="binance", notional=3_000.0
            )
        ]
    )
    rig.tick()
    (position,) = rig.ledger.open_positions()
    assert position.quantity == pytest.approx(0.09996)
    assert rig.reconciler.run().ok
    assert rig.btc() == pytest.approx(0.5 + position.quantity)
    fake_usdt = float(rig.fake.balances()["USDT"]["free"])
    assert rig.ledger.account().cash == pytest.approx(fake_usdt)


def test_a_lost_answer_is_settled_by_query_with_one_exchange_order(rig: ExchangeRig) -> None:
    rig.engine.start()
    rig.fake.inject("accept_then_timeout")
    intent = make_intent(
        bar_ts=rig.clock() - timedelta(minutes=1), exchange="binance", notional=3_000.0
    )
    rig.ledger.add_intents([intent])
    rig.tick()
    (order,) = rig.ledger.orders()
    assert order.state == OrderState.IN_FLIGHT_UNKNOWN
    rig.fake.inject("503", path="/api/v3/order", method="GET", count=3)  # first lookup fails
    assert rig.tick().errors
    rig.tick()
    assert rig.ledger.order(order.client_order_id).state == OrderState.FILLED
    assert len(rig.fake.orders()) == 1
    assert rig.fake.count_requests("POST", "/api/v3/order") == 1
    assert {t["id"] for t in rig.fake.trades()} == {
        int(f.trade_id) for f in rig.ledger.fills_since()
    }
    assert rig.reconciler.run().ok


def test_fills_missed_while_away_are_recovered(rig: ExchangeRig) -> None:
    rig.engine.start()
    rig.ledger.add_intents(
        [
            make_intent(
                bar_ts=rig.clock() - timedelta(minutes=1),
                exchange="binance",
                order_type="limit",
                limit_price=29_000.0,
                notional=2_900.0,
            )
        ]
    )
    rig.tick()
    (order,) = rig.ledger.orders([OrderState.OPEN])
    rig.fake.partial_fill(order.client_order_id, 0.04)
    rig.fake.trade_through("BTCUSDT", 28_900, 1.0)  # fills the rest while we are away
    report = rig.reconciler.run()
    assert report.ok and report.recovered_fills == 2
    assert rig.ledger.order(order.client_order_id).state == OrderState.FILLED
    assert rig.ledger.open_positions()[0].quantity == pytest.approx(0.1)
    assert rig.ledger.audit_entries("missed_fills_recovered")


def test_an_external_order_is_recorded_and_a_position_mismatch_halts(
    rig: ExchangeRig, fake: FakeBinance
) -> None:
    rig.engine.start()
    other = make_ccxt_client(fake.url)
    other.create_order("BTC/USDT", "limit", "buy", 0.01, 25_000.0, {"clientOrderId": "manual1"})
    report = rig.reconciler.run()
    assert report.ok and report.external_orders == 1
    external = rig.ledger.order("manual1")
    assert (external.role, external.state) == ("external", OrderState.OPEN)
    other.create_order("BTC/USDT", "market", "buy", 0.02, None, {"clientOrderId": "manual2"})
    report = rig.reconciler.run()
    assert not report.ok and report.external_fills == 1
    risk = rig.ledger.risk_record()
    assert risk.state == "HALTED"
    assert "the exchange holds 0.52" in risk.reason and "expects 0.5" in risk.reason
    rig.ledger.add_intents(
        [make_intent(bar_ts=rig.clock() - timedelta(minutes=1), exchange="binance")]
    )
    rig.tick()
    assert [o.role for o in rig.ledger.orders()] == ["external", "external"]


def test_live_mode_refuses_to_start_when_reconciliation_fails(
    fake: FakeBinance, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    paper_trail = ExchangeRig(fake, url, mode="testnet")
    paper_trail.engine.start()  # baseline: 0.5 BTC
    paper_trail.ledger.close()
    fake.set_balance("BTC", 0.7)  # someone moved funds in while we were down
    live = ExchangeRig(fake, url, mode="live")
    with pytest.raises(StartupRefused, match="reconciliation"):
        live.engine.start()
    assert "the exchange holds 0.7" in live.ledger.risk_record().reason
    live.ledger.close()


def test_trades_are_read_page_by_page(
    rig: ExchangeRig, fake: FakeBinance, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_ccxt_client(fake.url)
    for i in range(5):
        other.create_order("BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": f"p{i}"})
    monkeypatch.setattr("executor.brokers.ccxt_account.TRADES_PAGE", 2)
    fake.clear_requests()
    trades = rig.broker.trades_since("BTC/USDT", utc_now() - timedelta(hours=1))
    assert [int(t["id"]) for t in trades] == [t["id"] for t in fake.trades()]
    assert len(trades) == 5
    assert fake.count_requests("GET", "/api/v3/myTrades") >= 3

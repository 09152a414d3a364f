"""The executor's own alerts, raised by the engine's tick through the alert module: a trade
executed (INFO), latency and minor API errors (WARNING), a lost exchange connection
(CRITICAL, then INFO when it answers again), the drawdown stages of the protocol (5 %
WARNING, 10 % CRITICAL, 15 % and 20 % EMERGENCY), a system error (EMERGENCY) and a failed
publish (WARNING), on a real paper engine and SQLite ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from executor.alert_channels import TelegramChannel
from executor.alerts import Alerter
from executor.brokers.base import BrokerUnavailable
from executor.brokers.paper import PaperBroker
from executor.engine import Engine
from executor.engine_alerts import EngineAlerts, connection_lost
from executor.ledger import Ledger
from tests.executor.helpers import Clock, StubMarket, make_intent
from tests.fakes.telegram_api import FakeTelegramAPI
from trading_core.config import TradingConfig
from trading_core.config_alerts import AlertsConfig
from trading_core.retry import RetryError

CONFIG = TradingConfig.model_validate(
    {
        "executor": {"starting_cash": 1000.0, "exchange": "sim", "reconcile_every_ticks": 1},
        "risk": {"position_fraction": 1.0, "max_notional": 2000.0, "max_drawdown_pct": 0.5},
        "fees": {"maker": 0.0, "taker": 0.0},
    }
)
TOKEN = "5150:AAengineAlertsToken"


@dataclass
class Recorder:
    """An ``Alerter.send`` stand-in that keeps what it was given."""

    calls: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def __call__(
        self, severity: str, title: str, message: str, at: datetime | None = None, *,
        key: str | None = None,
    ) -> bool:  # fmt: skip
        self.calls.append((severity, title, message, key))
        return True

    def titles(self, severity: str | None = None) -> list[str]:
        return [t for s, t, _, _ in self.calls if severity is None or s == severity]


class FlakyBroker(PaperBroker):
    failure: Exception | None = None

    def reference_price(self, symbol: str, side: str, at: datetime | None = None) -> float:
        if self.failure is not None:
            raise self.failure
        return super().reference_price(symbol, side, at)


class Rig:
    def __init__(self, url: str, config: TradingConfig = CONFIG, **engine: object) -> None:
        self.clock = Clock()
        self.market = StubMarket(self.clock)
        self.market.set_book("BTC/USDT", 100.0, spread=0.0, amount=1000.0)
        self.ledger = Ledger(url, clock=self.clock)
        self.broker = FlakyBroker(self.market, exchange="sim", fees=config.fees, clock=self.clock)
        self.sent = Recorder()
        self.engine = Engine(
            self.ledger, self.broker, self.market, config, clock=self.clock, alert=self.sent,
            **engine,  # type: ignore[arg-type]
        )  # fmt: skip
        self.engine.start()

    def buy(self, notional: float = 990.0) -> None:
        bar = self.clock.now.replace(second=0, microsecond=0) - timedelta(minutes=1)
        self.ledger.add_intents([make_intent(bar_ts=bar, notional=notional)])
        self.tick()

    def mark(self, close: float) -> None:
        """A 1m candle closing at ``close``: the engine marks the position there."""
        at = self.clock.now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        self.market.add_candle("BTC/USDT", at, close, close, close, close)
        self.clock.now = at + timedelta(minutes=1)
        self.tick()

    def tick(self):
        self.clock.advance(seconds=1)
        return self.engine.tick()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture
def rig(sqlite_url: str) -> Rig:
    return Rig(sqlite_url)


def test_a_trade_is_an_info_alert_naming_what_was_bought(rig: Rig) -> None:
    rig.buy(500.0)
    (trade,) = [c for c in rig.sent.calls if c[1].startswith("executor: trade executed")]
    severity, title, message, key = trade
    assert (severity, title) == ("info", "executor: trade executed (1 fill(s))")
    assert message.startswith("buy 5 BTC/USDT at 100")
    assert key is not None and key.startswith("trade|")
    rig.tick()
    assert len(rig.sent.titles("info")) == 1  # a tick without fills says nothing


def test_drawdown_stages_alert_at_the_protocols_levels_once_each(rig: Rig) -> None:
    rig.buy()  # all in at 100
    for close in (99.0, 94.0, 93.5, 89.0, 84.0, 79.0, 78.0):
        rig.mark(close)
    stages = [(s, t) for s, t, _, _ in rig.sent.calls if "drawdown stage" in t]
    assert stages == [
        ("warning", "executor: drawdown stage 1"),
        ("critical", "executor: drawdown stage 2"),
        ("emergency", "executor: drawdown stage 3"),
        ("emergency", "executor: drawdown stage 4"),
    ]
    message = next(m for _, t, m, _ in rig.sent.calls if t.endswith("stage 2"))
    assert "reached stage 2 (10 %)" in message and "from peak equity 1000.00" in message
    rig.mark(100.0)  # back at the peak: the stages start over
    rig.mark(94.0)
    assert [t for t in rig.sent.titles() if "stage" in t][-1] == "executor: drawdown stage 1"


def test_the_kill_switch_halt_is_critical(sqlite_url: str) -> None:
    config = CONFIG.model_copy(
        update={"risk": CONFIG.risk.model_copy(update={"max_drawdown_pct": 0.07})}
    )
    rig = Rig(sqlite_url, config)
    rig.buy()
    rig.mark(92.0)
    assert ("critical", "executor: trading halted") in [(s, t) for s, t, _, _ in rig.sent.calls]


def test_a_lost_connection_is_critical_until_the_exchange_answers(rig: Rig) -> None:
    network = RetryError(5, ConnectionError("connection refused"))
    rig.broker.failure = BrokerUnavailable("sim fetch_order_book: gave up after 5 attempts")
    rig.broker.failure.__cause__ = network
    rig.buy(100.0)
    rig.clock.advance(seconds=30)
    rig.buy(101.0)  # still down: the same key (de-duplicated by the alert module)
    lost = [c for c in rig.sent.calls if c[1] == "executor: exchange connection lost"]
    assert [c[0] for c in lost] == ["critical", "critical"]
    assert {c[3] for c in lost} == {"exchange-connection"}
    assert "intents: sim fetch_order_book" in lost[0][2]
    rig.broker.failure = None
    rig.tick()
    (restored,) = [c for c in rig.sent.calls if c[1] == "executor: exchange connection restored"]
    assert restored[0] == "info" and "after 3" in restored[2]


def test_a_rate_limit_or_an_empty_book_is_a_minor_api_error(rig: Rig) -> None:
    class RateLimitExceeded(Exception):  # ccxt's name; a NetworkError that is no outage
        pass

    rig.broker.failure = BrokerUnavailable("sim: 429")
    rig.broker.failure.__cause__ = RetryError(3, RateLimitExceeded("slow down"))
    rig.buy(100.0)
    assert rig.sent.titles("warning") == ["executor: exchange API error"]
    assert not rig.sent.titles("critical")


def test_a_crashing_step_is_an_emergency_and_the_tick_goes_on(sqlite_url: str) -> None:
    armed: list[bool] = []

    def reconciler() -> bool:
        if armed:
            raise RuntimeError("reconciliation bug")
        return True

    rig = Rig(sqlite_url, reconciler=reconciler)
    armed.append(True)
    rig.tick()  # reconciliation runs from the second tick on
    rig.buy(100.0)
    (system,) = [c for c in rig.sent.calls if c[0] == "emergency"]
    assert system[1] == "executor: system error"
    assert "reconcile crashed: RuntimeError('reconciliation bug')" in system[2]
    assert rig.sent.titles("info") == ["executor: trade executed (1 fill(s))"]  # it still traded


def test_a_slow_tick_and_a_failed_publish_are_warnings(sqlite_url: str) -> None:
    config = CONFIG.model_copy(update={"alerts": AlertsConfig(latency_warning_seconds=0.000001)})

    def publisher() -> None:
        raise OSError("lake is read-only")

    rig = Rig(sqlite_url, config, publisher=publisher)
    rig.tick()
    warnings = rig.sent.titles("warning")
    assert "executor: latency" in warnings and "executor: publishing failed" in warnings
    latency = next(m for _, t, m, _ in rig.sent.calls if t == "executor: latency")
    assert "above the bound of 1e-06 s (alerts.latency_warning_seconds)" in latency


def test_market_data_trouble_is_a_minor_error(rig: Rig) -> None:
    rig.buy(100.0)

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("candles unavailable")

    rig.market.fetch_ohlcv = broken  # type: ignore[method-assign]
    rig.tick()
    (minor,) = [c for c in rig.sent.calls if c[1] == "executor: minor errors"]
    assert minor[0] == "warning" and "candles for BTC/USDT: candles unavailable" in minor[2]


def test_a_sender_that_takes_no_key_and_a_crashing_sender_are_fine(sqlite_url: str) -> None:
    plain: list[tuple] = []
    rig = Rig(sqlite_url)
    rig.engine.alerts = EngineAlerts(lambda *a: plain.append(a), CONFIG)
    rig.buy(100.0)
    assert plain and plain[0][0] == "info" and len(plain[0]) == 4

    def crash(*a: object, **k: object) -> None:
        raise RuntimeError("sender bug")

    rig.engine.alerts = EngineAlerts(crash, CONFIG)
    rig.clock.advance(minutes=1)
    rig.buy(100.0)  # the tick survives
    assert rig.ledger.fill_count() == 2


@pytest.mark.parametrize(
    ("exc", "lost"),
    [
        (BrokerUnavailable("x"), False),  # no cause: an empty book, a missing order
        (ConnectionError("refused"), False),  # not from a broker
    ],
)
def test_only_a_broker_outage_caused_by_the_network_is_a_lost_connection(
    exc: Exception, lost: bool
) -> None:
    assert connection_lost(exc) is lost
    timeout = BrokerUnavailable("x")
    timeout.__context__ = TimeoutError("read timed out")
    assert connection_lost(timeout)


def test_an_engine_alert_reaches_telegram_through_the_alert_module(
    sqlite_url: str, tmp_path: Path
) -> None:
    with FakeTelegramAPI(TOKEN) as telegram:
        alerter = Alerter(
            tmp_path / "alerts.jsonl",
            settings=AlertsConfig(),
            channels=[TelegramChannel(telegram.url, TOKEN, [31, 32])],
        )
        rig = Rig(sqlite_url)
        rig.engine.alerts = EngineAlerts(alerter.send, CONFIG)
        rig.buy(500.0)
        texts = [c.params["text"] for c in telegram.sent(32)]
    assert texts == ["[info] executor: trade executed (1 fill(s)): buy 5 BTC/USDT at 100 (default)"]
    assert "trade executed" in (tmp_path / "alerts.jsonl").read_text()

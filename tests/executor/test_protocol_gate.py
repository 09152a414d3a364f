"""The risk protocol in the paper executor: entries sized and refused by
``trading_core.protocol``, drawdown stages audited and alerted, capital preservation closing
positions, the operator's review, and the state kept in the ledger across restarts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from executor.brokers.paper import PaperBroker
from executor.engine import Engine
from executor.ledger import Ledger
from executor.orders import OrderState
from executor.protocol_gate import StoredProtocol, protocol_enabled
from tests.executor.helpers import Clock, StubMarket, make_intent
from trading_core.config import TradingConfig


def instance(iid: str, symbol: str, fraction: float) -> dict[str, Any]:
    return {
        "id": iid, "strategy": "macd", "symbols": [symbol], "timeframe": "1m",
        "allocation": 0.5, "risk_profile": "high",
        "risk": {"sizing": "fixed_fraction", "position_fraction": fraction, "stop": "percent",
                 "stop_loss_pct": 0.5, "take_profit_pct": None, "paused_from_stage": 4},
    }  # fmt: skip


PORTFOLIO = TradingConfig.model_validate(
    {
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        "risk": {"max_notional": 10_000.0, "position_fraction": 0.1, "max_open_positions": 1},
        "fees": {"maker": 0.0, "taker": 0.0, "max_slippage_bps": 0.0},
        "strategies": [instance("a", "BTC/USDT", 1.0), instance("b", "ETH/USDT", 0.2)],
        "protocol": {
            "tiers": [{"floor": 0, "risk_per_trade": 0.02, "max_position": 1.0,
                       "max_positions": 10}],
            "allocation": {"assets": {}},
        },
    }
)  # fmt: skip


class Rig:
    def __init__(self, url: str, clock: Clock | None = None):
        self.clock = clock or Clock()
        self.market = StubMarket(self.clock)
        for symbol, mid in (("BTC/USDT", 100.0), ("ETH/USDT", 50.0)):
            self.market.set_book(symbol, mid, amount=1000.0, spread=0.0)
        self.ledger = Ledger(url, clock=self.clock)
        self.alerts: list[tuple[str, str]] = []
        broker = PaperBroker(self.market, exchange="sim", fees=PORTFOLIO.fees, clock=self.clock)
        self.engine = Engine(
            self.ledger, broker, self.market, PORTFOLIO, clock=self.clock,
            alert=lambda level, title, message, at: self.alerts.append((level, title)),
        )  # fmt: skip
        self.engine.start()

    def tick(self, minutes: float = 1.0):
        self.clock.advance(minutes=minutes)
        return self.engine.tick()

    def enter(self, iid: str | None, symbol: str, minute: int, notional: float = 999.0) -> str:
        intent = make_intent(symbol, notional=notional, strategy=f"s{iid}", instance=iid,
                             bar_ts=self.clock.now - timedelta(minutes=1))  # fmt: skip
        self.ledger.add_intents([intent])
        self.tick()
        return intent.intent_id

    def crash_to(self, symbol: str, price: float) -> None:
        """A candle closing at ``price`` (the marks) and the book there (the fills)."""
        self.market.add_candle(symbol, self.clock.now, 100.0, 100.0, price - 1, price)
        self.market.set_book(symbol, price, amount=1000.0, spread=0.0)
        self.clock.advance(minutes=1)


@pytest.fixture
def rig(sqlite_url: str) -> Rig:
    return Rig(sqlite_url)


def test_the_protocol_is_on_only_for_a_strategies_list() -> None:
    assert protocol_enabled(PORTFOLIO)
    assert not protocol_enabled(TradingConfig.model_validate({}))


def test_an_entry_is_sized_by_the_protocol_and_keeps_its_reasons(rig: Rig) -> None:
    intent_id = rig.enter("b", "ETH/USDT", 0)
    (order,) = rig.ledger.orders(intent_id=intent_id)
    # instance b: 0.5 x 1000 capital, 20 % fixed fraction -> 100 (the intent asked 999)
    assert order.state == OrderState.FILLED and order.instance_id == "b"
    assert order.filled_quantity * order.average_price == pytest.approx(100.0)
    reasons = json.loads(order.reason.removeprefix("protocol "))
    assert (reasons["tier"], reasons["stage"], reasons["refused_by"]) == (1, 0, None)
    assert rig.ledger.position("sim", "ETH/USDT", "b").stop_loss == pytest.approx(25.0)
    (audit,) = rig.ledger.audit_entries("entry_decision")
    assert audit["details"]["instance"] == "b" and audit["details"]["tier"] == 1


def test_unknown_instances_are_refused_and_manual_entries_pass(rig: Rig) -> None:
    unknown = rig.enter("zzz", "ETH/USDT", 0)
    record = rig.ledger.intent(unknown)
    assert record.status == "REJECTED_BY_RISK" and "unknown instance 'zzz'" in record.status_reason
    manual = make_intent("ETH/USDT", notional=50.0, strategy="manual",
                         bar_ts=rig.clock.now - timedelta(minutes=1))  # fmt: skip
    rig.ledger.submit_intents([manual])
    rig.tick()
    (order,) = rig.ledger.orders(intent_id=manual.intent_id)
    assert order.instance_id == "manual"
    assert order.filled_quantity * order.average_price == pytest.approx(50.0)


def test_a_closed_trade_counts_for_the_tier(rig: Rig) -> None:
    rig.enter("b", "ETH/USDT", 0)
    close = make_intent("ETH/USDT", action="close", strategy="sb", instance="b",
                        bar_ts=rig.clock.now - timedelta(minutes=1))  # fmt: skip
    rig.ledger.add_intents([close])
    rig.tick()
    rig.tick()
    assert rig.engine.protocol.state.tier.trades == 1
    # not saved yet (trades alone are saved every minute): a restart now recounts it once
    assert StoredProtocol.from_json(rig.ledger.protocol_state()).state.tier.trades == 0
    restarted = Rig(rig.ledger.url, rig.clock)
    restarted.engine.tick()
    assert restarted.engine.protocol.state.tier.trades == 1
    restarted.tick()  # a minute later: saved
    assert StoredProtocol.from_json(rig.ledger.protocol_state()).state.tier.trades == 1
    restarted.tick()
    assert restarted.engine.protocol.state.tier.trades == 1  # never counted twice


def test_drawdown_to_preservation_closes_refuses_and_resumes_after_review(
    sqlite_url: str,
) -> None:
    rig = Rig(sqlite_url)
    rig.enter("a", "BTC/USDT", 0)  # 500 in BTC at 100: 5 BTC
    rig.crash_to("BTC/USDT", 58.0)  # equity 500 + 5 x 58 = 790: 21 % down
    rig.tick()
    kinds = [e["event"] for e in rig.ledger.audit_entries(limit=50)]
    assert "protocol_drawdown_stage" in kinds and "protocol_capital_preservation_start" in kinds
    assert ("EMERGENCY", "risk protocol: capital_preservation_start") in rig.alerts
    (closing,) = [o for o in rig.ledger.orders() if o.role == "preservation"]
    assert (closing.state, closing.instance_id) == (OrderState.FILLED, "a")
    assert rig.ledger.open_positions() == []
    refused = rig.enter("b", "ETH/USDT", 0)
    assert "capital_preservation" in rig.ledger.intent(refused).status_reason
    # a restart keeps the protocol's state
    again = Rig(sqlite_url, rig.clock)
    assert again.engine.protocol.state.drawdown.preserving
    # the operator's review is refused before the cooldown ends, accepted after
    again.ledger.add_command("review", who="ops", why="checked the market")
    again.tick()
    assert again.ledger.commands()[0].result.startswith("refused:")
    again.clock.advance(hours=49)
    again.ledger.add_command("review", who="ops", why="cooldown over")
    again.tick()
    assert "capital_preservation_end" in again.ledger.commands()[0].result
    resumed = again.enter("b", "ETH/USDT", 0)
    (order,) = again.ledger.orders(intent_id=resumed)
    # b: 0.5 x 1000 capital, 20 % -> 100, at the 25 % resume size -> 25
    assert order.filled_quantity * order.average_price == pytest.approx(25.0)


def test_a_review_without_the_protocol_is_refused(sqlite_url: str) -> None:
    from tests.executor.test_engine_paper import Rig as FlatRig

    flat = FlatRig(sqlite_url)
    assert flat.engine.protocol is None
    flat.ledger.add_command("review", who="ops", why="nothing to review")
    flat.tick()
    assert "protocol is off" in flat.ledger.commands()[0].result


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "not a protocol state"),
        ('{"tier": {}, "drawdown": {"peak": 1}, "capital": 1}', "not a protocol state"),
        ('{"tier": {"index": 0}, "drawdown": {"peak": 1}, "capital": "NaN"}', "capital"),
        ('{"tier": {"index": 0}, "drawdown": {"peak": 1}, "capital": -5}', "capital"),
    ],
)
def test_a_broken_stored_state_is_refused_naming_it(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        StoredProtocol.from_json(text)

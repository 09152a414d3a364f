"""A portfolio (two instances, the risk protocol on) in an isolated TRADING_HOME, its SQLite
ledger, and a paper executor you tick: what the override commands are issued against (the
CLI, the Dagster control jobs) and applied by."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from executor.brokers.paper import PaperBroker
from executor.engine import Engine, TickReport
from executor.ledger import Ledger
from tests.executor.helpers import Clock, StubMarket, make_intent
from trading_core.config import get_config, get_paths
from trading_core.timeframes import utc_now


def instance(iid: str, symbol: str, fraction: float) -> dict[str, Any]:
    return {
        "id": iid, "strategy": "macd", "symbols": [symbol], "timeframe": "1m",
        "allocation": 0.5, "risk_profile": "high",
        "risk": {"sizing": "fixed_fraction", "position_fraction": fraction, "stop": "percent",
                 "stop_loss_pct": 0.5, "take_profit_pct": None, "paused_from_stage": 4},
    }  # fmt: skip


def portfolio(**overrides: Any) -> dict[str, Any]:
    return {
        "market": {"source": "sim", "symbols": ["BTC/USDT", "ETH/USDT"]},
        "executor": {"starting_cash": 1000.0, "exchange": "sim"},
        "risk": {"max_notional": 10_000.0, "position_fraction": 0.1, "max_open_positions": 1},
        "fees": {"maker": 0.0, "taker": 0.0, "max_slippage_bps": 0.0},
        # a: half the capital, all of it per entry (500); b: 20 % of its half (100)
        "strategies": [instance("a", "BTC/USDT", 1.0), instance("b", "ETH/USDT", 0.2)],
        "protocol": {
            "tiers": [{"floor": 0, "risk_per_trade": 0.02, "max_position": 1.0,
                       "max_positions": 10}],
            "allocation": {"assets": {}},
        },
        "overrides": overrides,
    }  # fmt: skip


class Desk:
    """The executor side: a paper engine on the home's ledger, on a clock that starts now
    (commands are stamped by the CLI's wall clock)."""

    def __init__(self) -> None:
        self.clock = Clock(utc_now().replace(second=0, microsecond=0))
        self.market = StubMarket(self.clock)
        for symbol, mid in (("BTC/USDT", 100.0), ("ETH/USDT", 50.0)):
            self.market.set_book(symbol, mid, amount=1000.0, spread=0.0)
        self.url = get_paths().ledger_url()
        self.ledger = Ledger(self.url, clock=self.clock)
        config = get_config()
        broker = PaperBroker(self.market, exchange="sim", fees=config.fees, clock=self.clock)
        self.engine = Engine(self.ledger, broker, self.market, config, clock=self.clock)
        self.engine.start()

    def tick(self, minutes: float = 1.0) -> TickReport:
        self.clock.advance(minutes=minutes)
        return self.engine.tick()

    def intent(self, iid: str, symbol: str, notional: float = 999.0) -> str:
        """An entry intent for instance ``iid``, handled on the next tick; its id."""
        bar = self.clock.now.replace(second=0, microsecond=0) - timedelta(minutes=1)
        made = make_intent(symbol, notional=notional, strategy=f"s{iid}", instance=iid,
                           bar_ts=bar)  # fmt: skip
        self.ledger.add_intents([made])
        return made.intent_id

    def enter(self, iid: str, symbol: str, notional: float = 999.0) -> str:
        intent_id = self.intent(iid, symbol, notional)
        self.tick()
        return intent_id

    def filled_value(self, intent_id: str) -> float:
        orders = self.ledger.orders(intent_id=intent_id)
        return sum(o.filled_quantity * (o.average_price or 0.0) for o in orders)

    def status(self, intent_id: str) -> tuple[str, str | None]:
        record = self.ledger.intent(intent_id)
        assert record is not None
        return record.status, record.status_reason

    def result(self, command_id: int) -> str:
        (command,) = [c for c in self.ledger.commands(limit=200) if c.id == command_id]
        assert command.result is not None, f"command {command_id} is not applied"
        return command.result

    def close(self) -> None:
        self.ledger.close()


def write_config(home: Path, config: dict[str, Any]) -> None:
    (home / "trading.yaml").write_text(yaml.safe_dump(config))
    get_config.cache_clear()


@pytest.fixture
def desk(trading_home: Path) -> Iterator[Desk]:
    write_config(trading_home, portfolio())
    made = Desk()
    yield made
    made.close()


def at(desk: Desk, **delta: float) -> datetime:
    return desk.clock.now + timedelta(**delta)

"""Crash test: kill -9 the executor at random points, restart it, and prove that no order was
lost or doubled and that the ledger agrees with the exchange.

The exchange (the fake Binance) lives in this test process, so it keeps its orders, trades
and balances while the executor process dies again and again. Each round adds a few intents
and kills the executor either during start-up (import, reconciliation) or at a random moment
while it works them; some rounds also make the exchange lose answers (accepted then timed
out or reset, 5xx, rate limits). A final clean run settles everything, then:

- every client order id reached the exchange at most once, and every order the exchange has
  is one the ledger knows;
- every intent has at most one exchange order per role, and exactly one when the ledger
  says the order reached the exchange;
- every exchange trade is in the ledger exactly once, and nothing else is;
- each position equals the exchange's balance change, and no order is left unresolved.

It runs on the SQLite ledger and on PostgreSQL (the machine's server), 60 kill -9 rounds in
all. A restarted executor takes the ledger lease of its dead predecessor at once (same host,
dead pid), so no round waits for a lease to expire.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from executor import schema
from executor.health import read_health
from executor.intents import OrderIntent, make_intent_id
from executor.ledger import Ledger
from executor.orders import LIVE_STATES, OrderState, client_order_id
from tests.fakes.binance_server import FakeBinance
from trading_core.timeframes import utc_now

pytestmark = [pytest.mark.slow, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
SEED = 20_260_521
ROUNDS = {"sqlite": 35, "postgres": 25}
START_USDT = 50_000.0
SYMBOLS = ("BTC/USDT", "ETH/USDT")
BOOKS = {"BTCUSDT": (30_000.0, 30_010.0), "ETHUSDT": (2_000.0, 2_001.0)}
KEY, SECRET = "crash-test-key-0001", "crash-test-secret-0001"
FAULTS = ("accept_then_timeout", "accept_then_reset", "503", "429", "timeout", "reset")


def run_executor(home: Path, url: str, ledger_url: str, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    # Let the first executor write bytecode caches: every restart then starts faster.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        TRADING_HOME=str(home),
        TRADING_MARKET_SOURCE="sim",
        TRADING_SYMBOLS=",".join(SYMBOLS),
        TRADING_API_KEY=KEY,
        TRADING_API_SECRET=SECRET,
        TRADING_CONFIG=str(home / "trading.yaml"),
        TRADING_LEDGER_URL=ledger_url,
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "executor",
            "run",
            "--mode",
            "testnet",
            "--exchange",
            "binance",
            "--exchange-url",
            url,
            "--tick-seconds",
            "0.05",
            "--unknown-order-grace",
            "0.3",
            "--no-dagster-report",
            "--log-level",
            "WARNING",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill9(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=20)
    return err


def running(home: Path, pid: int) -> bool:
    health = read_health(home / "executor")
    return bool(health and health.get("pid") == pid and health.get("ticks", 0) >= 1)


class IntentSource:
    """Random opens and closes, one decision per (symbol, bar), like a strategy."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.all: list[OrderIntent] = []

    def next(self) -> OrderIntent:
        # Decided just now on a 1h bar: fresh for the whole test (entries expire after one
        # bar + grace), each with its own bar time so that every decision has its own id.
        decided = utc_now()
        bar = decided - timedelta(hours=1)
        symbol = self.rng.choice(SYMBOLS)
        action = "close" if self.rng.random() < 0.35 else "open"
        intent = OrderIntent(
            intent_id=make_intent_id("crash", "binance", symbol, "1h", bar, action),
            strategy="crash",
            exchange="binance",
            symbol=symbol,
            timeframe="1h",
            bar_ts=bar,
            decided_at=decided,
            side="sell" if action == "close" else "buy",
            action=action,
            notional=None if action == "close" else self.rng.choice([60.0, 120.0, 250.0]),
        )
        self.all.append(intent)
        return intent


def test_kill_minus_nine_at_random_points_loses_and_doubles_nothing(
    tmp_path: Path, ledger_url: str
) -> None:
    backend = "postgres" if ledger_url.startswith("postgresql") else "sqlite"
    rounds = ROUNDS[backend]
    rng = random.Random(SEED + rounds)
    home = tmp_path / "home"
    home.mkdir()
    (home / "trading.yaml").write_text(
        json.dumps(
            {
                "executor": {"mode": "testnet", "exchange": "binance", "reconcile_every_ticks": 20},
                "risk": {
                    "position_fraction": 1.0,
                    "max_notional": 1_000.0,
                    "max_trades_per_day": 100_000,
                    "max_drawdown_pct": 0.9,
                },
            }
        )
    )
    ledger = Ledger(ledger_url)
    source = IntentSource(rng)
    kills = Counter()
    with FakeBinance(
        balances={"USDT": START_USDT}, hang_seconds=1.0, api_key=KEY, secret=SECRET
    ) as fake:
        for symbol, (bid, ask) in BOOKS.items():
            fake.set_order_book(symbol, bids=[(bid, 1_000.0)], asks=[(ask, 1_000.0)])
        for _ in range(rounds):
            ledger.add_intents([source.next() for _ in range(rng.randint(1, 3))])
            if rng.random() < 0.3:
                fake.inject(rng.choice(FAULTS), count=rng.randint(1, 2), retry_after=0)
            process = run_executor(home, fake.url, ledger_url)
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.5, 3.0))  # somewhere in start-up
                kills["start-up"] += 1
            else:
                deadline = time.monotonic() + 30
                while not running(home, process.pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert process.poll() is None, process.communicate()[1]
                ledger.add_intents([source.next()])  # arrives while it runs
                time.sleep(rng.uniform(0.0, 0.4))
                kills["working"] += 1
            err = kill9(process)
            assert "Traceback" not in err, err
        fake.clear_faults()
        final = run_executor(home, fake.url, ledger_url, "--log-level", "INFO")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                settled = not ledger.live_orders() and not ledger.new_intents(1)
                if settled and running(home, final.pid):
                    break
                time.sleep(0.1)
        finally:
            final.send_signal(signal.SIGTERM)
            _, final_log = final.communicate(timeout=30)
        assert final.returncode == 0, final_log
        exchange_orders = fake.orders()
        exchange_trades = fake.trades()
        balances = fake.balances()

    assert kills["start-up"] >= rounds // 10 and kills["working"] >= rounds // 2
    ledger_orders = {o.client_order_id: o for o in ledger.orders()}
    assert all(o.state not in LIVE_STATES for o in ledger_orders.values()), [
        o for o in ledger_orders.values() if o.state in LIVE_STATES
    ]
    assert ledger.trading_state() == "ACTIVE", ledger.risk_record().reason

    # No client order id reached the exchange twice; every exchange order is ours.
    sent = Counter(o["clientOrderId"] for o in exchange_orders)
    assert sent and max(sent.values()) == 1
    assert set(sent) <= set(ledger_orders)
    # Exactly one exchange order per intent and role when it got there, never more.
    for intent in source.all:
        for role in ("entry", "exit"):
            cid = client_order_id(intent.intent_id, role)
            order = ledger_orders.get(cid)
            if order is None:
                assert cid not in sent
            elif order.exchange_order_id is not None or order.filled_quantity > 0:
                assert sent[cid] == 1, (cid, order)
            elif order.state in (OrderState.REJECTED, OrderState.GIVEN_UP):
                assert cid not in sent, (cid, order)
    # Every exchange fill exactly once in the ledger, nothing else.
    fills = ledger.fills_since()
    assert sorted((f.symbol.replace("/", ""), f.trade_id) for f in fills) == sorted(
        (t["symbol"], str(t["id"])) for t in exchange_trades
    )
    # Positions equal the exchange's balances (it started with quote currency only).
    for symbol in SYMBOLS:
        base = symbol.split("/")[0]
        position = ledger.position("binance", symbol)
        held = float(balances.get(base, {"free": "0", "locked": "0"})["free"]) + float(
            balances.get(base, {"free": "0", "locked": "0"})["locked"]
        )
        assert (position.quantity if position else 0.0) == pytest.approx(held, abs=1e-9)
    usdt = float(balances["USDT"]["free"]) + float(balances["USDT"]["locked"])
    assert ledger.account("USDT").cash == pytest.approx(usdt, abs=1e-6)
    assert len(source.all) > rounds and len(sent) > rounds // 2
    statuses = Counter(ledger.intent(i.intent_id).status for i in source.all)
    assert set(statuses) <= {"DONE", "REJECTED_BY_RISK"}, statuses
    # The faults did their job: some answers were lost and resolved by lookup.
    with ledger.engine.connect() as conn:
        unknown = conn.execute(
            sa.select(sa.func.count()).where(schema.order_events.c.state == "IN_FLIGHT_UNKNOWN")
        ).scalar()
    assert unknown > 0
    ledger.close()

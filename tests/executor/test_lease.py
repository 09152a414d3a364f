"""One executor per ledger: the lease row, its fencing token, and two real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from executor.brokers.paper import PaperBroker
from executor.engine import Engine
from executor.lease import Lease, LeaseHeld, LeaseLost, current_holder
from executor.ledger import Ledger, LedgerModeMismatch
from executor.orders import OrderState
from tests.executor.helpers import Clock, StubMarket, make_intent
from trading_core.config import TradingConfig

REPO = Path(__file__).resolve().parents[2]


def lease(ledger: Ledger, clock: Clock, **kw: object) -> Lease:
    return Lease(ledger.engine, mode="paper", ttl_seconds=10, clock=clock, **kw)  # type: ignore[arg-type]


def test_a_second_holder_is_refused_with_who_where_and_since(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    clock = Clock()
    first = lease(ledger, clock, host="host-a", pid=111, is_alive=lambda _: True)
    assert first.acquire() == 1
    second = lease(ledger, clock, host="host-b", pid=222, is_alive=lambda _: True)
    with pytest.raises(LeaseHeld) as refused:
        second.acquire()
    message = str(refused.value)
    assert "pid 111" in message and "host-a" in message and "since 2025-03-03T12:00:00Z" in message
    ledger.close()


def test_an_expired_lease_is_taken_over_with_a_larger_token(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    clock = Clock()
    first = lease(ledger, clock, host="host-a", pid=111, is_alive=lambda _: True)
    first.acquire()
    clock.advance(seconds=9)
    first.heartbeat()  # extends to t+19
    clock.advance(seconds=9)
    second = lease(ledger, clock, host="host-b", pid=222, is_alive=lambda _: True)
    with pytest.raises(LeaseHeld):
        second.acquire()
    clock.advance(seconds=2)  # 11 s without a heartbeat: expired
    assert second.acquire() == 2
    with pytest.raises(LeaseLost):
        first.heartbeat()
    with pytest.raises(LeaseLost):
        first.check()
    second.check()
    assert current_holder(ledger.engine).host == "host-b"
    ledger.close()


def test_a_dead_holder_on_this_host_is_taken_over_at_once(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    clock = Clock()
    lease(ledger, clock, host="here", pid=111, is_alive=lambda _: False).acquire()
    again = lease(ledger, clock, host="here", pid=333, is_alive=lambda pid: pid != 111)
    assert again.acquire() == 2
    # A live holder on another host with the same pid is not "dead" to us.
    other = lease(ledger, clock, host="elsewhere", pid=111, is_alive=lambda _: False)
    with pytest.raises(LeaseHeld):
        other.acquire()
    ledger.close()


def test_a_released_lease_is_free_at_once(sqlite_url: str) -> None:
    ledger = Ledger(sqlite_url)
    clock = Clock()
    first = lease(ledger, clock, host="a", pid=1, is_alive=lambda _: True)
    first.acquire()
    first.release()
    assert lease(ledger, clock, host="b", pid=2, is_alive=lambda _: True).acquire() == 2
    ledger.close()


def test_a_paused_holder_submits_nothing_after_a_takeover(sqlite_url: str) -> None:
    """The engine checks the fencing token before every order: a holder frozen past its
    lease (SIGSTOP, a VM pause) whose ledger was taken over places nothing."""
    clock = Clock()
    ledger = Ledger(sqlite_url, clock=clock)
    market = StubMarket(clock)
    market.set_book("BTC/USDT", 100.0, amount=1000.0)
    config = TradingConfig.model_validate({"market": {"symbols": ["BTC/USDT"]}})
    old = lease(ledger, clock, host="h", pid=1, is_alive=lambda _: True)
    old.acquire()
    broker = PaperBroker(market, exchange="sim", fees=config.fees, clock=clock)
    engine = Engine(ledger, broker, market, config, clock=clock, lease=old)
    engine.start()
    clock.advance(seconds=11)  # frozen: no heartbeat
    lease(ledger, clock, host="h2", pid=2, is_alive=lambda _: True).acquire()
    ledger.add_intents([make_intent(bar_ts=clock() - timedelta(minutes=1))])
    with pytest.raises(LeaseLost):
        engine.tick()
    assert ledger.orders() == []
    assert ledger.new_intents()  # left for the new owner
    ledger.close()


def test_a_ledger_keeps_the_mode_it_was_first_used_in(sqlite_url: str) -> None:
    ledger = Ledger(sqlite_url)
    ledger.claim_mode("live")
    ledger.claim_mode("live")
    with pytest.raises(LedgerModeMismatch, match="used in live mode"):
        ledger.claim_mode("paper")
    ledger.close()


# ------------------------------------------------------------------ real processes


def _env(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        TRADING_HOME=str(home),
        TRADING_LEDGER_URL=url,
        TRADING_MARKET_SOURCE="sim",
        TRADING_SYMBOLS="BTC/USDT",
        **extra,
    )
    return env


def _start(home: Path, url: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "executor", "run", "--mode", "paper", "--no-dagster-report",
         "--tick-seconds", "0.1", *args],
        cwd=REPO, env=_env(home, url, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait(condition, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def _freeze_between_transactions(process: subprocess.Popen[str], db_path: Path) -> None:
    """SIGSTOP ``process`` at a moment it holds no SQLite write lock.

    A holder frozen inside a write transaction keeps the file locked for everyone (that is
    SQLite, not the lease); the scenario under test is a holder frozen between ticks."""
    for _ in range(50):
        process.send_signal(signal.SIGSTOP)
        probe = sqlite3.connect(db_path, timeout=0.5)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return
        except sqlite3.OperationalError:
            process.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("the holder never paused outside a write transaction")


def _holder_pid(url: str) -> int | None:
    ledger = Ledger(url)
    try:
        held = current_holder(ledger.engine)
        return held.pid if held and held.released_at is None else None
    finally:
        ledger.close()


@pytest.mark.integration
def test_two_executors_on_one_ledger_url_the_second_refuses(
    ledger_url: str, tmp_path: Path
) -> None:
    first = _start(tmp_path / "home-a", ledger_url)
    try:
        _wait(lambda: _holder_pid(ledger_url) == first.pid)
        second = _start(tmp_path / "home-b", ledger_url)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        [refusal] = [json.loads(line) for line in err.splitlines() if "refusing" in line]
        reason = refusal["reason"]
        assert f"pid {first.pid}" in reason and socket.gethostname() in reason
        assert "since" in reason and "Traceback" not in err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0
    # A clean stop released the lease: the next executor starts at once.
    again = _start(tmp_path / "home-b", ledger_url, "--ticks", "2")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err


@pytest.mark.integration
def test_a_holder_stopped_past_its_lease_places_nothing_after_it_resumes(
    tmp_path: Path,
) -> None:
    """SIGSTOP the owner, let its lease expire, start a second executor (it takes over),
    SIGCONT the first: it notices it lost the ledger and exits 2 without placing anything."""
    db_path = tmp_path / "shared-ledger.sqlite"
    url = f"sqlite:///{db_path}"
    config = tmp_path / "trading.yaml"
    config.write_text("executor:\n  lease_seconds: 2\n")
    first = _start(tmp_path / "a", url, TRADING_CONFIG=str(config))
    second: subprocess.Popen[str] | None = None
    try:
        _wait(lambda: _holder_pid(url) == first.pid)
        _freeze_between_transactions(first, db_path)
        time.sleep(2.5)
        second = _start(tmp_path / "b", url, TRADING_CONFIG=str(config))
        _wait(lambda: _holder_pid(url) == second.pid)
        ledger = Ledger(url)
        intent = make_intent(bar_ts=ledger.now().replace(second=0, microsecond=0)
                             - timedelta(minutes=1))  # fmt: skip
        ledger.add_intents([intent])
        first.send_signal(signal.SIGCONT)
        _, err_first = first.communicate(timeout=90)
        assert first.returncode == 2, err_first
        assert "no longer owns the ledger" in err_first
        _wait(lambda: ledger.intent(intent.intent_id).status == "DONE")
        orders = ledger.orders(intent_id=intent.intent_id)
        assert len(orders) == 1 and orders[0].state == OrderState.FILLED
        tokens = [e["details"]["token"] for e in ledger.audit_entries("lease_acquired")]
        assert tokens == [2, 1]
        ledger.close()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=30)

"""Wiring: build the ledger, broker, engine, publisher and health from the configuration,
and run the loop until told to stop.

Kept apart from ``__main__`` so tests can run the same process in-process or as a
subprocess (``python -m executor run ...``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from executor.brokers.base import Broker
from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions
from executor.health import Health
from executor.ledger import Ledger
from executor.publish import DagsterReporter, Publisher
from executor.secrets import ApiKeys, require_keys
from trading_core.config import Paths, TradingConfig
from trading_core.market.base import MarketSource

log = logging.getLogger("executor")


class AlreadyRunning(RuntimeError):
    """Another executor holds the lock on this TRADING_HOME."""


@dataclass(frozen=True)
class RunOptions:
    mode: str
    exchange: str
    ticks: int | None = None  # None: until stopped
    tick_seconds: float = 1.0
    health_port: int | None = None
    latency_ms: float = 0.0
    # Base URL of the exchange's REST API instead of ccxt's (a private gateway or a test
    # double); applied with the exchange in sandbox mode for testnet.
    exchange_url: str | None = None
    report_to_dagster: bool = True
    engine: EngineOptions = field(default_factory=EngineOptions)


@contextmanager
def executor_lock(state_dir: Path) -> Iterator[None]:
    """One executor per TRADING_HOME. The OS drops the lock when the process dies (kill -9)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "executor.lock", "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                f"another executor is running on {state_dir} (lock {handle.name})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def make_market(config: TradingConfig) -> MarketSource:
    from trading_core.market.factory import make_market_source

    return make_market_source(config.market)


def make_broker(
    opts: RunOptions, config: TradingConfig, market: MarketSource, keys: ApiKeys | None
) -> Broker:
    if opts.mode == "paper":
        return PaperBroker(
            market,
            exchange=opts.exchange,
            fees=config.fees,
            latency_ms=opts.latency_ms,
            book_depth=config.market.order_book_depth,
        )
    from executor.brokers.ccxt_broker import CcxtBroker

    return CcxtBroker.connect(
        opts.exchange,
        require_keys(opts.mode, keys),
        sandbox=opts.mode == "testnet",
        base_url=opts.exchange_url,
        fees=config.fees,
    )


def build_engine(
    opts: RunOptions,
    config: TradingConfig,
    paths: Paths,
    ledger: Ledger,
    keys: ApiKeys | None,
    market: MarketSource | None = None,
) -> Engine:
    market = market if market is not None else make_market(config)
    broker = make_broker(opts, config, market, keys)
    reporter = DagsterReporter(config.executor.dagster_url) if opts.report_to_dagster else None
    publisher = Publisher(ledger, paths.lake, reporter)
    reconciler = None
    if broker.reconcilable:
        from executor.reconcile import Reconciler

        reconciler = Reconciler(ledger, broker, symbols=config.market.symbols)
    return Engine(
        ledger, broker, market, config, opts.engine, reconciler=reconciler, publisher=publisher
    )


def run(
    opts: RunOptions,
    config: TradingConfig,
    paths: Paths,
    keys: ApiKeys | None,
    stop: threading.Event,
) -> int:
    """Run the executor until ``stop`` is set (or ``opts.ticks`` ticks); return an exit code."""
    paths.ensure()
    health = Health(paths.executor_state, stale_after_seconds=max(30.0, 10 * opts.tick_seconds))
    with executor_lock(paths.executor_state):
        ledger = Ledger(paths.ledger_url(), mode=opts.mode)
        try:
            if opts.health_port is not None:
                port = health.serve(opts.health_port)
                log.info("health endpoint up", extra={"url": f"http://127.0.0.1:{port}/health"})
            engine = build_engine(opts, config, paths, ledger, keys)
            reconciled = engine.start()
            started = time.time()
            health.update(
                pid=os.getpid(),
                mode=opts.mode,
                exchange=opts.exchange,
                started_at=started,
                state=ledger.trading_state(),
                ticks=0,
                reconciled=reconciled,
            )
            log.info(
                "executor started",
                extra={"mode": opts.mode, "exchange": opts.exchange, "reconciled": reconciled},
            )
            while not stop.is_set() and (opts.ticks is None or engine.ticks < opts.ticks):
                began = time.monotonic()
                report = engine.tick()
                health.update(
                    state=report.trading_state,
                    last_tick=report.started_at.isoformat(),
                    ticks=engine.ticks,
                    last_tick_ms=round((time.monotonic() - began) * 1000, 1),
                    intents=ledger.intent_counts(),
                    live_orders=len(ledger.live_orders()),
                    fills=ledger.fill_count(),
                    errors=report.errors,
                )
                if report.errors:
                    log.warning(
                        "tick had errors", extra={"tick": engine.ticks, "errors": report.errors}
                    )
                stop.wait(max(0.0, opts.tick_seconds - (time.monotonic() - began)))
            log.info("executor stopped", extra={"ticks": engine.ticks})
            health.update(state=ledger.trading_state(), stopped=True)
            return 0
        finally:
            health.close()
            ledger.close()

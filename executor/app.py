"""Wiring: build the ledger, broker, engine, publisher and health from the configuration,
and run the loop until told to stop.

Kept apart from ``__main__`` so tests can run the same process in-process or as a
subprocess (``python -m executor run ...``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from executor.alerts import Alerter
from executor.brokers.base import Broker
from executor.brokers.paper import PaperBroker
from executor.engine import Engine, EngineOptions, StartupRefused
from executor.health import Health
from executor.lease import Lease, LeaseHeld, LeaseLost
from executor.ledger import Ledger, LedgerModeMismatch
from executor.publish import DagsterReporter, Publisher
from executor.secrets import ApiKeys, require_keys
from trading_core.config import Paths, TradingConfig
from trading_core.market.base import MarketSource
from trading_core.market.clock import market_clock

log = logging.getLogger("executor")


# Refusals to start (exit 2): another executor owns the ledger, or it belongs to another mode.
StartRefusals = (LeaseHeld, LedgerModeMismatch)


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


def effective_config(config: TradingConfig, mode: str, exchange: str) -> TradingConfig:
    """The configuration with the mode and exchange this process really runs with (flags win
    over the file), so every guard downstream reads the same answer."""
    executor = config.executor.model_copy(update={"mode": mode, "exchange": exchange})
    return config.model_copy(update={"executor": executor})


def make_market(config: TradingConfig, broker: Broker | None = None) -> MarketSource:
    """Prices for protective exits and marks. On an exchange (testnet, live) they come from
    the exchange the orders go to, through the broker's own client: stops must watch the
    venue's prices, whatever market source the pipeline ingests."""
    if broker is not None and getattr(broker, "client", None) is not None:
        from trading_core.market.ccxt_source import CcxtMarket

        return CcxtMarket(clients={broker.exchange: broker.client})  # type: ignore[attr-defined]
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
            fee_currency=config.executor.paper_fee_currency,
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
    lease: Lease | None = None,
) -> Engine:
    if opts.mode == "paper":
        market = market if market is not None else make_market(config)
        served = getattr(market, "exchanges", None)
        if served is not None and opts.exchange not in served:
            raise StartupRefused(
                f"paper trading on exchange {opts.exchange!r} needs its prices, but the "
                f"{getattr(market, 'name', 'configured')} market serves {list(served)}: set "
                "TRADING_EXECUTOR_EXCHANGE to one of them, or add it to TRADING_EXCHANGES"
            )
        broker = make_broker(opts, config, market, keys)
    else:
        broker = make_broker(opts, config, market or make_market(config), keys)
        market = market if market is not None else make_market(config, broker)
    reporter = DagsterReporter(config.executor.dagster_url) if opts.report_to_dagster else None
    publisher = Publisher(ledger, paths.lake, reporter, alerter=Alerter.for_home(paths.home))
    reconciler = None
    if broker.reconcilable:
        from executor.brokers.ccxt_broker import CcxtBroker
        from executor.reconcile import Reconciler

        assert isinstance(broker, CcxtBroker)  # the only broker with an exchange to ask
        reconciler = Reconciler(ledger, broker, symbols=config.market.symbols)
    clock = market_clock(config.market)
    return Engine(
        ledger,
        broker,
        market,
        config,
        opts.engine,
        reconciler=reconciler,
        publisher=publisher,
        lease=lease,
        market_clock=clock.now if clock.moving else None,
        alert=Alerter.for_home(paths.home).send,
    )


def run(
    opts: RunOptions,
    config: TradingConfig,
    paths: Paths,
    keys: ApiKeys | None,
    stop: threading.Event,
) -> int:
    """Run the executor until ``stop`` is set (or ``opts.ticks`` ticks); return an exit code.

    Raises ``LeaseHeld`` or ``LedgerModeMismatch`` (refusals to start); returns 2 when the
    lease is lost while running (another executor took the ledger over).
    """
    config = effective_config(config, opts.mode, opts.exchange)
    paths.ensure()
    health = Health(
        paths.executor_state,
        stale_after_seconds=max(30.0, 10 * opts.tick_seconds),
        alerter=Alerter.for_home(paths.home),
    )
    ledger = Ledger(paths.ledger_url(), mode=opts.mode)
    lease = Lease(ledger.engine, mode=opts.mode, ttl_seconds=config.executor.lease_seconds)
    try:
        lease.acquire()
        ledger.check_mode(opts.mode)  # bound only once the start succeeded (below)
        lease.start_heartbeats()
        if opts.health_port is not None:
            port = health.serve(opts.health_port)
            log.info("health endpoint up", extra={"url": f"http://127.0.0.1:{port}/health"})
        engine = build_engine(opts, config, paths, ledger, keys, lease=lease)
        reconciled = engine.start()
        ledger.claim_mode(opts.mode)
        health.update(
            pid=os.getpid(),
            mode=opts.mode,
            exchange=opts.exchange,
            started_at=time.time(),
            state=ledger.trading_state(),
            ticks=0,
            reconciled=reconciled,
            lease_token=lease.token,
        )
        log.info(
            "executor started",
            extra={"mode": opts.mode, "exchange": opts.exchange, "reconciled": reconciled},
        )
        try:
            _loop(engine, ledger, health, opts, stop)
        except LeaseLost as exc:
            log.error("executor stops: it no longer owns the ledger", extra={"reason": str(exc)})
            health.update(state="LEASE_LOST", stopped=True)
            return 2
        log.info("executor stopped", extra={"ticks": engine.ticks})
        try:
            health.update(state=ledger.trading_state(), stopped=True)
        except Exception as exc:  # a full disk at shutdown: the ledger is still consistent
            log.warning("final health update failed", extra={"error": str(exc)})
        return 0
    finally:
        lease.release()
        health.close()
        ledger.close()


def _loop(
    engine: Engine, ledger: Ledger, health: Health, opts: RunOptions, stop: threading.Event
) -> None:
    while not stop.is_set() and (opts.ticks is None or engine.ticks < opts.ticks):
        began = time.monotonic()
        report = engine.tick()
        try:
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
        except Exception as exc:  # reading the ledger for health must not stop trading
            log.warning("health update failed", extra={"error": str(exc)})
        if report.errors:
            log.warning("tick had errors", extra={"tick": engine.ticks, "errors": report.errors})
        stop.wait(max(0.0, opts.tick_seconds - (time.monotonic() - began)))

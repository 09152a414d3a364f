"""``python -m executor run --mode paper|testnet|live`` (also ``trading-executor``).

A long-running process, never a Dagster run. Exit codes: 0 after a graceful stop
(SIGTERM/SIGINT finish the current tick first), 2 when it refuses to start, with one log
line saying why: bad arguments, configuration or keys; live trading without the opt-in or
keys; an exchange that is unknown, unreachable or refuses the keys; a key that can withdraw;
a failed start-up reconciliation; another executor on the ledger; a TRADING_HOME or ledger
it cannot write (a full disk).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

from executor.logs import configure_logging
from executor.secrets import SecretError, load_api_keys, require_keys
from trading_core.config import ConfigError, get_config, get_paths
from trading_core.stop_signals import stop_on_signals
from trading_core.timeframes import timeframe_seconds

LIVE_OPT_IN_ENV = "TRADING_LIVE_OPT_IN"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
log = logging.getLogger("executor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trading-executor", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the executor loop")
    run_p.add_argument(
        "--mode",
        choices=["paper", "testnet", "live"],
        default=None,
        help="default: executor.mode from the configuration",
    )
    run_p.add_argument("--exchange", default=None, help="default: executor.exchange")
    run_p.add_argument("--ticks", type=int, default=None, help="stop after N ticks")
    run_p.add_argument(
        "--tick-seconds", type=float, default=None, help="default: executor.tick_seconds"
    )
    run_p.add_argument(
        "--health-port", type=int, default=None, help="serve GET /health on 127.0.0.1:PORT"
    )
    run_p.add_argument(
        "--latency-ms", type=float, default=None, help="default: executor.paper_latency_ms"
    )
    run_p.add_argument(
        "--exchange-url",
        default=None,
        help="the exchange REST base URL instead of ccxt's (gateway/test double)",
    )
    run_p.add_argument(
        "--no-dagster-report",
        action="store_true",
        help="write Parquet batches but do not report them to Dagster",
    )
    run_p.add_argument(
        "--limit-timeout",
        type=float,
        default=None,
        help="seconds before an unfilled limit order is repriced (executor.limit_timeout_seconds)",
    )
    run_p.add_argument(
        "--unknown-order-grace",
        type=float,
        default=None,
        help="seconds before an order with a lost answer is queried "
        "(executor.unknown_order_grace_seconds)",
    )
    run_p.add_argument(
        "--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO", help="default: INFO"
    )
    run_p.add_argument(
        "--i-understand-live-trading",
        action="store_true",
        help=f"required for --mode live (or {LIVE_OPT_IN_ENV}=yes)",
    )
    return parser


def _chosen(flag: float | None, configured: float) -> float:
    """A command-line flag overrides the configuration."""
    return configured if flag is None else flag


def _refuse(reason: str) -> int:
    log.error("refusing to start", extra={"reason": reason})
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        keys = load_api_keys()
    except SecretError as exc:
        configure_logging(args.log_level)
        return _refuse(str(exc))
    configure_logging(args.log_level, secrets=keys.values() if keys else None)
    try:
        config = get_config()
    except ConfigError as exc:  # also a YAML syntax error or an unreadable file
        return _refuse(str(exc))
    # The flags win over the configuration, and every guard below reads the same answer.
    mode = args.mode or config.executor.mode
    exchange = args.exchange or config.executor.exchange
    opted_in = args.i_understand_live_trading or os.environ.get(LIVE_OPT_IN_ENV) == "yes"
    if mode == "live" and not opted_in:
        return _refuse(f"live trading needs --i-understand-live-trading or {LIVE_OPT_IN_ENV}=yes")
    if mode != "paper":
        try:
            require_keys(mode, keys)
        except SecretError as exc:
            return _refuse(str(exc))
    # Imported only now: the refusals above answer before pandas and ccxt are loaded.
    import sqlalchemy.exc

    from executor.app import RunOptions, StartRefusals, effective_config, run
    from executor.brokers.base import BrokerError
    from executor.engine import EngineOptions, StartupRefused

    config = effective_config(config, mode, exchange)
    ex = config.executor
    opts = RunOptions(
        mode=mode,
        exchange=exchange,
        ticks=args.ticks,
        tick_seconds=args.tick_seconds or config.executor.tick_seconds,
        health_port=args.health_port,
        latency_ms=ex.paper_latency_ms if args.latency_ms is None else args.latency_ms,
        exchange_url=args.exchange_url,
        report_to_dagster=not args.no_dagster_report,
        engine=EngineOptions(
            limit_timeout_seconds=_chosen(args.limit_timeout, ex.limit_timeout_seconds),
            max_reprices=ex.max_reprices,
            unknown_order_grace_seconds=_chosen(
                args.unknown_order_grace, ex.unknown_order_grace_seconds
            ),
            max_unknown_lookups=ex.max_unknown_lookups,
            post_only_limits=ex.post_only_limits,
            # Paper trading watches stops on the shortest ingested bars (a 1h-only replay has
            # no 1m candles); an exchange serves 1m candles for every market.
            protective_timeframe=(
                min(config.market.timeframes, key=timeframe_seconds) if mode == "paper" else "1m"
            ),
        ),
    )
    try:
        with stop_on_signals(threading.Event()) as stop:
            return run(opts, config, get_paths(), keys, stop)
    except (StartupRefused, BrokerError, *StartRefusals) as exc:
        # BrokerError: the exchange is unknown, unreachable, refuses the keys, or the keys
        # can withdraw (the ccxt broker checks at connect).
        return _refuse(str(exc))
    except OSError as exc:  # a full disk, a folder that cannot be written
        return _refuse(f"cannot write the executor's files: {exc}")
    except sqlalchemy.exc.OperationalError as exc:  # e.g. the ledger's server is unreachable
        return _refuse(f"the ledger database cannot be used: {str(exc.orig).splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())

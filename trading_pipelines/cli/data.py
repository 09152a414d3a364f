"""``trading data release EXCHANGE SYMBOL TIMEFRAME TS [--reason TEXT] [--by NAME] [--json]``.

An operator confirms a bar the spike hold keeps out of the signals
(``trading_core.quality.spike_policy``). The command appends one audited row (who, when,
which bar, why) to the release ledger ``$TRADING_HOME/operator/data_releases.jsonl``
(``trading_core.quality.releases``) and writes nothing else: the warehouse is written only by
Dagster runs (ARCHITECTURE.md invariant 1), so the next ``raw/ohlcv`` run of the bar's
partition reads the ledger and stores the bar. The bar of the day in progress is picked up
by the next scheduled run; for a past day the command prints the materialization to launch.
``SYMBOL`` is unified (``BTC/USDT``) or a partition symbol (``BTC-USDT``); ``TS`` is the bar's
open time (ISO 8601, naive = UTC). Exit status 0, or 2 with one line naming the bad field.
"""

from __future__ import annotations

import argparse
import getpass
import json

from trading_pipelines.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    """``data``: operator commands on ingested market data."""
    parser = sub.add_parser("data", help="operator commands on market data (release a held bar)")
    group = parser.add_subparsers(dest="data_command", required=True)
    release = group.add_parser(
        "release",
        help="confirm a bar held by the spike hold; the next raw/ohlcv run stores it (audited)",
    )
    release.add_argument("exchange", help="exchange id, e.g. binance")
    release.add_argument("symbol", help="BTC/USDT or BTC-USDT")
    release.add_argument("timeframe", help="e.g. 1h")
    release.add_argument("ts", help="the bar's open time, ISO 8601 (naive = UTC)")
    release.add_argument("--reason", default="confirmed by operator", help="why it is right")
    release.add_argument("--by", default=None, help="who releases it (default: the OS user)")
    release.add_argument("--json", action="store_true", help="print the ledger row as JSON")
    release.set_defaults(run=run_release)


def run_release(args: argparse.Namespace) -> int:
    from trading_core.config import trading_home
    from trading_core.quality.releases import (
        ReleaseError,
        append_release,
        ledger_path,
        make_release,
    )
    from trading_core.timeframes import utc_now

    symbol = args.symbol if "/" in args.symbol else args.symbol.replace("-", "/", 1)
    try:
        release = make_release(
            args.exchange, symbol, args.timeframe, args.ts, args.by or getpass.getuser(),
            args.reason, utc_now(),
        )  # fmt: skip
    except ReleaseError as err:
        raise CliError(str(err)) from err
    path = ledger_path(trading_home())
    try:
        append_release(path, release)
    except OSError as err:
        raise CliError(f"cannot write the release ledger {path}: {err}") from err
    key = f"{release.ts.date().isoformat()}|{release.symbol.replace('/', '-')}"
    if args.json:
        print(json.dumps({**json.loads(release.as_json()), "ledger": str(path), "partition": key}))
    else:
        print(
            f"released {release.exchange} {release.symbol} {release.timeframe} "
            f"{release.ts.isoformat()} (by {release.released_by}) in {path}; the next raw/ohlcv "
            f"run of partition {key} stores it. For a past day: dagster asset materialize -m "
            f"trading_pipelines.definitions --select raw/ohlcv --partition '{key}'"
        )
    return 0

"""``trading indicators --ohlcv FILE.csv --out OUT.csv [--convention talib|pandas]
[--gaps bridge|split]``: every default indicator column of a CSV (``trading_core.indicators``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trading_pipelines.cli.research import _add_gaps, _add_ohlcv, _user_errors


def register(sub: argparse._SubParsersAction) -> None:
    """``indicators``."""
    ind = sub.add_parser("indicators", help="every default indicator column for a CSV")
    _add_ohlcv(ind)
    ind.add_argument("--out", required=True, type=Path, metavar="OUT.csv")
    ind.add_argument(
        "--convention",
        default="talib",
        choices=("talib", "pandas"),
        help="EMA/MACD seeding: talib (SMA seed, default) or pandas (ewm adjust=False)",
    )
    _add_gaps(ind)
    ind.set_defaults(run=_user_errors(indicators))


def indicators(args: argparse.Namespace) -> int:
    import pandas as pd

    from trading_core.backtest.data import file_releases, parse_ohlcv, read_csv_table, time_column
    from trading_core.indicators import compute_all
    from trading_core.research.gaps import apply_gap_mode, gap_warning
    from trading_pipelines.cli.research import spike_inputs

    table = read_csv_table(args.ohlcv)
    policy, releases = spike_inputs()
    bars = parse_ohlcv(table, str(args.ohlcv), policy, file_releases(args.ohlcv, releases))
    kept, gaps = apply_gap_mode(bars, args.gaps)
    warning = gap_warning(gaps)
    if warning:
        print(warning, file=sys.stderr)
    source = time_column(table)
    bars = kept.reset_index(drop=True)
    if len(bars) != len(table):  # spikes never released and --gaps split leave rows out
        from trading_core.backtest.data import to_naive_utc

        table = table[to_naive_utc(table[source]).isin(bars["ts"]).to_numpy()]
        table = table.reset_index(drop=True)
    out = pd.concat([table[[source]], compute_all(bars, convention=args.convention)], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    print(f"wrote {len(out)} rows x {out.shape[1] - 1} indicator columns to {args.out}")
    return 0

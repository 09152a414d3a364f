"""``trading backtest --alt-data DIR [--alt-asset BTC]``: point-in-time alternative data.

The directory is in the layout of ``../shared/data`` (``social/``, ``news/``, ``onchain/``).
Its items become extra bar columns (:data:`trading_core.alt_inputs.ALT_COLUMNS`) through the
same :func:`trading_core.alt_inputs.assemble` that ``fct_signals`` uses live, so a composite
backtest sees at each bar only what was known at its close. The JSON report gains
``alt_data``: per source (``reddit``, ``x``, ``news``, ``onchain``) the number of items that
entered at least one decision's inputs (all zero without ``--alt-data``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH")
_FILE = re.compile(r"^(?:[a-z0-9]+_)?(?P<pair>[A-Z0-9]+?)(?:PERP)?_\w+$")


def add_alt_data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alt-data",
        type=Path,
        default=None,
        metavar="DIR",
        help="alternative data in the layout of ../shared/data (social/, news/, onchain/), "
        "joined to the bars point in time",
    )
    parser.add_argument(
        "--alt-asset",
        default=None,
        metavar="ASSET",
        help="the base asset the bars are of (default: from the OHLCV file name, "
        "binance_BTCUSDT_1h.csv -> BTC)",
    )


def infer_asset(path: Path) -> str:
    """The base asset of an OHLCV file named like ``binance_BTCUSDT_1h.csv``."""
    match = _FILE.match(path.stem)
    if match:
        pair = match.group("pair")
        for quote in QUOTES:
            if pair.endswith(quote) and len(pair) > len(quote):
                return pair[: -len(quote)]
    raise ValueError(
        f"--alt-asset: cannot tell the base asset from the file name {path.name!r} "
        f"(expected <exchange>_<BASE><QUOTE>_<timeframe>.csv, quotes {list(QUOTES)}); "
        "give --alt-asset"
    )


def attach_alt_data(args: argparse.Namespace, bars: Any, start: str | None) -> tuple[Any, dict]:
    """``bars`` with the alternative columns (unchanged without ``--alt-data``) and the
    ``alt_data`` counts of the decisions from ``start`` on."""
    import pandas as pd

    from trading_core.alt_inputs import SOURCES, assemble, counts

    directory = getattr(args, "alt_data", None)
    if directory is None:
        return bars, dict.fromkeys(SOURCES, 0)
    from trading_core.alt_data_dir import load_alt_directory

    asset = (args.alt_asset or infer_asset(Path(args.ohlcv))).upper()
    try:
        loaded = load_alt_directory(directory)
    except OSError as err:  # a missing directory or an unreadable file: a user error
        raise ValueError(str(err)) from err
    decisions = bars["ts"] >= pd.Timestamp(start) if start is not None else None
    built = assemble(bars, loaded.items, asset, decisions)
    extra = built.columns.drop(columns=[c for c in built.columns if c in bars.columns])
    return pd.concat([bars, extra], axis=1), counts(built.used)

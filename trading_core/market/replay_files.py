"""The file names of the replay layout: which series a file holds, and its symbol.

``{exchange}_{BASEQUOTE}_{timeframe}.csv`` (or ``.parquet``) holds candles,
``{exchange}_{BASEQUOTE}_depth_{date}.json`` an order-book snapshot. File symbols map to
unified ones with a list of known quote currencies (``BTCUSDT`` -> ``BTC/USDT``; a ``PERP``
suffix marks a linear perpetual: ``XRPUSDTPERP`` -> ``XRP/USDT:USDT``); names outside the
layout are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from trading_core.timeframes import TIMEFRAME_SECONDS

# Longest first, so USDT wins over USD and FDUSD over USD.
KNOWN_QUOTES: tuple[str, ...] = tuple(
    sorted(
        (
            "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP",
            "TRY", "BRL", "JPY", "AUD", "BTC", "ETH", "BNB",
        ),
        key=len,
        reverse=True,
    )
)  # fmt: skip
PERP_SUFFIX = "PERP"

_CANDLE_FILE = re.compile(
    r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Z0-9]+)_(?P<timeframe>[0-9]+[mhd])\.(?P<ext>csv|parquet)$"
)
DEPTH_FILE = re.compile(r"^(?P<exchange>[a-z0-9]+)_(?P<pair>[A-Z0-9]+)_depth_[0-9]+\.json$")


class ReplaySeries(NamedTuple):
    exchange: str
    symbol: str
    timeframe: str


def file_symbol_to_unified(pair: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT``; ``XRPUSDTPERP`` -> ``XRP/USDT:USDT`` (linear perpetual)."""
    perp = pair.endswith(PERP_SUFFIX) and len(pair) > len(PERP_SUFFIX)
    core = pair[: -len(PERP_SUFFIX)] if perp else pair
    for quote in KNOWN_QUOTES:
        if core.endswith(quote) and len(core) > len(quote):
            base = core[: -len(quote)]
            return f"{base}/{quote}:{quote}" if perp else f"{base}/{quote}"
    raise ValueError(f"cannot split {pair!r} into base and quote; known quotes: {KNOWN_QUOTES}")


def unified_to_file_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTCUSDT``; ``XRP/USDT:USDT`` -> ``XRPUSDTPERP``."""
    pair, _, settle = symbol.partition(":")
    return pair.replace("/", "") + (PERP_SUFFIX if settle else "")


def scan_candle_files(directory: Path) -> dict[ReplaySeries, Path]:
    """The candle files of ``directory`` by series. Names outside the layout are ignored; of a
    CSV and a Parquet file of the same series, the first in name order (the CSV) wins."""
    files: dict[ReplaySeries, Path] = {}
    for path in sorted(directory.iterdir()):
        match = _CANDLE_FILE.match(path.name)
        if not match or match["timeframe"] not in TIMEFRAME_SECONDS:
            continue
        try:
            symbol = file_symbol_to_unified(match["pair"])
        except ValueError:
            continue
        files.setdefault(ReplaySeries(match["exchange"], symbol, match["timeframe"]), path)
    return files

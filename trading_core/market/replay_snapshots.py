"""Reading one recorded order-book snapshot file of the replay layout.

A JSON object with ``bids``/``asks`` as ``[price, amount]`` best first and a time
(``timestamp``, ``ts`` or ``last_tob_timestamp``). A level entry that is not a finite pair is
kept out alone, with its side, position and reason (``malformed_level``); a file that is not
such an object is refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from trading_core.market.base import MarketDataError, OrderBook

_SNAPSHOT_TIME_KEYS = ("timestamp", "ts", "last_tob_timestamp")


def _levels(entries: object, side: str, path: Path) -> tuple[list[tuple[float, float]], list[dict]]:
    """The readable ``[price, amount]`` levels of one side, and each entry that is not one
    (kept alone with its position and reason: ``malformed_level``)."""
    if not isinstance(entries, list):
        raise MarketDataError(f"{path}: '{side}s' must be a list of [price, amount]")
    levels: list[tuple[float, float]] = []
    rejected: list[dict] = []
    for position, entry in enumerate(entries):
        try:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise ValueError("not a [price, amount] pair")
            price, amount = float(entry[0]), float(entry[1])
            if not (math.isfinite(price) and math.isfinite(amount)):
                raise ValueError("not a finite number")
        except (TypeError, ValueError) as err:
            rejected.append(
                {
                    "side": side,
                    "level": position,
                    "reason": f"malformed_level: {side}s[{position}] of {path.name}: {err}; "
                    f"entry: {json.dumps(entry)[:100]}",
                }
            )
            continue
        levels.append((price, amount))
    return levels, rejected


def read_snapshot(path: Path, exchange: str, symbol: str) -> tuple[OrderBook, list[dict]]:
    """The snapshot and its malformed level entries; a file that is not a JSON object with
    a time is refused (it cannot be read at all)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MarketDataError(f"cannot read order book snapshot {path}: {err}") from err
    if not isinstance(data, dict):
        raise MarketDataError(f"{path}: an order book snapshot must be a JSON object")
    raw_ts = next((data[k] for k in _SNAPSHOT_TIME_KEYS if data.get(k)), None)
    if raw_ts is None:
        raise MarketDataError(f"{path}: no snapshot time (one of {_SNAPSHOT_TIME_KEYS})")
    try:
        ts = pd.Timestamp(raw_ts)
    except (ValueError, TypeError) as err:
        raise MarketDataError(f"{path}: snapshot time {raw_ts!r} is not a time") from err
    ts = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts
    bids, bad_bids = _levels(data.get("bids", []), "bid", path)
    asks, bad_asks = _levels(data.get("asks", []), "ask", path)
    book = OrderBook(
        exchange=exchange, symbol=symbol, ts=ts.to_pydatetime(), bids=bids, asks=asks,
        source="replay",
    )  # fmt: skip
    return book, bad_bids + bad_asks

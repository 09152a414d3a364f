"""pandas frames in the ../shared/data layouts -> the plain rows the fake exchange stores.

Kept apart so the exchange process (``python -m tests.fakes.binance_server``) starts without
importing pandas; tests hand frames in, the admin API carries the plain rows.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# Optional kline fields beyond OHLCV, in the order candle rows carry them.
EXTRA_CANDLE_COLUMNS = ("quote_volume", "trades", "taker_buy_base", "taker_buy_quote")


def _open_ms(frame: pd.DataFrame) -> pd.Series:
    """Epoch ms of ``timestamp`` (ISO text or datetimes) or ``ts``; naive times are UTC."""
    column = "timestamp" if "timestamp" in frame.columns else "ts"
    if column not in frame.columns:
        raise ValueError(f"frame needs a 'timestamp' or 'ts' column; got {list(frame.columns)}")
    stamps = pd.to_datetime(frame[column], utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)


def candle_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """``[open_ms, open, high, low, close, volume, *extras]`` per candle.

    ``frame`` is in the ../shared/data/market CSV layout (``timestamp`` or ``ts``, ``open``,
    ``high``, ``low``, ``close``, ``volume``); the optional ``EXTRA_CANDLE_COLUMNS`` are
    passed on only when all of them are present.
    """
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise ValueError(f"candle frame is missing columns {missing}")
    columns = [_open_ms(frame).astype("int64")]
    columns += [frame[c].astype("float64") for c in ("open", "high", "low", "close", "volume")]
    if all(c in frame.columns for c in EXTRA_CANDLE_COLUMNS):
        columns += [frame[c] for c in EXTRA_CANDLE_COLUMNS]
    return [list(row) for row in zip(*(c.tolist() for c in columns), strict=True)]


def trade_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Trades from the ../shared/data/orderbooks layout as records with ``time`` in ms.

    Columns: ``timestamp`` (or ``ts``), ``price``, ``amount``; optional ``trade_id`` and
    ``side`` (the taker's side).
    """
    records = pd.DataFrame(
        {
            "time": _open_ms(frame).astype("int64"),
            "price": frame["price"],
            "amount": frame["amount"],
        }
    )
    for optional in ("trade_id", "side"):
        if optional in frame.columns:
            records[optional] = frame[optional]
    return records.to_dict(orient="records")

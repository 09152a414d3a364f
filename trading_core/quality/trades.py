"""Quality of the public trades tape (raw/trades): the checks and quarantine reasons.

Reasons: ``missing_value`` (a NaN or empty field), ``non_positive_price``,
``non_positive_amount`` (negative, zero or infinite), ``unknown_side`` (not buy or sell),
``out_of_window`` (outside the partition's day, or after now), ``conflicting_duplicate`` (one
trade id with different time, side, price or amount: every version is quarantined) and
``duplicate_record`` (an identical copy; the last received stays). See
``trading_core.quality.records`` for how one pass gives both the quarantine and the checks.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from trading_core.market.base import TRADE_COLUMNS
from trading_core.quality.outcome import CheckSpec
from trading_core.quality.records import (
    CONFLICT,
    DUPLICATE,
    MISSING,
    OUT_OF_WINDOW,
    Assessment,
    RecordSpec,
    assess,
    not_in,
    not_positive,
)

TRADE_SIDES = ("buy", "sell")


def _spec(name: str, severity: str, description: str, *reasons: str) -> tuple[str, tuple]:
    return name, (CheckSpec(name, severity, description), reasons)  # type: ignore[arg-type]


TRADE_RECORDS = RecordSpec(
    columns=TRADE_COLUMNS,
    key=["exchange", "symbol", "trade_id"],
    time="ts",
    numbers=["price", "amount"],
    text=["exchange", "symbol", "trade_id", "side"],
    rules={
        "non_positive_price": ("price", not_positive),
        "non_positive_amount": ("amount", not_positive),
        "unknown_side": ("side", not_in(TRADE_SIDES)),
    },
    schema_check="trades_schema",
    checks=dict(
        [
            _spec(
                "trades_schema",
                "error",
                "Trades have their columns with the expected types (ts timestamp, price and "
                "amount float64, text ids and sides)",
            ),
            _spec(
                "trades_unique_ids",
                "error",
                "A trade id has one version: none comes back with another time, side, price "
                "or amount",
                CONFLICT,
            ),
            _spec(
                "trades_valid_values",
                "error",
                "Every trade has all its fields, a positive finite price and amount",
                MISSING,
                "non_positive_price",
                "non_positive_amount",
            ),
            _spec(
                "trades_known_side",
                "error",
                f"Every trade's taker side is one of {list(TRADE_SIDES)}",
                "unknown_side",
            ),
            _spec(
                "trades_in_window",
                "warn",
                "Every trade lies in its partition's day and before now",
                OUT_OF_WINDOW,
            ),
            _spec(
                "trades_no_copies",
                "warn",
                "No trade arrives twice (identical copies are kept once, the rest quarantined)",
                DUPLICATE,
            ),
        ]
    ),
)
TRADE_CHECK_SPECS: list[CheckSpec] = TRADE_RECORDS.specs
TRADE_CHECKS: dict[str, str] = {spec.name: spec.severity for spec in TRADE_CHECK_SPECS}
TRADE_QUARANTINE_REASONS: tuple[str, ...] = TRADE_RECORDS.reasons


def assess_trades(
    frame: pd.DataFrame, window: tuple[datetime, datetime], now: datetime | None = None
) -> Assessment:
    """Clean trades, quarantined ones with their reason, and the outcome of every check."""
    return assess(frame, TRADE_RECORDS, window, now)

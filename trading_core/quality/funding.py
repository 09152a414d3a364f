"""Quality of perpetual-market data (raw/funding_rates, raw/open_interest): checks and
quarantine reasons, with the one-pass design of ``trading_core.quality.records``.

Funding: ``missing_value``, ``implausible_rate`` (|rate| above ``MAX_ABS_FUNDING_RATE`` or
infinite: Binance caps USDT-M funding far below it), ``out_of_window``,
``conflicting_duplicate`` (one funding time with two rates) and ``duplicate_record``.
Open interest: ``missing_value``, ``negative_open_interest``, ``negative_open_interest_value``
and the same window and duplicate reasons.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from trading_core.quality.outcome import CheckSpec
from trading_core.quality.records import (
    CONFLICT,
    DUPLICATE,
    MISSING,
    OUT_OF_WINDOW,
    Assessment,
    RecordSpec,
    assess,
    negative,
)

MAX_ABS_FUNDING_RATE = 0.05  # per funding interval (5 %); real ones stay under ~3 %

FUNDING_COLUMNS = ["exchange", "symbol", "contract", "ts", "funding_rate"]
OPEN_INTEREST_COLUMNS = [
    "exchange", "symbol", "contract", "ts", "open_interest", "open_interest_value",
]  # fmt: skip


def _implausible(values: pd.Series) -> pd.Series:
    return (values.abs() > MAX_ABS_FUNDING_RATE) | np.isinf(values)


def _checks(prefix: str, what: str, value_reasons: tuple[str, ...], values: str) -> dict:
    specs = [
        (f"{prefix}_schema", "error", f"{what} have their columns with the expected types", ()),
        (f"{prefix}_unique", "error", f"One {what[:-1].lower()} per contract and time",
         (CONFLICT,)),
        (f"{prefix}_valid_values", "error", values, (MISSING, *value_reasons)),
        (f"{prefix}_in_window", "warn", f"{what} lie in their partition's day, before now",
         (OUT_OF_WINDOW,)),
        (f"{prefix}_no_copies", "warn", f"No {what[:-1].lower()} arrives twice", (DUPLICATE,)),
    ]  # fmt: skip
    return {name: (CheckSpec(name, sev, text), reasons) for name, sev, text, reasons in specs}  # type: ignore[arg-type]


FUNDING_RECORDS = RecordSpec(
    columns=FUNDING_COLUMNS,
    key=["exchange", "contract", "ts"],
    time="ts",
    numbers=["funding_rate"],
    text=["exchange", "symbol", "contract"],
    rules={"implausible_rate": ("funding_rate", _implausible)},
    schema_check="funding_schema",
    checks=_checks(
        "funding",
        "Funding rates",
        ("implausible_rate",),
        f"Every funding rate is a finite number with |rate| <= {MAX_ABS_FUNDING_RATE}",
    ),
)
OPEN_INTEREST_RECORDS = RecordSpec(
    columns=OPEN_INTEREST_COLUMNS,
    key=["exchange", "contract", "ts"],
    time="ts",
    numbers=["open_interest", "open_interest_value"],
    text=["exchange", "symbol", "contract"],
    rules={
        "negative_open_interest": ("open_interest", negative),
        "negative_open_interest_value": ("open_interest_value", negative),
    },
    schema_check="open_interest_schema",
    checks=_checks(
        "open_interest",
        "Open interest figures",
        ("negative_open_interest", "negative_open_interest_value"),
        "Every open interest (amount and value) is a finite number >= 0",
    ),
)
FUNDING_CHECKS = {s.name: s.severity for s in FUNDING_RECORDS.specs}
OPEN_INTEREST_CHECKS = {s.name: s.severity for s in OPEN_INTEREST_RECORDS.specs}


def assess_funding(
    frame: pd.DataFrame, window: tuple[datetime, datetime], now: datetime | None = None
) -> Assessment:
    return assess(frame, FUNDING_RECORDS, window, now)


def assess_open_interest(
    frame: pd.DataFrame, window: tuple[datetime, datetime], now: datetime | None = None
) -> Assessment:
    return assess(frame, OPEN_INTEREST_RECORDS, window, now)

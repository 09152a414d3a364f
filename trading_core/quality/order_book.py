"""Quality of order-book snapshots (one row per snapshot, side and level): a Great Expectations
suite as code, and the quarantine split. Same design as ``trading_core.quality.ohlcv``: helper
columns derived in pandas (price steps between levels, best bid/ask of the snapshot), checked
by GE expectations, one outcome per check of ``ORDER_BOOK_CHECK_SPECS``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from trading_core.market.base import ORDER_BOOK_COLUMNS
from trading_core.quality.frames import TIMESTAMP_TYPES, join_reasons
from trading_core.quality.gx import ExpectationResult, expectations, run_suite
from trading_core.quality.outcome import (
    CheckOutcome,
    CheckSpec,
    OutcomeBuilder,
    Severity,
    example_rows,
)

SNAPSHOT_KEYS = ["exchange", "symbol", "snapshot_ts"]
SIDES = ("bid", "ask")

ORDER_BOOK_CHECK_SPECS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "order_book_schema",
        "error",
        "columns exchange, symbol, side (text), snapshot_ts (naive UTC datetime64), level "
        "(integer >= 0), price, amount (float64); side is bid or ask; no missing values",
    ),
    CheckSpec("order_book_unique_level", "error", "one row per (snapshot, side, level)"),
    CheckSpec("order_book_bids_descending", "error", "bid prices strictly descending by level"),
    CheckSpec("order_book_asks_ascending", "error", "ask prices strictly ascending by level"),
    CheckSpec("order_book_not_crossed", "error", "best bid < best ask in every snapshot"),
    CheckSpec("order_book_positive_prices", "error", "price > 0"),
    CheckSpec("order_book_positive_amounts", "error", "amount > 0"),
)

# Check name -> severity, e.g. to declare Dagster asset checks (``blocking`` for "error").
ORDER_BOOK_CHECKS: dict[str, Severity] = {s.name: s.severity for s in ORDER_BOOK_CHECK_SPECS}

ORDER_BOOK_QUARANTINE_REASONS: tuple[str, ...] = (
    "missing_value",
    "invalid_side",
    "non_positive_price",
    "non_positive_amount",
    "duplicate_level",  # an identical copy of a level kept once
    "conflicting_duplicate",  # versions of one level that differ: every version kept aside
    "malformed_level",  # a snapshot file's entry that is not [price, amount]
    "unordered_levels",  # the whole snapshot side: a level breaks the price order
    "crossed_book",  # the whole snapshot: best bid >= best ask
)


def _level_steps(data: pd.DataFrame, price: pd.Series) -> pd.Series:
    """Price minus the previous level's price within a snapshot side (NaN on level 0)."""
    ordered = data[[*SNAPSHOT_KEYS, "side", "level"]].assign(price=price)
    ordered = ordered.sort_values([*SNAPSHOT_KEYS, "side", "level"], kind="stable")
    steps = (
        ordered["price"]
        - ordered.groupby([*SNAPSHOT_KEYS, "side"], dropna=False, sort=False)["price"].shift()
    )
    return steps.reindex(data.index)


def _best_prices(data: pd.DataFrame, price: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Best bid and best ask of each row's snapshot (by price, so level errors don't hide it)."""
    groups = [data[k] for k in SNAPSHOT_KEYS]
    best_bid = price.where(data["side"] == "bid").groupby(groups, dropna=False).transform("max")
    best_ask = price.where(data["side"] == "ask").groupby(groups, dropna=False).transform("min")
    return best_bid, best_ask


def _suite() -> list[Any]:
    gxe = expectations()

    def tag(name: str) -> dict[str, str]:
        return {"check": name}

    schema = tag("order_book_schema")
    return [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=ORDER_BOOK_COLUMNS, exact_match=False, meta=schema
        ),
        *(
            gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=["str"], meta=schema)
            for c in ("exchange", "symbol", "side")
        ),
        gxe.ExpectColumnValuesToBeInTypeList(
            column="snapshot_ts", type_list=TIMESTAMP_TYPES, meta=schema
        ),
        gxe.ExpectColumnValuesToBeInTypeList(
            column="level", type_list=["int64", "int32", "int16", "int8"], meta=schema
        ),
        *(
            gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=["float64"], meta=schema)
            for c in ("price", "amount")
        ),
        *(gxe.ExpectColumnValuesToNotBeNull(column=c, meta=schema) for c in ORDER_BOOK_COLUMNS),
        gxe.ExpectColumnValuesToBeInSet(column="side", value_set=list(SIDES), meta=schema),
        gxe.ExpectColumnValuesToBeBetween(column="level", min_value=0, meta=schema),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*SNAPSHOT_KEYS, "side", "level"], meta=tag("order_book_unique_level")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="_bid_step", max_value=0, strict_max=True, meta=tag("order_book_bids_descending")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="_ask_step", min_value=0, strict_min=True, meta=tag("order_book_asks_ascending")
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="_best_ask",
            column_B="_best_bid",
            or_equal=False,
            ignore_row_if="either_value_is_missing",
            meta=tag("order_book_not_crossed"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="price", min_value=0, strict_min=True, meta=tag("order_book_positive_prices")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="amount", min_value=0, strict_min=True, meta=tag("order_book_positive_amounts")
        ),
    ]


def validate_order_book(frame: pd.DataFrame) -> list[CheckOutcome]:
    """One outcome per check of ``ORDER_BOOK_CHECK_SPECS``, in that order."""
    builder = OutcomeBuilder(ORDER_BOOK_CHECK_SPECS)
    data = frame.reset_index(drop=True)
    absent = [c for c in ORDER_BOOK_COLUMNS if c not in data.columns]
    if absent:
        builder.add("order_book_schema", False, len(data), [], f"missing columns {absent}")
        builder.not_evaluated(f"missing columns {absent}")
        return builder.result()

    price = pd.to_numeric(data["price"], errors="coerce").astype("float64")
    steps = _level_steps(data, price)
    best_bid, best_ask = _best_prices(data, price)
    derived = pd.DataFrame(
        {
            "_bid_step": steps.where(data["side"] == "bid"),
            "_ask_step": steps.where(data["side"] == "ask"),
            "_best_bid": best_bid,
            "_best_ask": best_ask,
        },
        index=data.index,
    )
    checked = data[ORDER_BOOK_COLUMNS].copy()
    for column in ("exchange", "symbol", "side"):
        checked[column] = checked[column].astype(object)  # GE checks values of objects
    results = run_suite(pd.concat([checked, derived], axis=1), "order_book", _suite())
    by_check: dict[str, list[ExpectationResult]] = {}
    for result in results:
        by_check.setdefault(result.check, []).append(result)
    shown = pd.concat([data[ORDER_BOOK_COLUMNS], derived], axis=1).rename(
        columns={"_best_bid": "best_bid", "_best_ask": "best_ask"}
    )
    for spec in ORDER_BOOK_CHECK_SPECS:
        outcomes = by_check.get(spec.name, [])
        rows = sorted({row for r in outcomes for row in r.failing_rows})
        errors = [f"{r.expectation}: {r.error}" for r in outcomes if r.error]
        detail = f"{len(rows)} of {len(data)} rows fail"
        if spec.name == "order_book_schema":
            wrong = [
                f"{c} is {data[c].dtype}"
                for c, ok in (
                    ("snapshot_ts", str(data["snapshot_ts"].dtype) in TIMESTAMP_TYPES),
                    ("level", pd.api.types.is_integer_dtype(data["level"])),
                    ("price", data["price"].dtype == "float64"),
                    ("amount", data["amount"].dtype == "float64"),
                )
                if not ok
            ]
            if wrong:
                rows = list(range(len(data)))
                detail = "wrong types: " + ", ".join(wrong)
        if errors:
            detail += "; GE raised: " + "; ".join(errors)
        extra = ["best_bid", "best_ask"] if spec.name == "order_book_not_crossed" else []
        builder.add(
            spec.name,
            all(r.success for r in outcomes),
            len(rows),
            example_rows(shown, rows, [*ORDER_BOOK_COLUMNS, *extra]),
            detail,
        )
    return builder.result()


def quarantine_order_book(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into ``(clean, quarantined)`` with a ``reason`` column
    (``ORDER_BOOK_QUARANTINE_REASONS``); ``len(clean) + len(quarantined) == len(frame)``.

    Row faults first (missing value, invalid side, non-positive price or amount; of identical
    copies of a level the last received stays, versions that differ are all quarantined as
    ``conflicting_duplicate``). Then, on the remaining rows, a snapshot side whose prices
    are out of level order is quarantined as a whole (``unordered_levels``), and so is a
    crossed snapshot (``crossed_book``): a partial or crossed book would mislead every
    depth and imbalance figure computed from it."""
    absent = [c for c in ORDER_BOOK_COLUMNS if c not in frame.columns]
    if absent:
        raise ValueError(f"cannot quarantine an order book without columns {absent}")
    data = frame.reset_index(drop=True)
    price = pd.to_numeric(data["price"], errors="coerce")
    amount = pd.to_numeric(data["amount"], errors="coerce")
    reasons = join_reasons(
        len(data),
        {
            "missing_value": data[ORDER_BOOK_COLUMNS].isna().any(axis=1),
            "invalid_side": data["side"].notna() & ~data["side"].isin(SIDES),
            "non_positive_price": price <= 0,
            "non_positive_amount": amount <= 0,
        },
    )
    valid = reasons == ""
    keys = data[[*SNAPSHOT_KEYS, "side", "level"]]
    same_key = keys[valid].duplicated(keep=False)
    content = keys.assign(price=price, amount=amount)[valid][same_key]
    versions = content.groupby([*SNAPSHOT_KEYS, "side", "level"], dropna=False).transform("nunique")
    conflicting = ((versions > 1).any(axis=1)).reindex(data.index, fill_value=False)
    duplicate = keys[valid & ~conflicting].duplicated(keep="last")
    duplicate = duplicate.reindex(data.index, fill_value=False)
    reasons = join_reasons(
        len(data), {"duplicate_level": duplicate, "conflicting_duplicate": conflicting}, reasons
    )

    kept = data[reasons == ""]
    kept_price = price[reasons == ""]
    steps = _level_steps(kept, kept_price)
    wrong_step = ((kept["side"] == "bid") & (steps >= 0)) | ((kept["side"] == "ask") & (steps <= 0))
    side_keys = [*SNAPSHOT_KEYS, "side"]
    unordered = wrong_step.groupby([kept[k] for k in side_keys], dropna=False).transform("any")
    best_bid, best_ask = _best_prices(kept, kept_price)
    crossed = best_bid >= best_ask
    reasons = join_reasons(
        len(data),
        {
            "unordered_levels": unordered.reindex(data.index, fill_value=False),
            "crossed_book": crossed.reindex(data.index, fill_value=False),
        },
        reasons,
    )
    bad = reasons != ""
    quarantined = data[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    return data[~bad].reset_index(drop=True), quarantined

"""Order-book quality: real and simulated books pass; each corruption is named by its check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from trading_core.market.replay import ReplayMarket
from trading_core.market.sim import SimMarket
from trading_core.quality import (
    ORDER_BOOK_CHECKS,
    quarantine_order_book,
    validate_order_book,
)

AT = datetime(2025, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def books() -> pd.DataFrame:
    """Three snapshots of 10 levels a side: rows 0-9 bids, 10-19 asks of the first one."""
    sim = SimMarket()
    frames = [
        sim.fetch_order_book("sim", "ETH/USDT", 10, at=AT + timedelta(minutes=5 * i)).to_frame()
        for i in range(3)
    ]
    return pd.concat(frames, ignore_index=True)


def _failed(frame: pd.DataFrame) -> set[str]:
    return {o.name for o in validate_order_book(frame) if not o.passed}


def test_simulated_and_recorded_books_pass_every_check(
    books: pd.DataFrame, shared_data: Path
) -> None:
    outcomes = validate_order_book(books)
    assert [o.name for o in outcomes] == list(ORDER_BOOK_CHECKS)
    assert all(o.passed and o.severity == "error" for o in outcomes)
    recorded = ReplayMarket(shared_data / "market").fetch_order_book("coinbase", "BTC/USD", 40)
    assert not _failed(recorded.to_frame())


def _duplicate_level(f: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f, f.iloc[[3]]], ignore_index=True)


def _bid_out_of_order(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[4, "price"] = f.loc[2, "price"] + 0.001
    return f


def _ask_out_of_order(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[15, "price"] = f.loc[12, "price"] - 0.001
    return f


def _crossed(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[10:19, "price"] -= 1_000.0  # every ask below the best bid, still ascending
    return f


def _zero_price(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[9, "price"] = 0.0  # the deepest bid: order is still descending
    return f


def _negative_amount(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[7, "amount"] = -1.0
    return f


def _bad_side(f: pd.DataFrame) -> pd.DataFrame:
    f.loc[0, "side"] = "buy"
    return f


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_duplicate_level, {"order_book_unique_level", "order_book_bids_descending"}),
        (_bid_out_of_order, {"order_book_bids_descending"}),
        (_ask_out_of_order, {"order_book_asks_ascending"}),
        (_crossed, {"order_book_not_crossed"}),
        (_zero_price, {"order_book_positive_prices"}),
        (_negative_amount, {"order_book_positive_amounts"}),
        (_bad_side, {"order_book_schema"}),
    ],
)
def test_each_corruption_is_caught_by_the_check_that_names_it(
    books: pd.DataFrame, corrupt: Callable[[pd.DataFrame], pd.DataFrame], expected: set[str]
) -> None:
    assert _failed(corrupt(books.copy())) == expected


def test_crossed_book_examples_show_best_bid_and_ask(books: pd.DataFrame) -> None:
    outcome = next(o for o in validate_order_book(_crossed(books.copy())) if not o.passed)
    assert outcome.failing_count == 20 and len(outcome.examples) == 5
    assert outcome.examples[0]["best_bid"] >= outcome.examples[0]["best_ask"]


def test_wrong_types_and_missing_columns_fail_the_schema(books: pd.DataFrame) -> None:
    floats = books.assign(level=books["level"].astype("float64"))
    schema = validate_order_book(floats)[0]
    assert not schema.passed and "level is float64" in schema.description
    assert all(not o.passed for o in validate_order_book(books.drop(columns=["amount"])))


def test_quarantine_keeps_every_bad_row_with_its_reason(books: pd.DataFrame) -> None:
    frame = _negative_amount(_bid_out_of_order(books.copy()))  # snapshot 0: bids unordered
    frame.loc[30:39, "price"] -= 1_000.0  # snapshot 1: crossed
    frame = _duplicate_level(frame)  # a second copy of snapshot 0's bid level 3
    clean, quarantined = quarantine_order_book(frame)
    assert len(clean) + len(quarantined) == len(frame)
    assert quarantined.groupby("reason").size().to_dict() == {
        "non_positive_amount": 1,  # row 7
        "duplicate_level": 1,  # row 3; its later copy stays
        "unordered_levels": 9,  # the other bids of snapshot 0, the copy included
        "crossed_book": 20,  # all of snapshot 1
    }
    assert len(clean) == 30 and not _failed(clean)

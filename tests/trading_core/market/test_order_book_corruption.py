"""A REAL recorded order book (coinbase BTC-USD depth) corrupted in the test: a malformed
level entry is kept aside alone with its side, position and reason while the other levels are
read; conflicting copies of a level are all quarantined; an unreadable file is refused."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from trading_core.market.base import MarketDataError
from trading_core.market.replay import ReplayMarket
from trading_core.quality import quarantine_order_book, validate_order_book

DEPTH = "coinbase_BTCUSD_depth_20250827.json"
AT = datetime(2025, 8, 27, 19, 26)


def replay(tmp_path: Path, shared_data: Path, edit=None, raw: bytes | None = None) -> ReplayMarket:
    books = tmp_path / "orderbooks"
    books.mkdir()
    (tmp_path / "market").mkdir()
    target = books / DEPTH
    if raw is not None:
        target.write_bytes(raw)
    else:
        shutil.copy(shared_data / "orderbooks" / DEPTH, target)
        if edit is not None:
            data = json.loads(target.read_text())
            edit(data)
            target.write_text(json.dumps(data))
    return ReplayMarket(tmp_path / "market", books)


def test_a_malformed_level_is_kept_aside_alone(tmp_path: Path, shared_data: Path) -> None:
    def corrupt(data: dict) -> None:
        data["bids"][3] = ["111923.1x", 0.5]  # not a number
        data["asks"][0] = [111925.0]  # one field

    source = replay(tmp_path, shared_data, corrupt)
    book = source.fetch_order_book("coinbase", "BTC/USD", 100, AT)
    assert (len(book.bids), len(book.asks)) == (39, 39)  # the 78 good levels are read
    rejected = source.rejected_levels("coinbase", "BTC/USD", book.ts)
    assert [(r["side"], r["level"]) for r in rejected] == [("bid", 3), ("ask", 0)]
    assert rejected[0]["reason"].startswith(f"malformed_level: bids[3] of {DEPTH}")
    assert "not a [price, amount] pair" in rejected[1]["reason"]


def test_conflicting_copies_of_a_level_are_all_quarantined(
    tmp_path: Path, shared_data: Path
) -> None:
    book = replay(tmp_path, shared_data).fetch_order_book("coinbase", "BTC/USD", 100, AT)
    levels = book.to_frame()
    other = levels.iloc[[2]].assign(amount=levels["amount"].iloc[2] * 3)
    same = levels.iloc[[5]]
    frame = pd.concat([levels, other, same], ignore_index=True)
    clean, bad = quarantine_order_book(frame)
    assert len(clean) + len(bad) == len(frame)
    reasons = bad.groupby("reason")["level"].apply(list).to_dict()
    assert reasons == {"conflicting_duplicate": [2, 2], "duplicate_level": [5]}
    failed = {o.name for o in validate_order_book(frame) if not o.passed}
    assert "order_book_unique_level" in failed


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"bids": []}'])
def test_a_snapshot_that_cannot_be_read_at_all_is_refused(
    tmp_path: Path, shared_data: Path, raw: bytes
) -> None:
    source = replay(tmp_path, shared_data, raw=raw)
    with pytest.raises(MarketDataError, match=DEPTH):
        source.fetch_order_book("coinbase", "BTC/USD", 10, AT)

"""raw/order_book_snapshots: the day in progress resumes after its stored head and ends up
exactly as a whole-day run (rows and outcomes), strict as ever on bad data."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from assets.ingest.order_books import build_order_book_asset
from tests.assets.conftest import market_resource, run, table
from trading_core.market.book_plan import (
    StoredBook,
    passing_outcomes,
    resume_after,
    validate_books,
    with_head,
)
from trading_core.market.sim import SimMarket, synthesize_book
from trading_core.quality import validate_order_book
from trading_pipelines.partitions import market_partitions

DAY = datetime(2026, 11, 30)
SYMBOLS = ["BTC/USDT", "ETH/USDT"]
KEYS = [f"{DAY.date()}|{s.replace('/', '-')}" for s in SYMBOLS]
ROWS = "select * exclude (ingested_at) from raw.order_book_snapshots order by all"
QUARANTINE = "select * exclude (ingested_at) from raw.order_book_quarantine order by all"
CHECKS = (
    "select partition_key, check_name, passed, severity, failing_count "
    "from raw.partition_checks order by all"
)


def books_at(home, at: datetime) -> dg.ExecuteInProcessResult:
    market = market_resource(
        symbols=SYMBOLS, timeframes=["1h"], order_book_depth=4, as_of=at.isoformat()
    )
    asset = build_order_book_asset(market_partitions(market.market_config()))
    warehouse = DuckDBResource(database=str(home / "warehouse.duckdb"))
    result = run(asset, {"market": market, "warehouse": warehouse}, KEYS)
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    event = result.get_asset_materialization_events()[0]  # one per partition, same metadata
    return {k: v.value for k, v in event.materialization.metadata.items()}


def descriptions(result: dg.ExecuteInProcessResult) -> dict[str, str | None]:
    return {ev.check_name: ev.description for ev in result.get_asset_check_evaluations()}


def snapshot(home) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    path = home / "warehouse.duckdb"
    return table(path, ROWS), table(path, QUARANTINE), table(path, CHECKS)


def test_resumed_runs_equal_one_whole_day_run(trading_home, tmp_path) -> None:
    start = DAY + timedelta(hours=2, minutes=1)
    first = books_at(trading_home, start)
    assert metadata(first)["resumed_partitions"] == 0
    for minutes in (3, 7, 13):  # a run without a new snapshot, then with one, then two
        later = books_at(trading_home, start + timedelta(minutes=minutes))
        assert metadata(later)["resumed_partitions"] == 2
    # 02:08 -> 02:14 adds the 02:10 snapshot: symbols x sides x depth level rows
    assert metadata(later)["level_rows"] == 2 * 2 * 4
    whole_home = tmp_path / "whole"
    whole_home.mkdir()
    whole = books_at(whole_home, start + timedelta(minutes=13))
    for mine, theirs in zip(snapshot(trading_home), snapshot(whole_home), strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    assert len(snapshot(trading_home)[0]) == 2 * 27 * 2 * 4  # 00:00..02:10, every 5 minutes
    assert descriptions(later) == descriptions(whole)


def _crossed(at: datetime):
    original = SimMarket.fetch_order_book

    def fetch(self, exchange, symbol, depth, moment=None):
        book = original(self, exchange, symbol, depth, moment)
        if symbol == "ETH/USDT" and moment == at:  # best bid above the best ask
            return replace(book, bids=[(book.asks[0][0] * 1.01, 1.0)])
        return book

    return fetch


def test_a_bad_new_snapshot_makes_the_partition_validated_whole(
    trading_home, tmp_path, monkeypatch
) -> None:
    start = DAY + timedelta(hours=1, minutes=1)
    books_at(trading_home, start)
    bad_at = DAY + timedelta(hours=1, minutes=5)
    monkeypatch.setattr(SimMarket, "fetch_order_book", _crossed(bad_at))
    later = books_at(trading_home, start + timedelta(minutes=6))
    assert metadata(later)["resumed_partitions"] == 2  # ETH was then fetched whole
    whole_home = tmp_path / "whole"
    whole_home.mkdir()
    whole = books_at(whole_home, start + timedelta(minutes=6))
    for mine, theirs in zip(snapshot(trading_home), snapshot(whole_home), strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    checks = snapshot(trading_home)[2]
    failed = checks[~checks["passed"]]
    assert failed["partition_key"].unique().tolist() == [KEYS[1]]
    assert "order_book_not_crossed" in failed["check_name"].tolist()
    assert descriptions(later) == descriptions(whole)
    # a failed head is never resumed: the next run snapshots ETH whole, and picks up the
    # source's correction
    monkeypatch.undo()
    again = books_at(trading_home, start + timedelta(minutes=7))
    assert metadata(again)["resumed_partitions"] == 1
    assert snapshot(trading_home)[2]["passed"].all()


def test_a_head_without_recorded_checks_is_fetched_whole(trading_home) -> None:
    start = DAY + timedelta(hours=1)
    books_at(trading_home, start)
    with duckdb.connect(str(trading_home / "warehouse.duckdb")) as conn:
        conn.execute("delete from raw.partition_checks where partition_key = ?", [KEYS[0]])
    later = books_at(trading_home, start + timedelta(minutes=5))
    assert metadata(later)["resumed_partitions"] == 1


def _frame(symbol: str, at: datetime, depth: int = 3) -> pd.DataFrame:
    book = synthesize_book("sim", symbol, at, 100.0, 1e-4, 0.01, depth, 1, 1e4, "sim")
    return book.to_frame()


def _as_dicts(outcomes):
    return [o.as_dict() for o in outcomes]


def test_one_suite_equals_one_suite_per_partition() -> None:
    good = {f"p{i}": _frame("BTC/USDT", DAY + timedelta(minutes=5 * i)) for i in range(3)}
    together = validate_books(good)
    for key, frame in good.items():
        assert _as_dicts(together[key]) == _as_dicts(validate_order_book(frame))
        assert _as_dicts(together[key]) == _as_dicts(passing_outcomes(len(frame)))
    hostile = {
        "nan": good["p0"].assign(price=np.nan),
        "negative": good["p1"].assign(amount=-1.0),
        "duplicate": pd.concat([good["p2"], good["p2"]], ignore_index=True),
        "huge": good["p0"].assign(price=1e308),
        "clean": good["p1"],
        "float32": good["p2"].astype({"price": "float32"}),
        "wrong_type": good["p0"].assign(level=good["p0"]["level"].astype(str)),
        "empty": pd.DataFrame(columns=good["p0"].columns),
    }
    together = validate_books(hostile)
    for key, frame in hostile.items():
        assert _as_dicts(together[key]) == _as_dicts(validate_order_book(frame)), key
    assert all(o.passed for o in together["clean"])
    assert not all(o.passed for o in together["duplicate"])


def test_resume_needs_passed_checks_and_exchanges_in_step() -> None:
    at = DAY + timedelta(hours=1)
    ok = StoredBook({"a": at, "b": at}, 10, True)
    assert resume_after(ok, ["a", "b"]) == at
    assert resume_after(None, ["a"]) is None
    assert resume_after(StoredBook({"a": at}, 10, False), ["a"]) is None
    assert resume_after(StoredBook({}, 0, True), ["a"]) is None
    assert resume_after(StoredBook({"a": at, "b": at - timedelta(minutes=5)}, 10, True),
                        ["a", "b"]) is None  # fmt: skip
    assert resume_after(StoredBook({"a": at}, 10, True), ["a", "b"]) is None
    assert resume_after(StoredBook({"a": at, "c": at}, 10, True), ["a"]) is None


@pytest.mark.parametrize("new_rows", [0, 1, 8])
def test_the_whole_partitions_outcomes_count_the_head(new_rows) -> None:
    frame = _frame("BTC/USDT", DAY, depth=4)
    slice_outcomes = validate_order_book(frame)
    whole = with_head(slice_outcomes, 100, new_rows)
    assert whole is not None
    assert [o.detail for o in whole] == [f"0 of {100 + new_rows} rows fail"] * len(whole)
    crossed = frame.assign(price=frame["price"][::-1].to_numpy())
    assert with_head(validate_order_book(crossed), 100, len(crossed)) is None

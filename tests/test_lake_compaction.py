"""Lake retention (``trading_pipelines.lake_compaction``) on batches the real executor
publisher wrote and reported through its outbox: old reported batches become one file per
stream and day with the same rows as the journals read them; unreported and recent batches
stay where the outbox says they are; a crash mid-way loses nothing and doubles nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from executor.ledger import Ledger
from executor.orders import OrderState
from executor.publish import DagsterReporter, Publisher
from executor.records import Fill, NewOrder, OrderUpdate
from tests.executor.helpers import T0, Clock
from tests.fakes.http_json_server import FakeHTTPServer, Reply
from trading_pipelines.lake_compaction import COMPACTED, compact_lake, reported_batches

DAY = T0.date()  # 2025-03-03


def trade(ledger: Ledger, n: int, day_offset: int) -> None:
    """One filled market order on the day ``day_offset`` days after T0."""
    cid = f"tp-i{n}-e0"
    ledger.create_order(
        NewOrder(
            client_order_id=cid, exchange="sim", symbol="BTC/USDT", side="buy",
            order_type="market", role="entry", quantity=1.0, intent_id=f"i{n}", strategy="macd",
        )
    )  # fmt: skip
    at = T0 + timedelta(days=day_offset, minutes=n)
    ledger.apply_order_update(
        cid,
        OrderUpdate(OrderState.FILLED, exchange_order_id=f"x{n}", filled_quantity=1.0,
                    average_price=100.0 + n, fee=0.1, fee_currency="USDT"),
        [Fill("sim", f"t{n}", "BTC/USDT", "buy", 1.0, 100.0 + n, 0.1, "USDT", "taker", at)],
    )  # fmt: skip


def journal_view(lake: Path, stream: str) -> list[tuple]:
    """The rows as the staging models read them (``read_lake``: every Parquet file)."""
    pattern = f"{lake}/execution/{stream}/**/*.parquet"
    with duckdb.connect() as conn:
        return conn.execute(
            f"select * from read_parquet('{pattern}', union_by_name = true) order by all"
        ).fetchall()


def files(lake: Path, stream: str) -> dict[str, list[str]]:
    root = lake / "execution" / stream
    return {d.name: sorted(f.name for f in d.glob("*.parquet")) for d in sorted(root.iterdir())}


@pytest.fixture
def published(tmp_path: Path):
    """Fills on three days, published by three cycles each; all but the last cycle
    reported to a fake Dagster, the last one written but not reported (Dagster down)."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    clock = Clock(T0)
    ledger = Ledger(url, clock=clock)
    lake = tmp_path / "lake"
    n = 0
    with FakeHTTPServer() as dagster:
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        for _ in range(2):
            for day in range(3):
                n += 1
                clock.now = T0 + timedelta(days=day, minutes=n)  # order events: that day too
                trade(ledger, n, day)
            Publisher(ledger, lake, DagsterReporter(dagster.url), clock=clock).publish()
    clock.now = T0 + timedelta(minutes=n + 1)
    trade(ledger, n + 1, 0)
    clock.now = T0 + timedelta(days=3)
    Publisher(ledger, lake, None, clock=clock).publish()  # written, not reported
    yield ledger, url, lake
    ledger.close()


def test_old_reported_batches_become_one_file_per_day_with_the_same_rows(published) -> None:
    ledger, url, lake = published
    before = {stream: journal_view(lake, stream) for stream in ("fills", "orders")}
    fills = files(lake, "fills")
    assert [len(names) for names in fills.values()] == [3, 2, 2]  # the 3rd: unreported
    unreported = {Path(b.path).name for b in ledger.outbox.unreported()}
    cutoff = DAY + timedelta(days=2)  # days 0 and 1 are old; day 2 is recent

    report = compact_lake(lake, cutoff, lambda: reported_batches(url, cutoff))

    after = files(lake, "fills")
    assert after["date=2025-03-03"] == sorted(
        [COMPACTED, *(unreported & set(fills["date=2025-03-03"]))]
    )
    assert after["date=2025-03-04"] == [COMPACTED]
    assert after["date=2025-03-05"] == fills["date=2025-03-05"]  # recent: untouched
    assert files(lake, "orders")["date=2025-03-04"] == [COMPACTED]
    assert report.days == 4 and report.merged_files == 8  # fills and orders, 2 days each
    for stream in ("fills", "orders"):
        assert journal_view(lake, stream) == before[stream]  # same rows, same values
    # the outbox still finds every batch it has to finish
    assert all(Path(b.path).is_file() for b in ledger.outbox.unreported())


def test_compaction_is_idempotent_and_folds_batches_reported_later(published) -> None:
    ledger, url, lake = published
    cutoff = DAY + timedelta(days=2)
    compact_lake(lake, cutoff, lambda: reported_batches(url, cutoff))
    assert compact_lake(lake, cutoff, lambda: reported_batches(url, cutoff)).merged_files == 0
    before = journal_view(lake, "fills")
    with FakeHTTPServer() as dagster:  # Dagster is back: the last batch gets reported
        for key in ("execution/fills", "execution/orders"):
            dagster.route("POST", f"/report_asset_materialization/{key}", Reply.json({}))
        Publisher(ledger, lake, DagsterReporter(dagster.url)).publish()
    assert ledger.outbox.unreported_count() == 0
    # the fills and the orders batch of the last cycle
    assert compact_lake(lake, cutoff, lambda: reported_batches(url, cutoff)).merged_files == 2
    assert files(lake, "fills")["date=2025-03-03"] == [COMPACTED]
    assert files(lake, "orders")["date=2025-03-03"] == [COMPACTED]
    assert journal_view(lake, "fills") == before


def test_a_crash_after_the_merge_leaves_duplicates_the_next_pass_drops(
    published, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url, lake = published
    cutoff = DAY + timedelta(days=1)
    before = journal_view(lake, "fills")
    real_unlink = Path.unlink

    def crash(path: Path, missing_ok: bool = False) -> None:
        if path.suffix == ".parquet":
            raise KeyboardInterrupt("killed between the rename and the deletes")
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash)
    with pytest.raises(KeyboardInterrupt):
        compact_lake(lake, cutoff, lambda: reported_batches(url, cutoff))
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert len(journal_view(lake, "fills")) > len(before)  # doubled, never lost
    compact_lake(lake, cutoff, lambda: reported_batches(url, cutoff))
    assert journal_view(lake, "fills") == before


def test_nothing_old_asks_the_ledger_nothing(tmp_path: Path) -> None:
    def no_ledger() -> set[Path]:
        raise AssertionError("the outbox was queried with nothing to compact")

    (tmp_path / "execution" / "fills" / "date=not-a-date").mkdir(parents=True)
    (tmp_path / "execution" / "fills" / "date=not-a-date" / "x.parquet").write_text("")
    report = compact_lake(tmp_path, date(2030, 1, 1), no_ledger)
    assert report.days == 0
    assert compact_lake(tmp_path / "missing", date(2030, 1, 1), no_ledger).days == 0

"""The tax export: exact columns, numbers against a hand-computed FIFO example, and hostile
input, through the real ledger (SQLite written by the executor's own store) and the CLI."""

from __future__ import annotations

import csv
import io
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from assets.exports import TAX_CSV_KEY, build_tax_csv_asset
from executor.ledger import Ledger
from executor.records import Fill
from trading_core.tax import TaxExportError, export_table
from trading_pipelines.cli import main
from trading_pipelines.resources.ledger import LedgerResource

KOINLY = [
    "Date", "Sent Amount", "Sent Currency", "Received Amount", "Received Currency",
    "Fee Amount", "Fee Currency", "Net Worth Amount", "Net Worth Currency", "Label",
    "Description", "TxHash",
]  # fmt: skip
COINTRACKING = [
    "Type", "Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency", "Fee",
    "Fee Currency", "Exchange", "Trade-Group", "Comment", "Date",
]  # fmt: skip


def fill(trade_id, symbol, side, quantity, price, fee, fee_currency, at) -> Fill:
    return Fill(
        exchange="binance",
        trade_id=trade_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        fee=fee,
        fee_currency=fee_currency,
        liquidity="taker",
        event_time=at,
        strategy="macd",
    )


# The hand-computed example (README "Tax export"):
#   t1 2024-12-30 buy 1 BTC @ 100, fee 0.1 USDT      -> lot A 1 BTC, cost 100.1
#   t2 2024-12-31 buy 2.02 BTC @ 110, fee 0.02 BTC   -> lot B 2 BTC, cost 222.2 (111.1 each)
#   t3 2025-01-01 sell 1.5 @ 130, fee 0.195 USDT     -> A 1 (100.1) + B 0.5 (55.55)
#        proceeds 195 - 0.195 = 194.805, basis 155.65, gain 39.155; B keeps 1.5 (166.65)
#   t4 2025-03-01 sell 0.99 @ 90, fee 0.01 BTC       -> disposes 1 BTC of B (111.1)
#        proceeds 89.1, gain -22; B keeps 0.5 (55.55)
#   e1 2025-02-01 buy 10 ETH @ 50, fee 0.5 USDT      -> lot 10 ETH, cost 500.5
#   e2 2025-02-02 sell 4 ETH @ 60, fee 0.24 USDT     -> basis 200.2, proceeds 239.76, gain 39.56
#   realized in 2025: 39.155 - 22 + 39.56 = 56.715 USDT
EXAMPLE = [
    fill("t1", "BTC/USDT", "buy", 1.0, 100.0, 0.1, "USDT", datetime(2024, 12, 30, 10, 0, 0)),
    fill("t2", "BTC/USDT", "buy", 2.02, 110.0, 0.02, "BTC", datetime(2024, 12, 31, 23, 59, 59)),
    fill("t3", "BTC/USDT", "sell", 1.5, 130.0, 0.195, "USDT", datetime(2025, 1, 1, 0, 0, 1)),
    fill("e1", "ETH/USDT", "buy", 10.0, 50.0, 0.5, "USDT", datetime(2025, 2, 1, 8, 0, 0)),
    fill("e2", "ETH/USDT", "sell", 4.0, 60.0, 0.24, "USDT", datetime(2025, 2, 2, 8, 0, 0)),
    fill("t4", "BTC/USDT", "sell", 0.99, 90.0, 0.01, "BTC", datetime(2025, 3, 1, 12, 0, 0)),
]


@pytest.fixture
def ledger_url(trading_home: Path) -> str:
    url = f"sqlite:///{trading_home / 'ledger.sqlite'}"
    ledger = Ledger(url)
    # recorded out of time order: the export sorts by event time
    ledger.record_fills([EXAMPLE[2], EXAMPLE[0], EXAMPLE[1], *EXAMPLE[3:]])
    ledger.close()
    return url


def export(tmp_path: Path, *args: str, name: str = "out.csv") -> tuple[int, list[dict], Path]:
    out = tmp_path / name
    status = main(["export", "tax", *args, "--out", str(out)])
    rows = list(csv.DictReader(out.open())) if status == 0 else []
    return status, rows, out


def by_trade(rows: list[dict], column: str) -> dict[str, dict]:
    return {
        row[column].rsplit(":", 1)[-1] if ":" in row[column] else row[column]: row for row in rows
    }


def test_koinly_has_the_universal_template_columns_and_numbers(ledger_url, tmp_path) -> None:
    status, rows, out = export(tmp_path, "--format", "koinly")
    assert status == 0
    assert out.read_text().splitlines()[0].split(",") == KOINLY
    assert len(rows) == 6
    got = {row["TxHash"]: row for row in rows}
    t1, t2, t3, t4 = (got[f"binance:BTC/USDT:t{i}"] for i in (1, 2, 3, 4))
    assert t1["Date"] == "2024-12-30 10:00 UTC"
    assert (t1["Sent Amount"], t1["Sent Currency"]) == ("100", "USDT")
    assert (t1["Received Amount"], t1["Received Currency"]) == ("1", "BTC")
    assert (t1["Fee Amount"], t1["Fee Currency"]) == ("0.1", "USDT")
    assert (t1["Net Worth Amount"], t1["Net Worth Currency"]) == ("100", "USDT")
    # the fee comes off the balance on top of the traded amounts
    assert (t2["Sent Amount"], t2["Received Amount"], t2["Fee Amount"]) == ("222.2", "2.02", "0.02")
    assert t2["Fee Currency"] == "BTC" and t2["Date"] == "2024-12-31 23:59 UTC"
    assert (t3["Sent Amount"], t3["Sent Currency"]) == ("1.5", "BTC")
    assert (t3["Received Amount"], t3["Received Currency"]) == ("195", "USDT")
    assert (t4["Sent Amount"], t4["Received Amount"], t4["Fee Amount"]) == ("0.99", "89.1", "0.01")
    assert all(row["Label"] == "" for row in rows)
    assert t3["Description"] == "binance BTC/USDT sell 1.5 @ 130 (trade t3, strategy macd, paper)"
    assert [r["Date"][:10] for r in rows] == sorted(r["Date"][:10] for r in rows)


def test_cointracking_amounts_include_the_fees(ledger_url, tmp_path) -> None:
    status, rows, out = export(tmp_path, "--format", "cointracking")
    assert status == 0
    assert out.read_text().splitlines()[0].split(",") == COINTRACKING
    got = {row["Comment"].split("(trade ")[1].split(",")[0]: row for row in rows}
    pick = ("Buy Amount", "Buy Currency", "Sell Amount", "Sell Currency", "Fee", "Fee Currency")
    assert [got["t1"][c] for c in pick] == ["1", "BTC", "100.1", "USDT", "0.1", "USDT"]
    assert [got["t2"][c] for c in pick] == ["2", "BTC", "222.2", "USDT", "0.02", "BTC"]
    assert [got["t3"][c] for c in pick] == ["194.805", "USDT", "1.5", "BTC", "0.195", "USDT"]
    assert [got["t4"][c] for c in pick] == ["89.1", "USDT", "1", "BTC", "0.01", "BTC"]
    assert got["t3"]["Date"] == "2025-01-01 00:00:01"
    assert {r["Type"] for r in rows} == {"Trade"} and {r["Exchange"] for r in rows} == {"binance"}
    assert {r["Trade-Group"] for r in rows} == {"macd"}


def test_generic_fifo_basis_and_gains_match_the_hand_computed_example(ledger_url, tmp_path) -> None:
    status, rows, _ = export(tmp_path, "--format", "generic")
    assert status == 0
    got = {row["trade_id"]: row for row in rows}
    assert (got["t1"]["acquired_quantity"], got["t1"]["acquisition_cost"]) == ("1", "100.1")
    assert (got["t2"]["acquired_quantity"], got["t2"]["acquisition_cost"]) == ("2", "222.2")
    t3 = got["t3"]
    assert (t3["disposed_quantity"], t3["proceeds"], t3["cost_basis"]) == (
        "1.5",
        "194.805",
        "155.65",
    )
    assert t3["realized_gain"] == "39.155" and t3["uncovered_quantity"] == "0"
    assert t3["lots"] == "2024-12-30T10:00:00Z 1 cost 100.1; 2024-12-31T23:59:59Z 0.5 cost 55.55"
    t4 = got["t4"]  # a base-currency fee: 0.99 sold + 0.01 spent on the fee
    assert (t4["disposed_quantity"], t4["proceeds"], t4["cost_basis"]) == ("1", "89.1", "111.1")
    assert t4["realized_gain"] == "-22"
    assert (got["e2"]["cost_basis"], got["e2"]["realized_gain"]) == ("200.2", "39.56")
    assert got["t1"]["realized_gain"] == "" and got["t1"]["date_utc"] == "2024-12-30T10:00:00Z"


def test_a_year_keeps_its_fills_and_the_basis_of_earlier_years(ledger_url, tmp_path) -> None:
    status, rows, _ = export(tmp_path, "--format", "generic", "--year", "2025")
    assert status == 0
    assert sorted(r["trade_id"] for r in rows) == ["e1", "e2", "t3", "t4"]
    # the first sale of 2025 consumes the lots bought in 2024
    assert next(r for r in rows if r["trade_id"] == "t3")["cost_basis"] == "155.65"
    status, rows, _ = export(tmp_path, "--format", "koinly", "--year", "2024", name="2024.csv")
    assert status == 0 and len(rows) == 2
    table = export_table([{**f.__dict__, "mode": "paper"} for f in EXAMPLE], "generic", year=2025)
    assert table.realized_gain() == {"USDT": "56.715"}


def test_a_sale_beyond_the_lots_reports_the_uncovered_part_and_no_gain() -> None:
    rows = [
        fill("b", "SOL/USDT", "buy", 1.0, 10.0, 0.0, None, datetime(2025, 1, 1)).__dict__,
        fill("s", "SOL/USDT", "sell", 3.0, 12.0, 0.0, None, datetime(2025, 1, 2)).__dict__,
    ]
    table = export_table(rows, "generic")
    sale = dict(zip(table.columns, table.rows[1], strict=True))
    assert (sale["uncovered_quantity"], sale["cost_basis"], sale["realized_gain"]) == (
        "2",
        "10",
        "",
    )
    assert "2 SOL of this sale has no acquisition in the ledger" in sale["note"]
    assert (
        sale["fee_currency"] == "USDT"
    )  # no fee currency: charged in the quote, as the ledger does


def test_a_fee_in_a_third_currency_is_listed_not_counted() -> None:
    rows = [fill("b", "BTC/USDT", "buy", 1.0, 100.0, 0.05, "BNB", datetime(2025, 1, 1)).__dict__]
    generic = dict(
        zip(
            *(export_table(rows, "generic").columns, export_table(rows, "generic").rows[0]),
            strict=True,
        )
    )
    assert (
        generic["acquisition_cost"] == "100" and "fee 0.05 BNB not in the cost" in generic["note"]
    )
    ct = export_table(rows, "cointracking").rows[0]
    assert ct[1:7] == ["1", "BTC", "100", "USDT", "0.05", "BNB"] and "Other Fee" in ct[9]


def test_an_empty_ledger_writes_the_header_only_with_a_note(trading_home, tmp_path, capsys) -> None:
    Ledger(f"sqlite:///{trading_home / 'ledger.sqlite'}").close()
    for fmt, header in (("koinly", KOINLY), ("cointracking", COINTRACKING)):
        status, rows, out = export(tmp_path, "--format", fmt, name=f"{fmt}.csv")
        assert status == 0 and rows == []
        assert out.read_text() == ",".join(header) + "\n"
        assert "no fills in the ledger: wrote the" in capsys.readouterr().out


def test_a_year_without_fills_writes_the_header_only(ledger_url, tmp_path, capsys) -> None:
    status, rows, _ = export(tmp_path, "--format", "generic", "--year", "2023")
    assert status == 0 and rows == []
    assert "no fills in 2023" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv"], "argument --format: invalid choice: 'csv'"),
        (["--format", "koinly", "--year", "last"], "argument --year: 'last' is not a year"),
        (["--format", "koinly", "--year", "1800"], "argument --year: 1800: give a year from 2009"),
        (["--format", "koinly", "--year", "99999"], "argument --year: 99999: give a year"),
        (["--year", "2025"], "the following arguments are required: --format"),
    ],
)
def test_bad_flags_are_usage_errors_naming_the_flag(ledger_url, tmp_path, capsys, args, message):
    status, _, out = export(tmp_path, *args)
    assert status == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_out_is_a_clear_error_and_writes_nothing(ledger_url, tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "dir" / "tax.csv"
    assert main(["export", "tax", "--format", "koinly", "--out", str(missing)]) == 2
    assert f"cannot write --out {missing}" in capsys.readouterr().err
    assert main(["export", "tax", "--format", "koinly", "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    if os.geteuid() == 0:  # root writes into any directory; nobody writes into /proc
        target = Path("/proc/tax.csv")
        assert main(["export", "tax", "--format", "koinly", "--out", str(target)]) == 2
        assert f"cannot write --out {target}" in capsys.readouterr().err
        return
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert main(["export", "tax", "--format", "koinly", "--out", str(locked / "t.csv")]) == 2
        assert "Permission denied" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_missing_ledger_is_an_error_and_creates_nothing(trading_home, tmp_path, capsys):
    status, _, out = export(tmp_path, "--format", "generic")
    assert status == 2 and not out.exists()
    assert "no ledger at" in capsys.readouterr().err
    assert not (trading_home / "ledger.sqlite").exists()
    status, _, _ = export(tmp_path, "--format", "generic", "--ledger-url", "nonsense://")
    assert status == 2


def test_a_broken_fill_in_the_ledger_names_it_and_keeps_the_old_file(ledger_url, tmp_path, capsys):
    out = tmp_path / "keep.csv"
    out.write_text("old\n")
    engine = sa.create_engine(ledger_url)
    with engine.begin() as conn:
        conn.execute(sa.text("update fills set price = -5 where trade_id = 't3'"))
    engine.dispose()
    assert main(["export", "tax", "--format", "koinly", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "fill binance/BTC/USDT/t3" in err and "price" in err
    assert out.read_text() == "old\n"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": math.nan}, "price"),
        ({"price": math.inf}, "price"),
        ({"quantity": -1.0}, "quantity"),
        ({"quantity": 0.0}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),
        ({"fee": -0.1}, "fee"),
        ({"fee": True}, "fee"),
        ({"price": 1e300}, "price"),
        ({"side": "hold"}, "side"),
        ({"symbol": "BTCUSDT"}, "symbol"),
        ({"trade_id": ""}, "trade_id"),
        ({"event_time": "2025-01-01"}, "event_time"),
    ],
)
def test_hostile_fills_are_refused_naming_the_field(change, field) -> None:
    row = {**EXAMPLE[0].__dict__, **change}
    with pytest.raises(TaxExportError, match=rf"fill binance/.*: {field} "):
        export_table([row], "generic")


def test_duplicates_and_bad_arguments_of_the_pure_export() -> None:
    row = EXAMPLE[0].__dict__
    with pytest.raises(TaxExportError, match="trade_id appears twice"):
        export_table([row, row], "koinly")
    with pytest.raises(TaxExportError, match="format 'xlsx': choose one of koinly"):
        export_table([row], "xlsx")
    for year in (1999, "2025", True, 2025.0):
        with pytest.raises(TaxExportError, match="year"):
            export_table([row], "koinly", year=year)  # type: ignore[arg-type]


def test_an_aware_event_time_is_converted_to_utc() -> None:
    at = datetime(2025, 1, 1, 1, 30, tzinfo=UTC) + timedelta(hours=0)
    local = at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    row = {**EXAMPLE[0].__dict__, "event_time": local}
    assert export_table([row], "koinly").rows[0][0] == "2025-01-01 01:30 UTC"


def test_the_asset_writes_every_format_under_the_exports_folder(ledger_url, tmp_path) -> None:
    exports = tmp_path / "exports"
    asset = build_tax_csv_asset(exports)
    result = dg.materialize(
        [asset],
        resources={"ledger": LedgerResource(url=ledger_url)},
        run_config={"ops": {"exports__tax_csv": {"config": {"year": 2025}}}},
    )
    assert result.success
    names = sorted(p.name for p in exports.iterdir())
    assert names == ["tax_cointracking_2025.csv", "tax_generic_2025.csv", "tax_koinly_2025.csv"]
    koinly = list(csv.reader(io.StringIO((exports / "tax_koinly_2025.csv").read_text())))
    assert koinly[0] == KOINLY and len(koinly) == 5
    (materialization,) = result.asset_materializations_for_node("exports__tax_csv")
    assert materialization.asset_key == TAX_CSV_KEY
    meta = materialization.metadata
    assert meta["fills"].value == 4 and meta["realized_gain"].value == {"USDT": "56.715"}


def test_the_asset_fails_clearly_without_a_ledger(trading_home, tmp_path) -> None:
    asset = build_tax_csv_asset(tmp_path / "exports")
    url = f"sqlite:///{trading_home / 'ledger.sqlite'}"
    with pytest.raises(dg.Failure, match="no ledger at"):
        dg.materialize([asset], resources={"ledger": LedgerResource(url=url)})


def test_a_buy_whose_base_fee_eats_the_whole_quantity_is_refused() -> None:
    row = fill("b", "BTC/USDT", "buy", 0.01, 100.0, 0.01, "BTC", datetime(2025, 1, 1)).__dict__
    with pytest.raises(TaxExportError, match=r"fill binance:BTC/USDT:b: fee 0.01 BTC"):
        export_table([row], "generic")


@pytest.mark.integration
def test_a_postgres_ledger_exports_the_same_rows(ledger_url, tmp_path) -> None:
    import uuid

    from tests.executor.conftest import PG_URL, _postgres_reachable

    if not _postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run starts it)")
    schema = f"tax_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        ledger = Ledger(url)
        ledger.record_fills(EXAMPLE)
        ledger.close()
        status, on_postgres, _ = export(
            tmp_path, "--format", "generic", "--ledger-url", url, name="pg.csv"
        )
        assert status == 0
        status, on_sqlite, _ = export(tmp_path, "--format", "generic", name="lite.csv")
        assert status == 0 and on_postgres == on_sqlite and len(on_sqlite) == 6
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

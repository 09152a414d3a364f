"""reports/drift end to end: a paper day traded through the real engine and SQLite ledger
(one entry filled 20 minutes late on a moved book, one intent expired), the backtest of the
same day on the warehouse's candles, a real Dagster materialization with its check and its
alert, and the drift section of the daily report."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.drift import DRIFT_CHECK, build_drift_report_asset
from assets.reports import build_daily_report_asset
from tests.reports import journals
from tests.reports.paper_window import (
    CONFIG,
    DAY,
    PaperDay,
    trade_the_day,
    wave_bars,
    write_candles,
)
from trading_core.reports.drift_run import DriftSetup
from trading_pipelines.resources.alerts import AlertResource

DAYS = dg.DailyPartitionsDefinition(start_date="2025-02-01", end_date="2025-04-01")
PARTITION = DAY.date().isoformat()


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> tuple[PaperDay, Path]:
    folder = tmp_path_factory.mktemp("paper_day")
    bars = wave_bars()
    warehouse = folder / "warehouse.duckdb"
    write_candles(warehouse, bars)
    day = trade_the_day(f"sqlite:///{folder / 'ledger.sqlite'}", bars)
    assert len(day.delayed) == len(day.expired) == 1 and day.on_time
    return day, warehouse


def materialize_drift(home: Path, day: PaperDay, warehouse: Path, setup: DriftSetup | None = None):
    setup = setup or DriftSetup.from_config(CONFIG, day.ledger_url)
    asset = build_drift_report_asset(DAYS, setup, home / "reports")
    return dg.materialize(
        [asset],
        resources={
            "warehouse": DuckDBResource(database=str(warehouse)),
            "alerts": AlertResource(path=str(home / "alerts.jsonl")),
        },
        partition_key=PARTITION,
    )


def test_a_late_fill_and_an_expired_intent_are_drift_with_their_causes(
    paper: tuple[PaperDay, Path], trading_home: Path
) -> None:
    day, warehouse = paper
    result = materialize_drift(trading_home, day, warehouse)
    assert result.success
    (mat,) = result.asset_materializations_for_node("reports__drift")
    meta = mat.metadata
    assert meta["missed_trades"].value == 1 and meta["extra_trades"].value == 0
    assert meta["mode"].value == "paper" and meta["instances"].value == "default"
    assert meta["instances_out_of_bounds"].value == 1
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == DRIFT_CHECK and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN

    report = json.loads((trading_home / "reports" / f"drift_{PARTITION}.json").read_text())
    (summary,) = report["instances"]
    assert (summary["matched"], summary["missed"], summary["extra"]) == (2, 1, 0)
    trades = {t["signal_bar"][11:16]: t for t in report["trades"]}
    missed = [t for t in trades.values() if t["status"] == "missed"]
    assert len(missed) == 1 and missed[0]["cause"] == "expired"
    assert day.expired[0] in missed[0]["detail"] and "older than its limit" in missed[0]["detail"]
    late = [t for t in trades.values() if t["entry_cause"] == "late fill"]
    assert len(late) == 1 and day.delayed[0] in late[0]["detail"]
    assert late[0]["entry_diff_bps"] == pytest.approx(101.0, abs=0.5)  # book +1 %, half spread
    on_time = [t for t in trades.values() if t["status"] == "matched" and t is not late[0]]
    assert [t["entry_cause"] for t in on_time] == ["slippage"]
    assert on_time[0]["entry_diff_bps"] == pytest.approx(1.0, abs=0.01)  # half the spread
    # the backtest scaled to the traded quantity: same fee rate, so fees differ by the prices
    assert abs(on_time[0]["fee_diff"]) < 1e-3
    assert summary["mean_entry_slippage_bps"] == pytest.approx(51.0, abs=0.5)
    assert any("mean entry slippage" in b for b in summary["breaches"])
    assert any("1 missed trade" in b for b in summary["breaches"])
    assert report["window"] == "2025-03-03 00:00 to 2025-03-04 00:00 UTC (end excluded)"
    assert "fill at the signal bar's close" in report["conventions"]

    md = (trading_home / "reports" / f"drift_{PARTITION}.md").read_text()
    assert "expired" in md and "late fill" in md and "1 instance(s) out of bounds" in md
    (alert,) = [json.loads(x) for x in (trading_home / "alerts.jsonl").read_text().splitlines()]
    assert alert["severity"] == "warning"
    assert alert["title"] == f"drift: out of bounds on {PARTITION}"
    assert alert["message"].startswith("default: 1 missed trade(s) (allowed 0)")


def test_looser_bounds_pass_the_check_and_raise_no_alert(
    paper: tuple[PaperDay, Path], trading_home: Path
) -> None:
    day, warehouse = paper
    loose = CONFIG.model_copy(
        update={
            "drift": CONFIG.drift.model_copy(
                update={"max_missed_trades": 1, "min_entry_slippage_bps": 60.0}
            )
        }
    )
    result = materialize_drift(
        trading_home, day, warehouse, DriftSetup.from_config(loose, day.ledger_url)
    )
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert not (trading_home / "alerts.jsonl").exists()


def test_a_day_nobody_traded_and_a_missing_ledger_are_empty_reports(
    paper: tuple[PaperDay, Path], trading_home: Path, tmp_path: Path
) -> None:
    _, warehouse = paper
    nowhere = PaperDay(f"sqlite:///{tmp_path / 'never_created.sqlite'}")
    result = materialize_drift(trading_home, nowhere, warehouse)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    (mat,) = result.asset_materializations_for_node("reports__drift")
    assert mat.metadata["instances"].value == "none traded"
    assert not (tmp_path / "never_created.sqlite").exists()  # reading never creates it


def test_the_daily_report_has_the_drift_section(
    paper: tuple[PaperDay, Path], trading_home: Path, tmp_path: Path
) -> None:
    day, candles = paper
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(f"attach '{candles}' as candles (read_only)")
        conn.execute("create schema journals; create schema staging")
        conn.execute("create table staging.stg_ohlcv as select * from candles.staging.stg_ohlcv")
        tables = {
            "fct_equity_curve": journals.curve(),
            "fct_daily_pnl": journals.daily(),
            "fct_trade_journal": journals.journal().assign(sequence=range(5), reasons="{}"),
            "fct_trades": journals.trades().assign(onchain_at_entry=None),
            "fct_positions": journals.positions(),
        }
        for name, frame in tables.items():
            conn.register("frame", frame)
            conn.execute(f"create table journals.{name} as select * from frame")
            conn.unregister("frame")
    setup = DriftSetup.from_config(CONFIG, day.ledger_url)
    asset = build_daily_report_asset(DAYS, trading_home / "reports", drift=setup)
    result = dg.materialize(
        [asset],
        resources={"warehouse": DuckDBResource(database=str(warehouse))},
        partition_key=PARTITION,
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("reports__daily_report")
    inline = mat.metadata["report"].value
    assert "## Drift against the backtest (per instance)" in inline
    assert "## Drift, trade by trade (with the likely cause)" in inline
    assert "Instance default drifted from its backtest: 1 missed trade(s)" in inline
    html = (trading_home / "reports" / f"daily_report_{PARTITION}.html").read_text()
    assert "Drift, trade by trade" in html and "expired" in html and "late fill" in html
    # the journals' drawdown stage 1, and the drift
    assert mat.metadata["summary"].value == "2 thing(s) need attention (worst: warning)."

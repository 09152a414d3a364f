"""reports/daily_report end to end on a scratch warehouse holding the hand-made journals:
files under TRADING_HOME/reports, the report inline in Dagster's metadata, weekly/monthly."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.reports import build_daily_report_asset, read_alerts
from tests.reports import journals
from tests.reports.test_llm_summary import FakeProvider
from trading_core.reports.window import window_for

DAYS = dg.DailyPartitionsDefinition(start_date="2025-02-01", end_date="2025-04-01")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    tables = {
        "fct_equity_curve": journals.curve(),
        "fct_daily_pnl": journals.daily(),
        "fct_trade_journal": journals.journal().assign(sequence=range(5), reasons="{}"),
        "fct_trades": journals.trades().assign(onchain_at_entry=None),
        "fct_positions": journals.positions(),
    }
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema journals; create schema staging")
        for name, frame in tables.items():
            conn.register("frame", frame)
            conn.execute(f"create table journals.{name} as select * from frame")
            conn.unregister("frame")
        conn.execute(
            "create table staging.stg_ohlcv as select timestamp '2025-03-03 23:00' as available_at"
        )
    return path


def run(warehouse: Path, home: Path, partition: str, config: dict | None = None, **kw):
    asset = build_daily_report_asset(DAYS, home / "reports", **kw)
    result = dg.materialize(
        [asset],
        resources={"warehouse": DuckDBResource(database=str(warehouse))},
        partition_key=partition,
        run_config={"ops": {"reports__daily_report": {"config": config or {}}}},
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("reports__daily_report")
    return mat.metadata


def test_the_daily_report_is_written_and_shown_inline(warehouse: Path, trading_home: Path) -> None:
    (trading_home / "alerts.jsonl").write_text(
        'not json\n{"at": "2025-03-03T08:00:00+00:00", "severity": "warning", '
        '"title": "feature drift", "message": "rsi"}\n'
    )
    meta = run(warehouse, trading_home, "2025-03-03")
    folder = trading_home / "reports"
    assert meta["equity"].value == pytest.approx(490.0)
    assert meta["pnl"].value == pytest.approx(-30.0)
    assert meta["max_drawdown"].value == pytest.approx(1 - 490 / 520)
    assert meta["instances"].value == "macd, manual"
    assert meta["summary"].value == "2 thing(s) need attention (worst: warning)."  # stage 1, drift
    inline = meta["report"].value
    assert isinstance(meta["report"], dg.MarkdownMetadataValue)
    assert inline.count("](data:image/png;base64,") == 3
    png = base64.b64decode(inline.split("](data:image/png;base64,")[1].split(")")[0])
    assert png.startswith(b"\x89PNG")
    md = (folder / "daily_report_2025-03-03.md").read_text()
    assert "![Equity and drawdown](daily_2025-03-03_equity.png)" in md
    assert "drawdown stage 1" in md and "1 drift alert(s) in the window: feature drift" in md
    assert "stop_loss" in md and "realized_pnl_gross" in md and "fee_quote" in md
    assert "2025-03-03 00:00 to 2025-03-04 00:00 UTC (end excluded" in md
    html = (folder / "daily_report_2025-03-03.html").read_text()
    assert html.count("src='data:image/png;base64,") == 3
    assert (folder / "latest.html").read_text() == html
    for chart in ("equity", "pnl", "positions"):
        assert (folder / f"daily_2025-03-03_{chart}.png").read_bytes().startswith(b"\x89PNG")
    assert "weekly_report" not in meta


def test_a_sunday_also_writes_the_week_and_config_picks_periods(
    warehouse: Path, trading_home: Path
) -> None:
    meta = run(warehouse, trading_home, "2025-03-09")
    assert Path(meta["weekly_report"].value).name == "weekly_report_2025-W10.html"
    assert meta["weekly_pnl"].value == pytest.approx(-30.0)
    meta = run(warehouse, trading_home, "2025-03-03", {"periods": ["monthly"]})
    assert Path(meta["monthly_report"].value).name == "monthly_report_2025-03.html"
    assert "report" not in meta


def test_config_errors_name_the_field(warehouse: Path, trading_home: Path) -> None:
    asset = build_daily_report_asset(DAYS, trading_home / "reports")
    result = dg.materialize(
        [asset],
        resources={"warehouse": DuckDBResource(database=str(warehouse))},
        partition_key="2025-03-03",
        run_config={"ops": {"reports__daily_report": {"config": {"periods": ["yearly"]}}}},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "periods: ['yearly'] unknown; allowed ['daily', 'weekly', 'monthly']" in message
    assert not (trading_home / "reports").exists()


def test_a_backtest_expectation_and_a_provider_reach_the_report(
    warehouse: Path, trading_home: Path
) -> None:
    fake = FakeProvider()
    meta = run(
        warehouse, trading_home, "2025-03-03",
        {"backtest_pnl_per_day": {"macd": 4.0}}, summary_provider=fake,
    )  # fmt: skip
    assert "Instance macd made -20.00 against +4.00 expected" in meta["report"].value
    assert fake.answer in meta["report"].value and len(fake.prompts) == 1


def test_alerts_outside_the_window_or_malformed_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    lines = [
        {"at": "2025-03-02T23:59:59", "title": "before"},
        {"at": "2025-03-03T00:00:00", "title": "inside"},
        {"at": "2025-03-04T00:00:00", "title": "after"},
        {"title": "no time"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    assert [a["title"] for a in read_alerts(path, window_for("daily", journals.DAY))] == ["inside"]
    assert read_alerts(tmp_path / "missing.jsonl", window_for("daily", journals.DAY)) == []

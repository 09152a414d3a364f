"""``trading optimise | walk-forward | monte-carlo``, ``backtest --breakdown`` and the sweep's
overfitting summary, end to end through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from trading_pipelines.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def daily(shared_data: Path) -> Path:
    return shared_data / "market" / "binance_XRPUSDT_1d.csv"


@pytest.fixture(scope="module")
def hourly(shared_data: Path) -> Path:
    return shared_data / "market" / "binance_XRPUSDT_1h.csv"


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _pngs(directory: Path) -> list[Path]:
    pngs = sorted(directory.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    return pngs


def test_optimise_reports_stop_reason_holdout_and_deflated_sharpe(
    daily: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _json(
        capsys,
        ["optimise", "--ohlcv", str(daily), "--strategy", "macd", "--trials", "40",
         "--patience", "10", "--objective", "calmar", "--space", "fast=2:20",
         "--space", "slow=21:60", "--space", "signal=2:12", "--space", "stop_loss=0.02:0.15",
         "--json", "--report", str(tmp_path / "rep")],
    )  # fmt: skip
    assert doc["objectives"] == ["calmar"] and doc["sampler"] == "tpe"
    assert doc["counts"]["trials"] <= 40 and doc["stop_reason"]
    if doc["stopped_early"]:
        assert "patience" in doc["stop_reason"]
    assert set(doc["best_params"]) == {"fast", "slow", "signal", "stop_loss"}
    assert 0.02 <= doc["best_params"]["stop_loss"] <= 0.15
    assert doc["holdout"]["closed_trades"] >= 0 and doc["holdout_fraction"] == 0.3
    assert 0 <= doc["deflated_sharpe"]["dsr"] <= 1
    assert {"fill", "fee", "slippage_bps"} <= set(doc["conventions"])
    assert doc["gaps"] == {"gaps": 0, "missing_candles": 0, "largest_gap_candles": 0,
                           "gap_mode": "bridge"}  # fmt: skip
    assert isinstance(doc["overfitting"]["robust"], bool)
    assert "## Trials" in (tmp_path / "rep" / "report.md").read_text()
    _pngs(tmp_path / "rep")


def test_optimise_nsga2_gives_a_pareto_front(
    daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _json(
        capsys,
        ["optimise", "--ohlcv", str(daily), "--strategy", "macd", "--trials", "24",
         "--objective", "sharpe", "--objective", "profit_over_drawdown", "--holdout", "0",
         "--json"],
    )  # fmt: skip
    assert doc["sampler"] == "nsga2" and doc["holdout_window"] is None
    assert doc["pareto"] and all("profit_over_drawdown" in p for p in doc["pareto"])


def test_optimise_says_why_nothing_was_found(
    daily: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _json(
        capsys,
        ["optimise", "--ohlcv", str(daily), "--strategy", "macd", "--trials", "5",
         "--min-trades", "100000", "--json"],
    )  # fmt: skip
    assert doc["best_params"] is None and doc["counts"]["too_few_trades"] == 5
    assert "every one was pruned" in doc["stop_reason"]
    assert doc["overfitting"] == {"robust": False, "reasons": [doc["stop_reason"]]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--space", "fast"], "--space"),
        (["--space", "fast=9:3"], "LOW < HIGH"),
        (["--space", "fast=a:b"], "numbers"),
        (["--holdout", "1.5"], "--holdout"),
        (["--trials", "0"], "--trials"),
        (["--min-trades", "-1"], "--min-trades"),
        (["--objective", "profit"], ""),
    ],
)
def test_optimise_rejects_bad_options(
    daily: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code = main(["optimise", "--ohlcv", str(daily), "--strategy", "macd", *extra])
    assert code == 2
    assert message in capsys.readouterr().err


def test_walk_forward_cli_reports_correlation_pbo_and_verdict(
    daily: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "grid.csv"
    pd.DataFrame(
        [(f, s, g) for f in (5, 12, 20) for s in (26, 40) for g in (5, 9)],
        columns=["fast", "slow", "signal"],
    ).to_csv(params, index=False)
    doc = _json(
        capsys,
        ["walk-forward", "--ohlcv", str(daily), "--strategy", "macd", "--params-file",
         str(params), "--in-sample", "700", "--out-of-sample", "350", "--mode", "expanding",
         "--objective", "sortino", "--pbo-blocks", "8", "--json", "--report",
         str(tmp_path / "wf")],
    )  # fmt: skip
    assert doc["mode"] == "expanding" and doc["objective"] == "sortino"
    assert all("is_oos_rank_correlation" in f for f in doc["folds"])
    o = doc["overfitting"]
    assert o["pbo"]["blocks"] == 8 and 0 <= o["pbo"]["pbo"] <= 1
    assert o["deflated_sharpe"]["n_trials"] == 12
    assert o["robust"] == (not o["reasons"]) and "gaps" in doc and "warmup" in doc
    text = (tmp_path / "wf" / "report.md").read_text()
    assert "ROBUST" in text and "Parameter stability" in text
    _pngs(tmp_path / "wf")


def test_monte_carlo_cli_runs_all_three_methods(
    daily: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _json(
        capsys,
        ["monte-carlo", "--ohlcv", str(daily), "--strategy", "macd", "--param", "fast=12",
         "--runs", "200", "--block-bars", "10", "--json", "--report", str(tmp_path / "mc")],
    )  # fmt: skip
    assert set(doc["methods"]) == {"shuffle", "bootstrap", "block"}
    assert doc["methods"]["block"]["block"] == 10
    for method in doc["methods"].values():
        assert set(method["summary"]) == {"final_equity", "total_return", "max_drawdown"}
        assert 0 <= method["probability_of_loss"] <= 1
    assert doc["backtest"]["window"]["bars"] > 0 and "conventions" in doc["backtest"]
    assert len(_pngs(tmp_path / "mc")) == 6
    for runs in ("0", "100001"):
        code = main(["monte-carlo", "--ohlcv", str(daily), "--strategy", "macd", "--runs", runs])
        assert code == 2 and "--runs" in capsys.readouterr().err


def test_backtest_breakdown_and_gaps_in_json(
    hourly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backtest", "--ohlcv", str(hourly), "--strategy", "macd", "--start", "2025-01-01",
            "--breakdown", "month", "--json"]  # fmt: skip
    doc = _json(capsys, argv)
    assert "total_return" in doc and "entries" in doc
    assert doc["breakdown"][0]["period"] == "2025-01-01"
    assert sum(row["trades"] for row in doc["breakdown"]) == doc["closed_trades"]
    assert set(doc["gaps"]) == {"gaps", "missing_candles", "largest_gap_candles", "gap_mode"}
    split = _json(capsys, [*argv, "--gaps", "split"])
    assert split["gaps"]["gap_mode"] == "split"
    if split["gaps"]["gaps"]:
        assert split["window"]["start"] == split["gaps"]["segment_start"]
        assert split["window"]["bars"] == split["gaps"]["segment_bars"]
    assert main([*argv[:-3], "--breakdown", "year"]) == 2


def test_sweep_prints_overfitting_and_a_json_summary(
    daily: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "p.csv"
    pd.DataFrame({"fast": [5, 12, 20, 8], "slow": [26, 26, 40, 30], "signal": [9, 9, 5, 4]}).to_csv(
        params, index=False
    )
    argv = ["sweep", "--ohlcv", str(daily), "--strategy", "macd", "--params-file", str(params),
            "--pbo-blocks", "8", "--out", str(tmp_path / "r.csv")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PBO" in out and "deflated Sharpe" in out and "ROBUST" in out
    doc = _json(capsys, [*argv, "--json"])
    assert doc["rows"] == 4 and doc["fill"] == "close" and doc["fee"] == 0.001
    assert {"window_start", "window_end", "warmup", "gaps", "missing_candles"} <= set(doc)
    assert doc["overfitting"]["pbo"]["combinations"] == 70
    assert main([*argv[:-4], "--pbo-blocks", "3", "--out", str(tmp_path / "x.csv")]) == 2


def test_indicators_warns_about_gaps_and_can_split(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shared_data / "market" / "binance_XRPUSDT_4h.csv"  # 7 gaps, 9 missing candles
    assert main(["indicators", "--ohlcv", str(source), "--out", str(tmp_path / "a.csv")]) == 0
    assert "7 gaps (9 missing candles" in capsys.readouterr().err
    argv = ["indicators", "--ohlcv", str(source), "--out", str(tmp_path / "b.csv")]
    assert main([*argv, "--gaps", "split"]) == 0
    assert "kept the longest" in capsys.readouterr().err
    bridged, split = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert (
        len(split) < len(bridged) and split["timestamp"].iloc[-1] == bridged["timestamp"].iloc[-1]
    )
    steps = pd.to_datetime(split["timestamp"]).diff().dropna()
    assert (steps == pd.Timedelta(hours=4)).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--in-sample", "5", "--out-of-sample", "100"], "--in-sample"),
        (["--in-sample", "100000", "--out-of-sample", "100"], "cannot hold"),
        (["--in-sample", "500", "--out-of-sample", "100", "--history-bars", "-1"],
         "--history-bars"),
    ],
)  # fmt: skip
def test_walk_forward_rejects_bad_windows_naming_the_flag(
    daily: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    params = tmp_path / "grid.csv"
    pd.DataFrame({"fast": [5, 12], "slow": [26, 30], "signal": [9, 9]}).to_csv(params, index=False)
    argv = ["walk-forward", "--ohlcv", str(daily), "--strategy", "macd", "--params-file",
            str(params), *extra]  # fmt: skip
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_walk_forward_start_keeps_earlier_bars_as_warm_up(
    daily: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "grid.csv"
    pd.DataFrame({"fast": [5, 12, 20], "slow": [26, 30, 40], "signal": [9, 9, 5]}).to_csv(
        params, index=False
    )
    argv = ["walk-forward", "--ohlcv", str(daily), "--strategy", "macd", "--params-file",
            str(params), "--in-sample", "400", "--out-of-sample", "200", "--start",
            "2022-01-01", "--pbo-blocks", "4", "--json"]  # fmt: skip
    doc = _json(capsys, argv)
    assert doc["folds"][0]["is_start"].startswith("2022-01-01")
    from trading_core.backtest import read_ohlcv_csv
    from trading_core.backtest.walk_forward import WalkForwardConfig, walk_forward

    bars = read_ohlcv_csv(daily)
    start = int((bars["ts"] < pd.Timestamp("2022-01-01")).sum())
    wf = WalkForwardConfig(in_sample_bars=400, out_of_sample_bars=200, pbo_blocks=4)
    direct = walk_forward(bars, "macd", pd.read_csv(params), wf, start=start)
    cold = walk_forward(bars.iloc[start:], "macd", pd.read_csv(params), wf)
    assert doc["metrics"]["total_return"] == pytest.approx(direct.metrics["total_return"])
    # the history before --start warmed up the first in-sample window's indicators
    assert direct.folds["is_sharpe"].iloc[0] != cold.folds["is_sharpe"].iloc[0]

"""``trading lookahead-analysis | recursive-analysis`` and ``--strategy-file`` in backtest
and sweep, in process through ``main([...])``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.analysis.helpers import EMA_CROSS, LOOKAHEAD_EXAMPLE, write
from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.strategies.registry import strategy_from_file
from trading_pipelines.cli import main


@pytest.fixture(scope="module")
def btc_csv(shared_data: Path) -> Path:
    return shared_data / "market" / "binance_BTCUSDT_1d.csv"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_lookahead_json_flags_the_example_with_exit_0(
    btc_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(
        capsys, "lookahead-analysis", "--ohlcv", str(btc_csv),
        "--strategy-file", str(LOOKAHEAD_EXAMPLE), "--max-cuts", "6", "--json",
    )  # fmt: skip
    assert status == 0
    report = json.loads(out)
    assert report["lookahead"] is True
    columns = {f["column"]: f for f in report["findings"]}
    assert {"entry", "exit", "next_close"} <= set(columns)
    assert columns["next_close"]["first_changed_bar"] == columns["next_close"]["truncated_at_bar"]
    assert report["cuts_checked"] == 6


def test_lookahead_json_and_table_for_a_builtin(
    btc_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lookahead-analysis", "--ohlcv", str(btc_csv), "--strategy", "macd"]
    status, out, _ = _run(capsys, *args, "--param", "fast=8", "--max-cuts", "5", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["lookahead"] is False and report["findings"] == []
    assert report["params"]["fast"] == 8
    status, out, _ = _run(capsys, *args, "--max-cuts", "5")
    assert status == 0 and "no lookahead" in out and "macd" in out


def test_lookahead_table_lists_the_changed_columns(
    btc_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(
        capsys, "lookahead-analysis", "--ohlcv", str(btc_csv),
        "--strategy-file", str(LOOKAHEAD_EXAMPLE), "--max-cuts", "4",
    )  # fmt: skip
    assert status == 0
    assert "LOOKAHEAD" in out and "next_close" in out and "first changed bar" in out


def test_recursive_json_and_table(btc_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recursive-analysis", "--ohlcv", str(btc_csv), "--strategy-file", str(EMA_CROSS)]
    status, out, _ = _run(capsys, *args, "--param", "fast=10", "--param", "slow=40", "--json")
    assert status == 0
    report = json.loads(out)
    startup = {c["column"]: c["startup_bars"] for c in report["indicators"]}
    assert set(startup) == {"ema_10", "ema_40"} and startup["ema_10"] < startup["ema_40"]
    assert report["needed"] == startup["ema_40"] and report["enough"] is True
    status, out, _ = _run(
        capsys, "recursive-analysis", "--ohlcv", str(btc_csv), "--strategy", "swing"
    )
    assert status == 0 and "rsi_14" in out and "warmup_bars" in out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--strategy", "macd", "--strategy-file", str(EMA_CROSS)], "not allowed with"),
        ([], "one of the arguments --strategy --strategy-file is required"),
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--strategy", "macd", "--param", "fast"], "expected NAME=VALUE"),
        (["--strategy", "macd", "--param", "fast=-4"], "fast"),
        (["--strategy", "macd", "--max-cuts", "0"], "--max-cuts"),
    ],
)
def test_lookahead_user_errors_exit_2(
    btc_csv: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    status, _, err = _run(capsys, "lookahead-analysis", "--ohlcv", str(btc_csv), *extra)
    assert status == 2
    assert needle in err


@pytest.mark.parametrize("value", ["nan", "0", "2", "abc"])
def test_recursive_bad_tolerance_exits_2(
    btc_csv: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    status, _, err = _run(
        capsys, "recursive-analysis", "--ohlcv", str(btc_csv), "--strategy", "macd",
        "--tolerance", value,
    )  # fmt: skip
    assert status == 2 and "--tolerance" in err


@pytest.mark.parametrize("command", ["lookahead-analysis", "recursive-analysis", "backtest"])
def test_a_broken_strategy_file_is_one_line_naming_it(
    btc_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    broken = write(tmp_path, "broken.py", "import numpy as np\nclass X(:\n")
    status, _, err = _run(capsys, command, "--ohlcv", str(btc_csv), "--strategy-file", str(broken))
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(broken.resolve()) in lines[0] and "syntax error at line 2" in lines[0]


def test_backtest_with_a_strategy_file_equals_the_class_run_directly(
    btc_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(
        capsys, "backtest", "--ohlcv", str(btc_csv), "--strategy-file", str(EMA_CROSS),
        "--param", "fast=10", "--param", "slow=40", "--fee", "0.001", "--json",
    )  # fmt: skip
    assert status == 0
    report = json.loads(out)
    direct = run_backtest(
        read_ohlcv_csv(btc_csv),
        strategy_from_file(EMA_CROSS, {"fast": 10, "slow": 40}),
        BacktestConfig(fee=0.001),
    )
    assert report["total_return"] == pytest.approx(direct.metrics["total_return"], abs=1e-12)
    assert report["closed_trades"] == direct.metrics["closed_trades"] > 10
    status, _, err = _run(
        capsys, "backtest", "--ohlcv", str(btc_csv), "--strategy-file", str(EMA_CROSS),
        "--param", "fast=50", "--param", "slow=40",
    )  # fmt: skip
    assert status == 2
    assert str(EMA_CROSS.resolve()) in err and "fast (50) must be < slow (40)" in err
    assert len(err.strip().splitlines()) == 1


def test_sweep_with_a_strategy_file_matches_one_backtest_per_row(
    btc_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = tmp_path / "params.csv"
    pd.DataFrame({"fast": [5, 10, 20], "slow": [20, 40, 60]}).to_csv(grid, index=False)
    out_csv = tmp_path / "results.csv"
    status, out, _ = _run(
        capsys, "sweep", "--ohlcv", str(btc_csv), "--strategy-file", str(EMA_CROSS),
        "--params-file", str(grid), "--out", str(out_csv),
    )  # fmt: skip
    assert status == 0 and "wrote 3 scenarios" in out
    results = pd.read_csv(out_csv)
    bars = read_ohlcv_csv(btc_csv)
    for row in results.itertuples():
        strategy = strategy_from_file(EMA_CROSS, {"fast": row.fast, "slow": row.slow})
        direct = run_backtest(bars, strategy, BacktestConfig()).metrics
        assert row.total_return == pytest.approx(direct["total_return"], abs=1e-9)
        assert row.closed_trades == direct["closed_trades"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"fast": [30], "slow": [20]}).to_csv(bad, index=False)
    status, _, err = _run(
        capsys, "sweep", "--ohlcv", str(btc_csv), "--strategy-file", str(EMA_CROSS),
        "--params-file", str(bad), "--out", str(out_csv),
    )  # fmt: skip
    assert status == 2 and str(EMA_CROSS.resolve()) in err


def test_replay_with_a_strategy_file_gives_the_backtest_trades(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (
        "--ohlcv", str(shared_data / "market" / "binance_BTCUSDT_1h.csv"),
        "--strategy-file", str(EMA_CROSS), "--param", "fast=5", "--param", "slow=20",
        "--start", "2023-03-01", "--end", "2023-03-06", "--json",
    )  # fmt: skip
    status, out, _ = _run(capsys, "backtest", *args)
    assert status == 0
    backtest = json.loads(out)
    status, out, _ = _run(capsys, "replay", *args)
    assert status == 0
    replay = json.loads(out)
    assert replay["closed_trades"] == backtest["closed_trades"] > 0
    assert replay["trade_hash"] == backtest["trade_hash"]

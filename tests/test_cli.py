"""The ``trading`` console script: in-process through main([...]) and once as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import read_ohlcv_csv, run_backtest
from trading_core.indicators import INDICATOR_COLUMNS, compute_all
from trading_core.strategies import get_strategy
from trading_pipelines.cli import main

REFERENCE_ARGS = [
    "--strategy",
    "macd",
    "--param",
    "fast=30",
    "--param",
    "slow=60",
    "--param",
    "signal=15",
    "--fee",
    "0.001",
    "--fill",
    "close",
    "--start",
    "2025-01-06",
    "--end",
    "2026-01-05",
]


@pytest.fixture(scope="module")
def xrp_1d(shared_data: Path) -> Path:
    return shared_data / "market" / "binance_XRPUSDT_1d.csv"


def test_indicators_writes_every_default_column_and_keeps_the_timestamp_text(
    xrp_1d: Path, tmp_path: Path
) -> None:
    out = tmp_path / "nested" / "indicators.csv"
    assert main(["indicators", "--ohlcv", str(xrp_1d), "--out", str(out)]) == 0
    written = pd.read_csv(out, dtype={"timestamp": str})
    assert list(written.columns) == ["timestamp", *INDICATOR_COLUMNS]
    source = pd.read_csv(xrp_1d, dtype={"timestamp": str})
    assert written["timestamp"].equals(source["timestamp"])  # "2018-05-04T00:00:00Z" as is
    expected = compute_all(read_ohlcv_csv(xrp_1d))
    np.testing.assert_allclose(written[list(INDICATOR_COLUMNS)], expected, rtol=1e-15)


def test_backtest_json_reproduces_the_reference_window(
    xrp_1d: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # STACK.md's reference: the last 365 candles alone, started cold
    args = ["backtest", "--ohlcv", str(xrp_1d), *REFERENCE_ARGS, "--warmup", "cold", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["warmup"], report["warmup_bars"]) == ("cold", 0)
    assert report["first_bar_used"] == "2025-01-06T00:00:00"
    assert report["window"]["history_bars_before_window"] == 0
    assert round(report["total_return"], 3) == 0.471
    assert round(report["buy_and_hold"], 3) == -0.030
    assert (report["entries"], report["closed_trades"]) == (5, 4)
    for key in ("win_rate", "max_drawdown", "sharpe", "trade_hash"):
        assert key in report
    assert report["window"]["start"] == "2025-01-06T00:00:00"
    assert report["window"]["end"] == "2026-01-05T00:00:00"
    assert report["conventions"]["fill"] == "close"
    assert report["conventions"]["taker_fee"] == 0.001


def test_backtest_table_states_window_and_conventions(
    xrp_1d: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trades = tmp_path / "trades.csv"
    args = ["backtest", "--ohlcv", str(xrp_1d), *REFERENCE_ARGS, "--slippage-bps", "5"]
    assert main([*args, "--trades", str(trades)]) == 0
    text = capsys.readouterr().out
    assert "2025-01-06T00:00:00 -> 2026-01-05T00:00:00 (365 bars" in text
    assert "warm-up     auto: 779 bars (complete); first bar used 2022-11-19T00:00:00" in text
    assert "(stops_from=fill)" in text
    assert "slippage 5 bps" in text and "total_return" in text
    assert len(pd.read_csv(trades)) == 5


def test_backtest_warms_up_on_earlier_history_by_default(
    xrp_1d: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's example: MACD(30,60,15), XRPUSDT 1d, 2025-01-06..2026-01-05."""

    def report(*extra: str) -> dict:
        assert main(["backtest", "--ohlcv", str(xrp_1d), *REFERENCE_ARGS, *extra, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    warm, cold, everything = report(), report("--warmup", "cold"), report("--warmup", "all")
    assert warm["warmup"] == "auto" and warm["warmup_complete"] is True
    assert warm["warmup_bars"] == warm["warmup_bars_needed"] == 779
    assert warm["first_bar_used"] == "2022-11-19T00:00:00"
    assert warm["window"]["start"] == "2025-01-06T00:00:00" and warm["window"]["bars"] == 365
    assert round(warm["total_return"], 3) == 0.295  # the issue's +29.5 %
    assert round(cold["total_return"], 3) == 0.471
    assert cold["trade_hash"] != warm["trade_hash"] and cold["trades"] != warm["trades"]
    # warm-up equals a run with all 2,440 earlier bars: the same trades, bit for bit
    assert everything["warmup_bars"] > 2000
    assert everything["trade_hash"] == warm["trade_hash"]
    assert everything["trades"] == warm["trades"]
    assert everything["total_return"] == warm["total_return"]
    assert report("--warmup", "300")["warmup_bars"] == 300


def test_backtest_json_lists_every_trade_next_to_the_hash(
    xrp_1d: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backtest", "--ohlcv", str(xrp_1d), *REFERENCE_ARGS, "--json"]
    assert main([*args, "--fill", "next_open", "--stop-loss", "0.05"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["conventions"]["stops_from"] == "fill"
    trades = report["trades"]
    assert len(trades) == report["closed_trades"] + (report["open_trade"] is not None)
    keys = {
        "entry_ts", "exit_ts", "entry_price", "exit_price", "quantity", "entry_value", "fee",
        "pnl", "return", "entry_reason", "exit_reason", "holding_bars", "holding_period",
        "mfe", "mae", "entry_conditions",
    }  # fmt: skip
    for trade in trades:
        assert keys <= set(trade)
        assert trade["entry_ts"].endswith("+00:00")
        assert trade["mfe"] >= 0 >= trade["mae"]
        assert trade["entry_conditions"]["regime"] != "unknown"
    assert {t["exit_reason"] for t in trades[:-1]} >= {"stop_loss"}
    closed = [t for t in trades if t["exit_ts"] is not None]
    assert sum(t["pnl"] for t in closed) == pytest.approx(
        report["expectancy"] * report["closed_trades"]
    )


def test_sweep_writes_one_row_per_parameter_set(
    xrp_1d: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params.csv"
    params.write_text("fast,slow,signal\n30,60,15\n12,26,9\n")
    out = tmp_path / "results.csv"
    args = ["sweep", "--ohlcv", str(xrp_1d), "--strategy", "macd", "--params-file", str(params)]
    extra = ["--fee", "0.001", "--fill", "close", "--start", "2025-01-06", "--out", str(out)]
    assert main([*args, *extra, "--warmup", "cold"]) == 0
    captured = capsys.readouterr()
    assert "wrote 2 scenarios" in captured.out
    assert "scenario/s" not in captured.err  # no progress bar when stderr is not a terminal
    results = pd.read_csv(out)
    assert list(results.columns[:3]) == ["fast", "slow", "signal"]
    assert results.loc[0, "total_return"] == pytest.approx(0.4712172832260402, rel=1e-12)
    bars = read_ohlcv_csv(xrp_1d).iloc[-365:]
    single = run_backtest(bars, get_strategy("macd", {"fast": 12, "slow": 26, "signal": 9}))
    assert results.loc[1, "total_return"] == pytest.approx(single.metrics["total_return"])


def test_sweep_warms_up_like_backtest(
    xrp_1d: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = tmp_path / "params.csv"
    params.write_text("fast,slow,signal\n30,60,15\n12,26,9\n")
    out = tmp_path / "results.csv"
    args = ["sweep", "--ohlcv", str(xrp_1d), "--strategy", "macd", "--params-file", str(params)]
    window = ["--start", "2025-01-06", "--end", "2026-01-05"]
    assert main([*args, *window, "--stops-from", "next", "--out", str(out)]) == 0
    assert "stops_from=next, warmup=auto, window from 2025-01-06" in capsys.readouterr().out
    results = pd.read_csv(out)
    for row in results.itertuples():
        params_args = [f"--param=fast={row.fast}", f"--param=slow={row.slow}"]
        params_args.append(f"--param=signal={row.signal}")
        backtest = ["backtest", "--ohlcv", str(xrp_1d), "--strategy", "macd", *params_args]
        assert main([*backtest, *window, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert row.total_return == pytest.approx(report["total_return"], rel=1e-12)
    assert round(results.loc[0, "total_return"], 3) == 0.295


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'; allowed: ['arbitrage', 'composite'"),
        (["--strategy", "macd", "--param", "fats=3"], "fats: unknown parameter; allowed: fast"),
        (["--strategy", "macd", "--param", "fast"], "--param 'fast': expected NAME=VALUE"),
        (["--strategy", "macd", "--fee", "-1"], "--fee: Input should be greater than or equal"),
        (["--strategy", "macd", "--start", "2030-01-01"], "no bars between 2030-01-01"),
        (["--strategy", "macd", "--warmup", "-3"], "warmup must be >= 0 bars, got -3"),
        (["--strategy", "macd", "--warmup", "warm"], "warmup must be auto, cold, all or an"),
        (["--strategy", "macd", "--warmup", "1.5"], "warmup must be auto, cold, all or an"),
        (["--strategy", "macd", "--stops-from", "later"], "invalid choice: 'later'"),
    ],
)
def test_backtest_errors_are_one_clear_line(
    xrp_1d: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--ohlcv", str(xrp_1d), *args]) == 2
    assert message in capsys.readouterr().err


def test_unreadable_csv_names_the_file_and_the_expected_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "prices.csv"
    bad.write_text("time,price\n2025-01-01,1\n")
    assert main(["indicators", "--ohlcv", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "expected header timestamp,open,high,low,close,volume" in err
    missing = tmp_path / "absent.csv"
    assert main(["backtest", "--ohlcv", str(missing), "--strategy", "macd"]) == 2
    assert f"cannot read {missing}" in capsys.readouterr().err


def test_bad_fill_convention_lists_the_choices(
    xrp_1d: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--ohlcv", str(xrp_1d), "--strategy", "macd", "--fill", "mid"]) == 2
    assert "invalid choice: 'mid' (choose from 'close', 'next_open')" in capsys.readouterr().err


def test_control_is_delegated_to_the_executor_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    control = pytest.importorskip("executor.control")
    seen: list[list[str]] = []
    monkeypatch.setattr(control, "main", lambda argv: seen.append(argv) or 7)
    assert main(["control", "close-position", "BTC/USDT", "--reason", "test"]) == 7
    assert seen == [["close-position", "BTC/USDT", "--reason", "test"]]


def test_cli_module_does_not_import_dagster() -> None:
    code = "import sys, trading_pipelines.cli; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_installed_console_script(xrp_1d: Path) -> None:
    script = Path(sys.executable).parent / "trading"
    assert script.is_file(), "run `uv sync` to install the trading console script"
    run = subprocess.run(
        [str(script), "backtest", "--ohlcv", str(xrp_1d), *REFERENCE_ARGS, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    # warmed up on the earlier history by default (the issue's +29.5 %; +47.1 % cold)
    assert (report["warmup"], report["warmup_bars"]) == ("auto", 779)
    assert round(report["total_return"], 3) == 0.295

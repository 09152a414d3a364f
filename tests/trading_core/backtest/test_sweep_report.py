"""The sweep table and ``trading sweep``: convention columns, gaps, the min-trades guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
from trading_core.backtest.sweep import SWEEP_METRICS
from trading_core.backtest.sweep_report import CONVENTION_COLUMNS, find_gaps, sweep_table
from trading_core.strategies import get_strategy
from trading_pipelines.cli import main


@pytest.fixture(scope="module")
def xrp_1h(shared_data: Path) -> pd.DataFrame:
    return read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1h.csv")


def test_gaps_match_the_manifest_of_the_real_series(shared_data: Path, xrp_1h) -> None:
    # MANIFEST.md: XRPUSDT 1h 25 gaps / 88 missing candles, 4h 7 / 9, 1d none
    assert find_gaps(xrp_1h["ts"])[:2] == (25, 88)
    four = read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_4h.csv")
    assert find_gaps(four["ts"])[:2] == (7, 9)
    daily = read_ohlcv_csv(shared_data / "market" / "binance_XRPUSDT_1d.csv")
    assert tuple(find_gaps(daily["ts"])) == (0, 0, 0)
    ts = pd.Series(pd.to_datetime([f"2024-01-01 {h:02d}:00" for h in (0, 1, 2, 3, 4, 8, 10)]))
    assert tuple(find_gaps(ts)) == (2, 4, 3)
    assert tuple(find_gaps(ts.iloc[:1])) == (0, 0, 0)


def test_table_states_window_conventions_warmup_gaps_and_flags(xrp_1h: pd.DataFrame) -> None:
    bars = xrp_1h.iloc[-3000:].reset_index(drop=True)
    config = BacktestConfig(
        fill="next_open", stops_from="next", fee=0.002, maker_fee=0.001, slippage_bps=4,
        take_profit_pct=0.05, warmup="auto",
    )  # fmt: skip
    params = pd.DataFrame(
        {
            "fast": [12, 30, 12],
            "slow": [26, 70, 26],
            "signal": [9, 20, 9],
            "stop_loss": [0.03, None, 0.03],
        }
    )
    start = 1000
    table = sweep_table(bars, "macd", params, config, start=start, min_trades=40)
    assert list(table.columns) == ["fast", "slow", "signal", *SWEEP_METRICS, *CONVENTION_COLUMNS]
    assert len(table) == 3  # duplicates kept
    first = table.iloc[0]
    assert first["window_start"] == bars["ts"].iloc[start].isoformat()
    assert first["window_end"] == bars["ts"].iloc[-1].isoformat()
    assert first["window_bars"] == len(bars) - start
    assert (first["fill"], first["stops_from"], first["fee"], first["maker_fee"]) == (
        "next_open", "next", 0.002, 0.001,
    )  # fmt: skip
    assert table["stop_loss"][0] == 0.03 and np.isnan(table["stop_loss"][1])
    assert (table["take_profit"] == 0.05).all() and table["trailing_stop"].isna().all()
    needed = max(get_strategy("macd", {"fast": 30, "slow": 70, "signal": 20}).warmup_bars, 0)
    assert first["warmup"] == "auto" and first["warmup_bars_needed"] == needed
    assert first["warmup_bars"] == min(needed, start)
    expected = find_gaps(bars["ts"].iloc[start:])
    assert (first["gaps"], first["missing_candles"], first["largest_gap_candles"]) == tuple(
        expected
    )
    assert (table["too_few_trades"] == (table["closed_trades"] < 40)).all()
    assert table["too_few_trades"].any() and not table["too_few_trades"].all()
    # the numbers are the backtester's, window and warm-up included
    trade_from = bars["ts"].iloc[start]
    for i in (0, 1):
        row = params.iloc[i]
        cfg = config.model_copy(
            update={"stop_loss_pct": None if pd.isna(row.stop_loss) else row.stop_loss}
        )
        strat = get_strategy("macd", {"fast": row.fast, "slow": row.slow, "signal": row.signal})
        metrics = run_backtest(bars, strat, cfg, trade_from, journal=False).metrics
        for key in ("total_return", "max_drawdown", "sharpe"):
            np.testing.assert_allclose(table.iloc[i][key], metrics[key], rtol=1e-9)
        assert table.iloc[i]["entries"] == metrics["entries"]


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_min_trades_must_be_a_non_negative_integer(xrp_1h: pd.DataFrame, value: object) -> None:
    params = pd.DataFrame({"fast": [12], "slow": [26], "signal": [9]})
    with pytest.raises(ValueError, match="min_trades must be"):
        sweep_table(xrp_1h.iloc[-500:], "macd", params, min_trades=value)  # type: ignore[arg-type]


def test_empty_parameter_table_is_an_error(xrp_1h: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="params has no rows"):
        sweep_table(xrp_1h.iloc[-500:], "macd", pd.DataFrame({"fast": []}))


def _write_bars(bars: pd.DataFrame, path: Path) -> Path:
    out = bars.rename(columns={"ts": "timestamp"})[
        ["timestamp", "open", "high", "low", "close", "volume"]
    ]
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)
    return path


def test_cli_sweep_contract_with_exit_rules(
    xrp_1h: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = xrp_1h.iloc[-4000:].reset_index(drop=True)
    ohlcv = _write_bars(bars, tmp_path / "bars.csv")
    params = tmp_path / "params.csv"
    pd.DataFrame({"fast": [12, 5], "slow": [26, 35], "signal": [9, 5]}).to_csv(params, index=False)
    out = tmp_path / "results.csv"
    code = main(
        [
            "sweep", "--ohlcv", str(ohlcv), "--strategy", "macd", "--params-file", str(params),
            "--fee", "0.001", "--fill", "close", "--stop-loss", "0.03", "--take-profit", "0.06",
            "--trailing-stop", "0.04", "--slippage-bps", "5", "--min-trades", "1000",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    table = pd.read_csv(out)
    for column in ("fast", "slow", "signal", "total_return", "entries", "max_drawdown", "sharpe"):
        assert column in table.columns
    assert set(CONVENTION_COLUMNS) <= set(table.columns)
    assert (table["stop_loss"] == 0.03).all() and (table["trailing_stop"] == 0.04).all()
    assert (table["slippage_bps"] == 5).all() and table["too_few_trades"].all()
    config = BacktestConfig(
        stop_loss_pct=0.03, take_profit_pct=0.06, trailing_stop_pct=0.04, slippage_bps=5,
        warmup="auto",
    )  # fmt: skip
    metrics = run_backtest(
        bars, get_strategy("macd", {"fast": 12, "slow": 26, "signal": 9}), config
    ).metrics
    np.testing.assert_allclose(table.loc[0, "total_return"], metrics["total_return"], rtol=1e-9)
    assert table.loc[0, "entries"] == metrics["entries"]
    printed = capsys.readouterr()
    assert "wrote 2 scenarios" in printed.out and "2 rows with fewer than 1000" in printed.out
    assert "gaps" in printed.err or table.loc[0, "gaps"] == 0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--stop-loss", "1.5", "--stop-loss"),
        ("--trailing-stop", "-0.1", "--trailing-stop"),
        ("--take-profit", "0", "--take-profit"),
        ("--slippage-bps", "-3", "--slippage-bps"),
    ],
)
def test_cli_sweep_rejects_bad_exit_rules_naming_the_flag(
    xrp_1h: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    message: str,
) -> None:
    ohlcv = _write_bars(xrp_1h.iloc[-300:], tmp_path / "bars.csv")
    params = tmp_path / "params.csv"
    pd.DataFrame({"fast": [12], "slow": [26], "signal": [9]}).to_csv(params, index=False)
    code = main(
        [
            "sweep", "--ohlcv", str(ohlcv), "--strategy", "macd", "--params-file", str(params),
            flag, value, "--out", str(tmp_path / "r.csv"),
        ]
    )  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()

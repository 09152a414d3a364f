"""``trading backtest --config FILE --data-dir DIR --json``: the JSON contract on the real
candles of ../shared/data/market, determinism, and the single-strategy path unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from trading_pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "portfolio.yaml"
EXIT_REASONS = (
    "stop_loss", "atr_stop", "time_stop", "take_profit", "take_profit_1", "take_profit_2",
    "take_profit_3", "trailing_stop", "signal", "capital_preservation", "force_exit",
)  # fmt: skip
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
WINDOW = ["--start", "2022-01-01", "--end", "2022-06-30"]
TRADE_KEYS = {
    "instance",
    "symbol",
    "entry_ts",
    "exit_ts",
    "entry_price",
    "exit_price",
    "quantity",
    "entry_value",
    "equity_at_entry",
    "tier",
    "size_multiplier",
    "exit_reason",
    "pnl",
    "exits",
}


@pytest.fixture(scope="module")
def market() -> Path:
    folder = (ROOT / ".." / "shared" / "data" / "market").resolve()
    assert folder.is_dir(), f"../shared/data/market is missing: {folder}"
    return folder


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert main(["backtest", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def report_text(market: Path) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["backtest", "--config", str(EXAMPLE), "--data-dir", str(market), *WINDOW, "--json"]
        )
    assert code == 0
    return out.getvalue()


def test_example_backtests_with_the_json_contract(report_text: str, market: Path) -> None:
    report = json.loads(report_text)
    assert set(report) >= {"portfolio", "instances", "events", "trades"}
    for block in (report["portfolio"], *report["instances"].values()):
        assert {"total_return", "max_drawdown", "sharpe", "trades"} <= set(block)
        assert isinstance(block["trades"], int)
    assert set(report["instances"]) == {
        "btc-macd-conservative",
        "eth-macd-aggressive",
        "ada-macd-balanced",
        "xrp-grid",
        "btc-eth-swing",
    }
    assert report["portfolio"]["trades"] == len(report["trades"])
    assert sum(m["trades"] for m in report["instances"].values()) == len(report["trades"])
    assert report["data"]["btc-macd-conservative"] == {"BTC/USDT": "binance_BTCUSDT_4h.csv"}
    assert report["trades"], "six months of five instances trade"
    for trade in report["trades"]:
        assert set(trade) >= TRADE_KEYS
        assert trade["tier"] in (1, 2, 3, 4)
        assert ISO.match(trade["entry_ts"])
        assert trade["exit_ts"] is None or ISO.match(trade["exit_ts"])
        assert "2022-01-01" <= trade["entry_ts"] <= "2022-07-01T00:00:00Z"
        # <= 1.2: the high-win-rate boost (adaptive.high_win_multiplier)
        assert trade["equity_at_entry"] > 0 and 0 < trade["size_multiplier"] <= 1.2
        if trade["exit_ts"] is not None:
            assert sum(x["quantity"] for x in trade["exits"]) == pytest.approx(trade["quantity"])
            assert trade["pnl"] == pytest.approx(
                sum(x["pnl"] for x in trade["exits"]) - trade["entry_fee"]
            )
    for event in report["events"]:
        assert set(event) == {"ts", "kind", "instance", "detail"} and ISO.match(event["ts"])
    kinds = {e["kind"] for e in report["events"]}
    assert "drawdown_stage" in kinds
    assert "streak_phase" in kinds  # issue 13's losing streaks, on by default
    assert kinds <= {
        "tier_change", "drawdown_stage", "capital_preservation_start",
        "capital_preservation_end", "size_restored", "positions_closed", "entry_refused",
        "streak_phase", "lock",
    }  # fmt: skip
    reasons = {t["exit_reason"] for t in report["trades"]} - {None}
    assert reasons and reasons <= set(EXIT_REASONS)
    for trade in report["trades"]:
        for fill in trade["exits"]:
            assert fill["reason"] in EXIT_REASONS


def test_the_same_run_twice_gives_the_same_bytes(
    report_text: str, market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        main(["backtest", "--config", str(EXAMPLE), "--data-dir", str(market), *WINDOW, "--json"])
        == 0
    )
    assert capsys.readouterr().out == report_text


def test_preservation_and_review_on_real_data(
    tmp_path: Path, market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 2022 ETH crash through a tight protocol: every stage, preservation, the review."""
    tree = yaml.safe_load(EXAMPLE.read_text())
    tree["strategies"] = [s for s in tree["strategies"] if s["id"] == "eth-macd-aggressive"]
    tree["strategies"][0]["allocation"] = 1.0
    tree["strategies"][0]["risk"] = {
        "position_fraction": 1.0,
        "stop_loss_pct": 0.5,
        "take_profit_pct": None,
        "paused_from_stage": 4,
    }
    tree["protocol"]["tiers"] = [
        {"floor": 0, "risk_per_trade": 0.02, "max_position": 1.0, "max_positions": 3}
    ]
    tree["protocol"]["allocation"] = {"assets": {}}
    # The drawdown rule alone: the streak and win-rate cuts would shrink the fall below 20 %.
    tree["protocol"]["streaks"] = {"enabled": False}
    tree["protocol"]["adaptive"] = {"enabled": False}
    file = tmp_path / "tight.yaml"
    file.write_text(yaml.safe_dump(tree))
    report = run_json(capsys, "--config", str(file), "--data-dir", str(market), *WINDOW)
    kinds = [e["kind"] for e in report["events"]]
    assert "capital_preservation_start" in kinds and "capital_preservation_end" in kinds
    start = kinds.index("capital_preservation_start")
    assert kinds.index("capital_preservation_end") > start
    stages = [e["detail"]["to"] for e in report["events"] if e["kind"] == "drawdown_stage"]
    assert {1, 2, 3, 4} <= set(stages)
    assert any(t["exit_reason"] == "capital_preservation" for t in report["trades"])
    after = [t for t in report["trades"] if t["entry_ts"] > report["events"][start]["ts"]]
    assert after and after[0]["size_multiplier"] == 0.25


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--fee", "0.002"], "--fee cannot be combined with --config"),
        (["--strategy", "macd"], "--strategy cannot be combined"),
        (["--warmup", "cold"], "--warmup cold cannot be combined"),
    ],
)
def test_single_strategy_flags_are_refused_with_config(
    extra: list[str], words: str, market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backtest", "--config", str(EXAMPLE), "--data-dir", str(market), *extra]
    assert main(args) == 2
    assert words in capsys.readouterr().err


def test_missing_inputs_are_one_clear_line(
    tmp_path: Path, market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--config", str(EXAMPLE)]) == 2
    assert "--config needs --data-dir" in capsys.readouterr().err
    assert main(["backtest", "--json"]) == 2
    assert "required: --ohlcv, --strategy" in capsys.readouterr().err
    assert main(["backtest", "--config", str(EXAMPLE), "--data-dir", str(tmp_path)]) == 2
    assert "no candles for sim BTC/USDT 4h" in capsys.readouterr().err
    assert (
        main(
            [
                "backtest",
                "--config",
                str(EXAMPLE),
                "--data-dir",
                str(market),
                "--start",
                "yesterday-ish",
            ]
        )
        == 2
    )
    assert "yesterday-ish" in capsys.readouterr().err
    end_first = ["--start", "2022-02-01T00:00:00+00:00", "--end", "2022-01-01"]
    assert main(["backtest", "--config", str(EXAMPLE), "--data-dir", str(market), *end_first]) == 2
    assert "before --start" in capsys.readouterr().err


def test_single_strategy_backtest_is_unchanged(
    market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --config the command is the single-strategy one, output included."""
    from trading_core.backtest import BacktestConfig, read_ohlcv_csv, run_backtest
    from trading_core.strategies import get_strategy

    csv = market / "binance_XRPUSDT_1d.csv"
    report = run_json(
        capsys,
        "--ohlcv",
        str(csv),
        "--strategy",
        "macd",
        "--param",
        "fast=30",
        "--param",
        "slow=60",
        "--param",
        "signal=15",
    )
    direct = run_backtest(
        read_ohlcv_csv(csv),
        get_strategy("macd", {"fast": 30, "slow": 60, "signal": 15}),
        BacktestConfig(warmup="auto"),
    )
    assert report["trade_hash"] == direct.trade_hash
    assert "portfolio" not in report


def test_issue_13_exits_and_locks_on_real_data(
    tmp_path: Path, market: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tiered take-profits (partial exits), a time stop and stop cooldowns on six months."""
    tree = yaml.safe_load(EXAMPLE.read_text())
    tree["protocol"]["exits"] = {
        "take_profit": {"enabled": True},
        "time_stop": {"hours": 96, "min_move": 0.01},
    }
    tree["protocol"]["protections"] = {"rules": [{"method": "cooldown", "stop_duration": 240}]}
    file = tmp_path / "rules.yaml"
    file.write_text(yaml.safe_dump(tree))
    report = run_json(capsys, "--config", str(file), "--data-dir", str(market), *WINDOW)
    fills = [x["reason"] for t in report["trades"] for x in t["exits"]]
    assert "take_profit_1" in fills and "time_stop" in fills
    assert "take_profit" not in fills  # the tiers replace the single target
    locks = [e for e in report["events"] if e["kind"] == "lock"]
    assert locks and all(e["detail"]["rule"] == "cooldown" for e in locks)
    assert all(e["detail"]["until"].endswith(":00:00Z") for e in locks)  # bar boundaries
    for trade in report["trades"]:
        if trade["exit_ts"] is not None:
            assert sum(x["quantity"] for x in trade["exits"]) == pytest.approx(trade["quantity"])
            assert trade["exit_reason"] == trade["exits"][-1]["reason"]

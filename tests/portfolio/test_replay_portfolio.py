"""`trading replay --config FILE --data-dir DIR`: the portfolio through the live path (the
strategy asset's decision, the ledger, the executor's engine with the protocol gate, the
paper broker) against `trading backtest --config` on a small scenario of real Binance 1h
candles (../shared/data): three instances, two of them on the same symbol.

Every position matches on instance, symbol, entry and exit instants, exit reason, tier and
size multiplier. The known differences, and why (``portfolio.DIFFERENCES`` for the rest):
- quantities (below 1 %): the protocol sizes from the account's equity, which the engine
  marks at each instant's close after the fills while the backtester marks at each lane's last
  close and after the earlier entries of the same instant paid their fee; and the paper
  market floors a quantity to its lot step (1e-8), the backtester does not;
- P&L: those quantities, a few cents on positions of tens of dollars.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trading_core.config import load_config
from trading_core.config_portfolio import instances_of
from trading_core.portfolio_backtest.data import load_instances
from trading_core.portfolio_backtest.engine import run_portfolio
from trading_core.portfolio_backtest.report import build_report
from trading_pipelines.cli import main
from trading_pipelines.replay.portfolio import run_portfolio_replay

pytestmark = pytest.mark.integration  # about 20 s: one engine tick per instant and more

START, END = "2022-01-02", "2022-01-05"
SAME = ("instance", "symbol", "entry_ts", "exit_ts", "exit_reason", "tier", "size_multiplier")
CONFIG = {
    "market": {"source": "sim", "exchanges": ["sim"], "symbols": ["BTC/USDT", "ETH/USDT"],
               "timeframes": ["1h"]},
    "strategy": {"name": "macd", "timeframe": "1h"},
    "executor": {"mode": "paper", "exchange": "sim", "starting_cash": 1000},
    "fees": {"taker": 0.001, "maker": 0.001, "slippage_bps": 0},
    "strategies": [
        {"id": "btc-low", "strategy": "macd", "params": {"fast": 12, "slow": 26, "signal": 9},
         "exchange": "sim", "symbols": ["BTC/USDT"], "timeframe": "1h", "risk_profile": "low",
         "allocation": 0.4},
        {"id": "btc-fast", "strategy": "macd", "params": {"fast": 8, "slow": 21, "signal": 5},
         "exchange": "sim", "symbols": ["BTC/USDT"], "timeframe": "1h", "risk_profile": "high",
         "allocation": 0.3},
        {"id": "eth-medium", "strategy": "macd", "exchange": "sim", "symbols": ["ETH/USDT"],
         "timeframe": "1h", "risk_profile": "medium", "allocation": 0.3},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, Path]:
    """A data directory of the scenario's candles (copied out of ../shared/data into a
    temporary directory: 40 days, the indicators' warm-up included) and its config."""
    root = tmp_path_factory.mktemp("replay-portfolio")
    data = root / "market"
    data.mkdir()
    for pair in ("BTCUSDT", "ETHUSDT"):
        frame = pd.read_csv(shared_data / "market" / f"binance_{pair}_1h.csv")
        ts = pd.to_datetime(frame["timestamp"], utc=True)
        keep = (ts >= "2021-11-25") & (ts < END + "T12:00")
        frame[keep].to_csv(data / f"binance_{pair}_1h.csv", index=False)
    config = root / "portfolio.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    return config, data


@pytest.fixture(scope="module")
def reports(scenario) -> tuple[dict, dict]:
    config_path, data = scenario
    config = load_config(config_path)
    replayed = run_portfolio_replay(config, data, START, END)
    instances = instances_of(config)
    bars, used = load_instances(data, instances)
    run = run_portfolio(instances, bars, config.protocol, config.fees, 1000.0, start=START, end=END)
    return replayed, json.loads(json.dumps(build_report(run, used)))


def test_the_replay_has_the_keys_of_the_portfolio_backtest(reports) -> None:
    replayed, backtest = reports
    assert sorted(replayed) == sorted(backtest)
    assert sorted(replayed["portfolio"]) == sorted(backtest["portfolio"])
    assert sorted(replayed["instances"]) == ["btc-fast", "btc-low", "eth-medium"]
    for iid, metrics in replayed["instances"].items():
        assert sorted(metrics) == sorted(backtest["instances"][iid])
    assert sorted(replayed["trades"][0]) == sorted(backtest["trades"][0])
    assert replayed["window"] == backtest["window"]


def test_the_replay_takes_the_backtests_decisions(reports) -> None:
    replayed, backtest = reports
    assert len(backtest["trades"]) >= 5  # a scenario with something to compare
    assert [[t[k] for k in SAME] for t in replayed["trades"]] == [
        [t[k] for k in SAME] for t in backtest["trades"]
    ]
    assert {t["instance"] for t in replayed["trades"]} >= {"btc-low", "btc-fast"}
    for live, bt in zip(replayed["trades"], backtest["trades"], strict=True):
        assert live["quantity"] == pytest.approx(bt["quantity"], rel=1e-2)
        assert live["entry_price"] == pytest.approx(bt["entry_price"], rel=1e-12)
        assert live["pnl"] == pytest.approx(bt["pnl"], rel=0.02, abs=0.05)
    for iid, metrics in replayed["instances"].items():
        assert metrics["trades"] == backtest["instances"][iid]["trades"]
    assert replayed["portfolio"]["total_return"] == pytest.approx(
        backtest["portfolio"]["total_return"], abs=2e-3
    )


def test_the_cli_prints_the_replay_as_json(scenario, capsys) -> None:
    config, data = scenario
    args = ["replay", "--config", str(config), "--data-dir", str(data), "--json"]
    assert main([*args, "--start", "2022-01-04", "--end", END]) == 0
    first = capsys.readouterr().out
    report = json.loads(first)
    assert report["conventions"]["protocol"] == "on"
    assert report["window"]["start"].startswith("2022-01-04")
    assert main([*args, "--start", "2022-01-04", "--end", END]) == 0
    assert capsys.readouterr().out == first  # the same run twice: the same bytes


def test_the_cli_refuses_what_the_configuration_decides(scenario, capsys) -> None:
    config, data = scenario
    assert main(["replay", "--config", str(config)]) == 2
    assert "--config needs --data-dir" in capsys.readouterr().err
    assert main(["replay", "--config", str(config), "--data-dir", str(data), "--fee", "0.01"]) == 2
    assert "--fee cannot be combined with --config" in capsys.readouterr().err
    assert main(["replay", "--json"]) == 2
    assert "required: --ohlcv, --strategy" in capsys.readouterr().err
    bad = ["replay", "--config", str(config), "--data-dir", str(data / "missing")]
    assert main(bad) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["replay", "--config", str(config), "--data-dir", str(data),
                 "--start", END, "--end", START]) == 2  # fmt: skip
    assert "is after --end" in capsys.readouterr().err

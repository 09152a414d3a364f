"""``market.spike_confirm_bars`` and ``market.timestamp_unit``: validated at load time (a bad
value names the field and the allowed values) and wired into the spike hold and the replay
reader."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from trading_core.config import ConfigError, MarketConfig, load_config
from trading_core.market.factory import make_market_source
from trading_core.market.replay import ReplayMarket
from trading_core.quality.spike_policy import spike_policy_of


def load(tmp_path: Path, market: dict) -> MarketConfig:
    file = tmp_path / "conf.yaml"
    file.write_text(yaml.safe_dump({"market": market}))
    return load_config(file, environ={"TRADING_HOME": str(tmp_path)}).market


def test_the_defaults_keep_the_policy_and_detect_the_unit(tmp_path: Path) -> None:
    cfg = load(tmp_path, {})
    assert cfg.spike_confirm_bars == 2 and cfg.timestamp_unit is None
    policy = spike_policy_of(cfg)
    assert (policy.confirm_bars, policy.max_abs_log_move) == (2, 0.25)


@pytest.mark.parametrize("value", [0, -1, 101, 10**12, 2.5, True, "two", None, [2]])
def test_a_bad_confirm_bars_names_the_field_and_the_range(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"spike_confirm_bars": value})
    message = str(err.value)
    assert "market.spike_confirm_bars" in message
    assert any(hint in message for hint in ("1 to 100", "100", "integer")), message


@pytest.mark.parametrize("value", ["sec", "S", "", "milliseconds", 1000, True, ["ms"]])
def test_a_bad_timestamp_unit_names_the_field_and_the_units(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"timestamp_unit": value})
    message = str(err.value)
    assert "market.timestamp_unit" in message
    assert "'iso'" in message and "'ns'" in message, message


def test_confirm_bars_reach_the_spike_hold(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"spike_confirm_bars": 5, "max_abs_log_return": 0.4})
    policy = spike_policy_of(cfg)
    assert (policy.confirm_bars, policy.max_abs_log_move) == (5, 0.4)


def test_a_declared_unit_reaches_the_replay_reader(tmp_path: Path) -> None:
    """One file in epoch seconds: detected by default; declared milliseconds, every line is
    rejected alone as not the declared unit, never read as 1970 times."""
    replay = tmp_path / "replay"
    replay.mkdir()
    rows = [f"{1685577600 + 3600 * i},1,2,0.5,1.5,3" for i in range(3)]
    (replay / "binance_BTCUSDT_1h.csv").write_text(
        "timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n"
    )

    def source(**unit: str) -> ReplayMarket:
        cfg = MarketConfig(
            source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
            replay_dir=replay, start_date=date(2023, 1, 1), **unit,
        )  # fmt: skip
        made = make_market_source(cfg)
        assert isinstance(made, ReplayMarket)
        return made

    detected = source().candles("binance", "BTC/USDT", "1h")
    assert str(detected["ts"].iloc[0]) == "2023-06-01 00:00:00" and len(detected) == 3
    declared = source(timestamp_unit="s").candles("binance", "BTC/USDT", "1h")
    assert list(declared["ts"]) == list(detected["ts"])
    with pytest.raises(Exception, match="none of its 3 lines"):
        source(timestamp_unit="ms").candles("binance", "BTC/USDT", "1h")

"""``trading backtest --alt-data DIR``: the alternative columns reach the strategy point in
time and the JSON reports ``alt_data`` per source."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.alt_data.helpers import hash_rate, hash_rate_csv, hourly_bars, rss
from trading_pipelines.cli import main
from trading_pipelines.cli.alt_data import infer_asset


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    bars = hourly_bars(24 * 25)
    csv = tmp_path / "binance_BTCUSDT_1h.csv"
    bars.rename(columns={"ts": "timestamp"}).to_csv(csv, index=False)
    alt = tmp_path / "alt"
    (alt / "news").mkdir(parents=True)
    (alt / "onchain").mkdir()
    listed = bars["ts"].iloc[24 * 15] + pd.Timedelta(minutes=5)
    rss(
        alt / "news" / "feed.xml",
        [
            ("l1", "Big exchange lists Bitcoin futures", "BTC listed", listed),
            ("l2", "Another listing of BTC", "", bars["ts"].iloc[10]),  # before the window
        ],
    )
    hash_rate_csv(alt / "onchain" / "blockchaincom_btc_hash_rate.csv", hash_rate(20))
    return csv, alt, bars


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_alt_data_counts_and_a_news_driven_trade(setup, capsys, tmp_path: Path) -> None:
    csv, alt, bars = setup
    start = str(bars["ts"].iloc[24 * 12])
    common = ["backtest", "--ohlcv", str(csv), "--strategy", "composite", "--start", start,
              "--param", 'weights={"news": 1.0}', "--fill", "close", "--json"]  # fmt: skip
    doc = _run(capsys, [*common, "--alt-data", str(alt), "--trades", str(tmp_path / "t.csv")])
    # one listing in the decisions' window (not the older one); the 30 days behind the
    # on-chain z-score of the first decision, and every later day
    assert {k: v for k, v in doc["alt_data"].items() if k != "onchain"} == {
        "reddit": 0, "x": 0, "news": 1
    }  # fmt: skip
    assert 30 <= doc["alt_data"]["onchain"] <= 40
    entry = (doc["trades"][0] if doc["trades"] else doc["open_trade"])["entry_ts"]
    assert pd.Timestamp(entry).tz_localize(None) == bars["ts"].iloc[24 * 15]  # its hour's bar
    later = _run(capsys, [*common, "--alt-data", str(alt), "--start", str(bars["ts"].iloc[-30])])
    # past the 24h news window and the 192h sentiment look-back of the item
    assert later["alt_data"]["news"] == 0 and later["trades"] == []
    plain = _run(capsys, [c.replace('"news"', '"rsi"') for c in common])
    assert plain["alt_data"] == {"reddit": 0, "x": 0, "news": 0, "onchain": 0}


def test_bad_alt_data_is_a_user_error(setup, capsys, tmp_path: Path) -> None:
    csv, _, _ = setup
    base = ["backtest", "--ohlcv", str(csv), "--strategy", "composite"]
    odd = tmp_path / "candles.csv"
    odd.write_text(csv.read_text())
    for argv, message in (
        ([*base, "--alt-data", str(tmp_path / "nope")], "is not a directory"),
        ([*base, "--alt-data", str(tmp_path)], "has none of the sub-directories"),
        (["backtest", "--ohlcv", str(odd), "--strategy", "composite", "--alt-data",
          str(tmp_path / "alt")], "--alt-asset: cannot tell the base asset"),
    ):  # fmt: skip
        assert main(argv) == 2
        assert message in capsys.readouterr().err
    assert infer_asset(Path("binance_XRPUSDTPERP_5m.csv")) == "XRP"
    assert infer_asset(Path("ETHBTC_1d.csv")) == "ETH"

"""raw/ohlcv on REAL Binance candles corrupted in the test: every corruption is caught by a
named check and quarantined with its reason (raw.ohlcv_quarantine), never dropped; a file is
refused only when it cannot be read at all; a 10x spike is held out of the signals until an
operator releases it (``trading data release``)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from assets.ingest.prices import build_ohlcv_asset
from tests.assets.conftest import market_resource, run, table
from trading_pipelines.cli import main as trading
from trading_pipelines.partitions import market_partitions

FILE = "binance_BTCUSDT_1h.csv"
HEADER = "timestamp,open,high,low,close,volume"


def real_lines(shared_data: Path, first: str, days: int) -> list[str]:
    """The real file's lines (text untouched) of ``days`` days from ``first``."""
    wanted = {d.date().isoformat() for d in pd.date_range(first, periods=days, freq="D")}
    text = (shared_data / "market" / FILE).read_text().splitlines()
    return [line for line in text[1:] if line[:10] in wanted]


def write(folder: Path, lines: list[str], newline_at_end: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = "\n".join([HEADER, *lines]) + ("\n" if newline_at_end else "")
    (folder / FILE).write_text(body)


def ingest(home: Path, warehouse, keys: list[str]):
    market = market_resource(
        source="replay", exchanges=["binance"], symbols=["BTC/USDT"], timeframes=["1h"],
        replay_dir=str(home / "replay"), start_date=date(2023, 1, 1),
    )  # fmt: skip
    asset = build_ohlcv_asset(market_partitions(market.market_config()))
    return run(asset, {"market": market, "warehouse": warehouse}, keys)


def keys(first: str, days: int) -> list[str]:
    return [f"{d.date().isoformat()}|BTC-USDT" for d in pd.date_range(first, periods=days)]


def failed_checks(result) -> set[str]:
    return {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}


def quarantine(home: Path) -> pd.DataFrame:
    return table(
        home / "warehouse.duckdb",
        "select ts, close, reason, partition_key from raw.ohlcv_quarantine order by reason",
    )


def stored(home: Path) -> pd.DataFrame:
    return table(home / "warehouse.duckdb", "select ts, close from raw.ohlcv order by ts")


def epoch(line: str, unit: int) -> str:
    stamp, rest = line.split(",", 1)
    return f"{int(pd.Timestamp(stamp).timestamp()) * unit},{rest}"


def test_epoch_seconds_among_milliseconds_are_quarantined_never_read_wrong(
    trading_home, warehouse, shared_data
) -> None:
    lines = real_lines(shared_data, "2023-06-01", 7)
    # milliseconds, with three days (72 rows) in seconds: today they vanished as 1970 rows
    corrupt = [epoch(line, 1 if 24 <= i < 96 else 1000) for i, line in enumerate(lines)]
    write(trading_home / "replay", corrupt)
    result = ingest(trading_home, warehouse, keys("2023-06-01", 7))
    assert result.success
    bad = quarantine(trading_home)
    assert len(bad) == 72 and len(stored(trading_home)) == 96  # nothing lost
    assert (
        bad["reason"]
        .str.contains(
            "ts_unit_mismatch (epoch seconds in a file of epoch milliseconds)", regex=False
        )
        .all()
    )
    # each lands in the partition of its own (seconds) time, with its line number
    assert sorted(bad["partition_key"].unique()) == keys("2023-06-02", 3)
    assert bad["reason"].str.contains(r"^malformed_line: line \d+ of binance_BTCUSDT_1h\.csv").all()
    assert {"ohlcv_readable_lines", "ohlcv_gap_limit"} <= failed_checks(result)


def test_a_file_wholly_in_epoch_seconds_is_detected_and_read_right(
    trading_home, warehouse, shared_data
) -> None:
    lines = real_lines(shared_data, "2023-06-01", 2)
    write(trading_home / "replay", [epoch(line, 1) for line in lines])
    result = ingest(trading_home, warehouse, keys("2023-06-01", 2))
    assert result.success and not failed_checks(result)
    expected = pd.to_datetime([line[:20] for line in lines], utc=True).tz_convert(None)
    assert stored(trading_home)["ts"].tolist() == list(expected)


def test_a_number_cut_in_the_last_field_of_the_last_line_is_quarantined(
    trading_home, warehouse, shared_data
) -> None:
    lines = real_lines(shared_data, "2023-06-01", 1)
    cut = lines[-1][: lines[-1].rindex(".") - 1]  # volume 1234.567 -> 123, no newline after
    write(trading_home / "replay", [*lines[:-1], cut], newline_at_end=False)
    result = ingest(trading_home, warehouse, keys("2023-06-01", 1))
    bad = quarantine(trading_home)
    assert len(bad) == 1 and len(stored(trading_home)) == 23
    assert bad["reason"][0].startswith(f"malformed_line: line 25 of {FILE}: unterminated_last_line")
    assert "ohlcv_readable_lines" in failed_checks(result)


def test_a_malformed_line_is_quarantined_alone_and_the_good_lines_are_stored(
    trading_home, warehouse, shared_data
) -> None:
    lines = real_lines(shared_data, "2023-06-01", 1)
    lines[10] = lines[10] + ",7"  # an extra comma: 7 fields
    lines[12] = lines[12].replace(".", "x", 1)  # a price that is not a number
    write(trading_home / "replay", lines)
    result = ingest(trading_home, warehouse, keys("2023-06-01", 1))
    assert result.success
    bad = quarantine(trading_home)
    assert list(bad["reason"].str.extract(r"line (\d+)")[0]) == ["12", "14"]
    assert "wrong_field_count (expected 6 fields, got 7)" in bad["reason"][0]
    assert "unparseable_number (column open" in bad["reason"][1]
    assert len(stored(trading_home)) == 22
    assert "ohlcv_readable_lines" in failed_checks(result)


def test_duplicates_with_different_content_keep_both_versions_in_quarantine(
    trading_home, warehouse, shared_data
) -> None:
    lines = real_lines(shared_data, "2023-06-01", 1)
    stamp, o, h, low, close, volume = lines[8].split(",")
    other = ",".join([stamp, o, h, low, close, str(float(volume) * 2)])
    write(trading_home / "replay", [*lines, other])
    result = ingest(trading_home, warehouse, keys("2023-06-01", 1))
    bad = quarantine(trading_home)
    assert list(bad["reason"]) == ["conflicting_duplicate", "conflicting_duplicate"]
    assert (bad["ts"] == pd.Timestamp(stamp[:19])).all()
    assert pd.Timestamp(stamp[:19]) not in set(stored(trading_home)["ts"])
    assert "ohlcv_unique_ts" in failed_checks(result)


def test_a_file_that_cannot_be_read_at_all_is_refused_with_its_name(
    trading_home, warehouse
) -> None:
    folder = trading_home / "replay"
    folder.mkdir()
    (folder / FILE).write_bytes(b"\x00\x01garbage with no header\n\xff\xfe\n")
    result = ingest(trading_home, warehouse, keys("2023-06-01", 1))
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert FILE in str(failure) and "missing columns" in str(failure)


def spiked(shared_data: Path, position: int) -> tuple[list[str], pd.Timestamp]:
    lines = real_lines(shared_data, "2023-06-01", 2)
    stamp, o, h, low, close, volume = lines[position].split(",")
    lines[position] = ",".join([stamp, o, str(float(h) * 10), low, str(float(close) * 10), volume])
    return lines, pd.Timestamp(stamp[:19])


def test_a_10x_spike_is_held_out_of_the_signals_until_an_operator_releases_it(
    trading_home, warehouse, shared_data, capsys
) -> None:
    lines, at = spiked(shared_data, 9)
    write(trading_home / "replay", lines)
    result = ingest(trading_home, warehouse, keys("2023-06-01", 1))
    assert result.success
    assert "ohlcv_spike_hold" in failed_checks(result)
    assert "ohlcv_gap_limit" not in failed_checks(result)  # held, not blocking the day
    bad = quarantine(trading_home)
    assert len(bad) == 1 and bad["ts"][0] == at
    assert bad["reason"][0].startswith("spike_held (held_reverted: log move +2.30")
    assert at not in set(stored(trading_home)["ts"]) and len(stored(trading_home)) == 23
    held = result.asset_materializations_for_node("raw__ohlcv")[0].metadata["held_bars"].value
    assert [h["ts"] for h in held] == [at.isoformat()]

    release = ["data", "release", "binance", "BTC-USDT", "1h", at.isoformat()]
    assert trading([*release, "--reason", "checked on the exchange", "--by", "ops", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["released_by"] == "ops" and row["partition"] == "2023-06-01|BTC-USDT"
    ledger = (trading_home / "operator" / "data_releases.jsonl").read_text().splitlines()
    assert json.loads(ledger[0])["reason"] == "checked on the exchange"

    again = ingest(trading_home, warehouse, keys("2023-06-01", 1))
    assert again.success and "ohlcv_spike_hold" not in failed_checks(again)
    assert quarantine(trading_home).empty and len(stored(trading_home)) == 24


def test_a_spike_on_the_last_bar_of_a_past_day_is_judged_by_the_next_day(
    trading_home, warehouse, shared_data
) -> None:
    lines, at = spiked(shared_data, 23)  # 23:00, the next bars are in the next partition
    write(trading_home / "replay", lines)
    ingest(trading_home, warehouse, keys("2023-06-01", 1))
    bad = quarantine(trading_home)
    assert list(bad["ts"]) == [at] and "held_reverted" in bad["reason"][0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["binance", "BTC/USDT", "1h", "2023-06-01T09:30:00"], "not the open time of a 1h bar"),
        (["binance", "BTC/USDT", "7x", "2023-06-01T09:00:00"], "timeframe"),
        (["binance", "BTC/USDT", "1h", "yesterday"], "ts: 'yesterday'"),
        (["binance", "BTCUSDT", "1h", "2023-06-01T09:00:00"], "symbol"),
        (["binance", "BTC/USDT", "1h", "2023-06-01T09:00:00", "--reason", " "], "reason"),
    ],
)
def test_release_refuses_bad_input_naming_the_field(trading_home, capsys, argv, message) -> None:
    assert trading(["data", "release", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (trading_home / "operator" / "data_releases.jsonl").exists()

"""The replay backend on the real files in ../shared/data/market and on small files made here."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from trading_core.market import replay as replay_module
from trading_core.market.base import OHLCV_COLUMNS, MarketDataError, MarketSource
from trading_core.market.ingest import find_gaps
from trading_core.market.replay import (
    SYNTHETIC_SOURCE,
    ReplayMarket,
    ReplaySeries,
    file_symbol_to_unified,
    unified_to_file_symbol,
)

ALL = (datetime(2000, 1, 1), datetime(2100, 1, 1))
HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.fixture(scope="module")
def real(shared_data: Path) -> ReplayMarket:
    return ReplayMarket(shared_data / "market")


def _write(folder: Path, name: str, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


def _hours(n: int, start: str = "2024-01-01T00:00:00Z") -> list[str]:
    first = pd.Timestamp(start)
    stamps = [(first + pd.Timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(n)]
    return [f"{ts},{10 + i},{11 + i},{9 + i},{10.5 + i},{100 + i}" for i, ts in enumerate(stamps)]


@pytest.mark.parametrize(
    ("pair", "symbol"),
    [
        ("BTCUSDT", "BTC/USDT"),
        ("ETHBTC", "ETH/BTC"),
        ("BTCUSD", "BTC/USD"),
        ("ETHFDUSD", "ETH/FDUSD"),
        ("XRPUSDTPERP", "XRP/USDT:USDT"),
    ],
)
def test_file_symbols_map_to_unified_symbols_and_back(pair: str, symbol: str) -> None:
    assert file_symbol_to_unified(pair) == symbol
    assert unified_to_file_symbol(symbol) == pair


def test_unknown_quote_is_an_error_naming_the_known_quotes() -> None:
    with pytest.raises(ValueError, match=r"'FOOBAR'.*known quotes"):
        file_symbol_to_unified("FOOBAR")


def test_available_lists_every_candle_file_and_skips_the_rest(real: ReplayMarket) -> None:
    found = real.available()
    assert len(found) == 13
    assert ReplaySeries("binance", "XRP/USDT", "1h") in found
    assert ReplaySeries("binance", "XRP/USDT:USDT", "5m") in found
    assert not any("funding" in s.timeframe for s in found)
    assert isinstance(real, MarketSource)


def test_real_file_is_replayed_whole_with_its_real_gaps(real: ReplayMarket) -> None:
    frame = real.fetch_ohlcv("binance", "XRP/USDT", "1h", *ALL)
    assert list(frame.columns) == OHLCV_COLUMNS
    assert len(frame) == 67_200
    assert frame["ts"].iloc[0] == pd.Timestamp("2018-05-04 08:00")
    assert frame["ts"].iloc[-1] == pd.Timestamp("2026-01-05 23:00")
    gaps = find_gaps(frame["ts"], "1h")
    assert (len(gaps), sum(g.missing for g in gaps)) == (25, 88)
    assert frame["ts"].dtype == "datetime64[us]"


def test_window_and_closed_candle_rule(real: ReplayMarket) -> None:
    day = datetime(2022, 6, 1)
    whole_day = real.fetch_ohlcv("binance", "BTC/USDT", "1h", day, day + timedelta(days=1))
    assert len(whole_day) == 24 and whole_day["ts"].iloc[0] == pd.Timestamp(day)
    now = day + timedelta(hours=10, minutes=59)
    partial = real.fetch_ohlcv("binance", "BTC/USDT", "1h", day, day + timedelta(days=1), now=now)
    assert partial["ts"].iloc[-1] == pd.Timestamp(day + timedelta(hours=9))
    pd.testing.assert_frame_equal(partial, whole_day.iloc[:10])
    assert real.fetch_ohlcv("binance", "BTC/USDT", "1h", day, day, now=now).empty


def test_rows_come_back_in_file_order_with_duplicates(tmp_path: Path) -> None:
    rows = _hours(6)
    shuffled = [rows[3], rows[0], rows[5], rows[1], rows[1], rows[2]]
    _write(tmp_path / "market", "binance_BTCUSDT_1h.csv", shuffled)
    frame = ReplayMarket(tmp_path / "market").fetch_ohlcv("binance", "BTC/USDT", "1h", *ALL)
    assert frame["open"].tolist() == [13.0, 10.0, 15.0, 11.0, 11.0, 12.0]
    window = ReplayMarket(tmp_path / "market").fetch_ohlcv(
        "binance", "BTC/USDT", "1h", datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 4)
    )
    assert window["open"].tolist() == [13.0, 11.0, 11.0, 12.0]


def test_parquet_replays_like_csv_and_timestamps_are_utc(tmp_path: Path) -> None:
    csv_dir = tmp_path / "csv"
    _write(csv_dir, "kraken_ETHUSD_1h.csv", _hours(5))
    frame = ReplayMarket(csv_dir).fetch_ohlcv("kraken", "ETH/USD", "1h", *ALL)
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    stored = frame[["ts", "open", "high", "low", "close", "volume"]].rename(
        columns={"ts": "timestamp"}
    )
    stored["timestamp"] = stored["timestamp"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")
    stored.to_parquet(parquet_dir / "kraken_ETHUSD_1h.parquet")
    pd.testing.assert_frame_equal(
        ReplayMarket(parquet_dir).fetch_ohlcv("kraken", "ETH/USD", "1h", *ALL), frame
    )
    # Offsets, naive ISO strings and epoch milliseconds are all read as UTC.
    mixed = tmp_path / "mixed"
    _write(mixed, "kraken_ETHUSD_1h.csv", ["2024-01-01T02:00:00+02:00,1,2,0.5,1.5,3"])
    _write(mixed, "kraken_ETHUSD_4h.csv", ["2024-01-01T00:00:00,1,2,0.5,1.5,3"])
    _write(mixed, "kraken_ETHUSD_1d.csv", ["1704067200000,1,2,0.5,1.5,3"])
    source = ReplayMarket(mixed)
    for timeframe in ("1h", "4h", "1d"):
        ts = source.fetch_ohlcv("kraken", "ETH/USD", timeframe, *ALL)["ts"]
        assert ts.tolist() == [pd.Timestamp("2024-01-01")]


def test_files_are_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, "binance_BTCUSDT_1h.csv", _hours(48))
    calls: list[Path] = []
    real_read = replay_module.read_candles
    monkeypatch.setattr(
        replay_module, "read_candles", lambda p, unit: calls.append(p) or real_read(p, unit)
    )
    source = ReplayMarket(tmp_path)
    for day in (1, 2):
        start = datetime(2024, 1, day)
        assert (
            len(source.fetch_ohlcv("binance", "BTC/USDT", "1h", start, start + timedelta(days=1)))
            == 24
        )
    assert len(calls) == 1


def test_unknown_series_and_bad_files_give_clear_errors(real: ReplayMarket, tmp_path: Path) -> None:
    with pytest.raises(
        MarketDataError,
        match=r"exchange='binance' symbol='DOGE/USDT'.*available: binance ADA/USDT 1d",
    ):
        real.fetch_ohlcv("binance", "DOGE/USDT", "1h", *ALL)
    (tmp_path / "binance_BTCUSDT_1h.csv").write_text(
        "timestamp,open,high,low,close\n2024-01-01T00:00:00Z,1,2,0,1\n"
    )
    with pytest.raises(
        MarketDataError, match=r"binance_BTCUSDT_1h.csv: missing columns \['volume'\]"
    ):
        ReplayMarket(tmp_path).fetch_ohlcv("binance", "BTC/USDT", "1h", *ALL)
    with pytest.raises(MarketDataError, match="not a directory"):
        ReplayMarket(tmp_path / "nowhere")


def test_a_recorded_snapshot_is_used_when_it_matches(real: ReplayMarket) -> None:
    taken = datetime(2025, 8, 27, 19, 25, 21, 281022)
    book = real.fetch_order_book("coinbase", "BTC/USD", 10, at=datetime(2025, 8, 27, 19, 30))
    assert book.source == "replay" and book.ts == taken
    assert len(book.bids) == 10 and len(book.asks) == 10
    assert book.bids[0] == (111924.98, 0.09321217)
    assert real.fetch_order_book("coinbase", "BTC/USD", 40).ts == taken  # at=None: the newest
    with pytest.raises(MarketDataError, match="neither a snapshot nor candles"):
        real.fetch_order_book("coinbase", "BTC/USD", 10, at=datetime(2025, 8, 27, 20))


def test_without_a_snapshot_the_book_is_synthesized_around_the_last_close(
    real: ReplayMarket,
) -> None:
    at = datetime(2022, 6, 1, 10, 30)
    book = real.fetch_order_book("binance", "BTC/USDT", 20, at=at)
    last = real.fetch_ohlcv("binance", "BTC/USDT", "1h", at - timedelta(hours=3), at, now=at).iloc[
        -1
    ]
    assert book.source == SYNTHETIC_SOURCE and book.ts == at
    assert book.bids[0][0] < book.mid < book.asks[0][0]
    assert book.mid == pytest.approx(last["close"], rel=1e-6)
    assert len(book.bids) == len(book.asks) == 20
    assert real.fetch_order_book("binance", "BTC/USDT", 20, at=at) == book
    with pytest.raises(MarketDataError, match="no 1h candle closed"):
        real.fetch_order_book("binance", "BTC/USDT", 20, at=datetime(2015, 1, 1))


def test_snapshot_files_follow_the_layout(tmp_path: Path) -> None:
    _write(tmp_path / "market", "binance_ETHUSDT_1h.csv", _hours(3))
    books = tmp_path / "books"
    books.mkdir()
    snapshot = {"timestamp": "2024-01-01T01:00:00Z", "bids": [[10.0, 1.0]], "asks": [[10.1, 2.0]]}
    (books / "binance_ETHUSDT_depth_20240101.json").write_text(json.dumps(snapshot))
    source = ReplayMarket(tmp_path / "market", order_book_dir=books)
    sources = [
        source.fetch_order_book("binance", "ETH/USDT", 5, at=datetime(2024, 1, 1, 1, minute)).source
        for minute in (0, 4, 5)
    ]
    # On a 5-minute snapshot grid one grid instant, never two, gets a 5-minute-old snapshot.
    assert sources == ["replay", "replay", SYNTHETIC_SOURCE]

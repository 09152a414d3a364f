"""Binance's kline archive through the fake ``data.binance.vision``, the rest through the fake
Binance REST API and the real ccxt client: the same candles either way, and every file not
used is listed with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.fakes.binance_archive import FakeArchive, kline_csv
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.backtest import read_ohlcv_csv
from trading_core.market.archive_source import ArchiveMarket, plan_files
from trading_core.market.binance_archive import (
    ArchiveClient,
    ArchiveRejected,
    monthly_file,
    parse_klines,
)
from trading_core.market.ccxt_source import CcxtMarket
from trading_core.retry import RetryPolicy

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "market"
NOW = datetime(2023, 3, 5, 10, 30)  # the exchange's clock: 5 March 2023, 10:30
START, END = datetime(2023, 1, 1), datetime(2023, 3, 6)
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    """Real Binance BTC/USDT 1h candles, January to early March 2023."""
    bars = read_ohlcv_csv(DATA / "binance_BTCUSDT_1h.csv")
    bars = bars[(bars["ts"] >= START) & (bars["ts"] < END)].reset_index(drop=True)
    bars["ts"] = bars["ts"].astype("datetime64[us]")
    return bars


@pytest.fixture
def rest(candles: pd.DataFrame) -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        exchange.add_candles("BTCUSDT", "1h", candles)
        exchange.set_time(NOW)
        yield exchange


@pytest.fixture
def archive(candles: pd.DataFrame) -> Iterator[FakeArchive]:
    with FakeArchive() as fake:
        for month in ("2023-01", "2023-02"):
            fake.publish_month("BTCUSDT", "1h", candles, month)
        for day in ("2023-03-01", "2023-03-02", "2023-03-03", "2023-03-04"):
            fake.publish_day("BTCUSDT", "1h", candles, day)
        yield fake


def _market(rest: FakeBinance, archive: FakeArchive, cache: Path) -> ArchiveMarket:
    client = make_ccxt_client(rest.url, timeout=500)
    inner = CcxtMarket(clients={"binance": client}, policy=FAST)
    return ArchiveMarket(inner, ArchiveClient(archive.url, cache))


def _fetch(market: object, start: datetime = START, end: datetime = END) -> pd.DataFrame:
    got = market.fetch_ohlcv("binance", "BTC/USDT", "1h", start, end, now=NOW)  # type: ignore[attr-defined]
    return got[COLUMNS].reset_index(drop=True)


def _klines_requests(rest: FakeBinance) -> int:
    return rest.count_requests("GET", "/api/v3/klines")


def test_plan_months_then_days_then_today_by_rest() -> None:
    files = plan_files("BTCUSDT", "1h", START, END, NOW)
    assert [f.period for f in files] == [
        "2023-01", "2023-02", "2023-03-01", "2023-03-02", "2023-03-03", "2023-03-04",
    ]  # fmt: skip
    # a window that starts mid-month takes that month's days, not its file
    mid = plan_files("BTCUSDT", "1h", datetime(2023, 1, 30, 5), datetime(2023, 2, 3), NOW)
    assert [f.period for f in mid] == []  # Jan 30 05:00 is not a whole day; February is partial
    assert plan_files("BTCUSDT", "1h", END, START, NOW) == []


def test_history_comes_from_the_archive_and_equals_rest(
    rest: FakeBinance, archive: FakeArchive, tmp_path: Path, candles: pd.DataFrame
) -> None:
    market = _market(rest, archive, tmp_path / "cache")
    got = _fetch(market)
    closed = candles[candles["ts"] + pd.Timedelta(hours=1) <= NOW][COLUMNS].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, closed, check_exact=True)
    assert market.archive_candles == len(candles[candles["ts"] < datetime(2023, 3, 5)])
    assert market.rejects == []
    assert _klines_requests(rest) == 1  # only 5 March by REST
    # the same window over REST alone gives the same candles
    pd.testing.assert_frame_equal(_fetch(market.inner), got, check_exact=True)


def test_a_verified_file_is_cached_and_not_downloaded_again(
    rest: FakeBinance, archive: FakeArchive, tmp_path: Path
) -> None:
    market = _market(rest, archive, tmp_path / "cache")
    first = _fetch(market)
    asked = len(archive.requests)
    again = _market(rest, archive, tmp_path / "cache")
    pd.testing.assert_frame_equal(_fetch(again), first)
    assert len(archive.requests) == asked


def test_a_file_failing_its_checksum_falls_back_to_rest_with_its_reason(
    rest: FakeBinance, archive: FakeArchive, tmp_path: Path
) -> None:
    archive.corrupt("BTCUSDT-1h-2023-02.zip")
    market = _market(rest, archive, tmp_path / "cache")
    reference = _fetch(market.inner)
    pd.testing.assert_frame_equal(_fetch(market), reference, check_exact=True)
    [reject] = market.rejects
    assert reject.file == "BTCUSDT-1h-2023-02.zip" and not reject.missing
    assert "sha256" in reject.reason and "does not match" in reject.reason
    assert not list((tmp_path / "cache").rglob("BTCUSDT-1h-2023-02.zip"))  # never cached


def test_an_unpublished_file_falls_back_to_rest(
    rest: FakeBinance, archive: FakeArchive, tmp_path: Path
) -> None:
    del archive.files[next(p for p in archive.files if p.endswith("2023-03-04.zip.CHECKSUM"))]
    market = _market(rest, archive, tmp_path / "cache")
    pd.testing.assert_frame_equal(_fetch(market), _fetch(market.inner), check_exact=True)
    [reject] = market.rejects
    assert reject.missing and "404" in reject.reason


def test_microsecond_files_of_2025_on_read_in_the_right_unit(candles: pd.DataFrame) -> None:
    shifted = candles.assign(ts=candles["ts"] + pd.DateOffset(years=2))  # into 2025
    file = monthly_file("BTCUSDT", "1h", datetime(2025, 1, 1))
    rows = shifted[shifted["ts"] < datetime(2025, 2, 1)]
    from tests.fakes.binance_archive import zipped

    for unit in ("ms", "us"):
        body = zipped(file.name, kline_csv(rows, "1h", time_unit=unit, header=unit == "us"))
        got = parse_klines(body, file, "binance", "BTC/USDT", 3600)
        assert got["ts"].tolist() == rows["ts"].tolist()
        assert got["close"].tolist() == rows["close"].tolist()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1672531200000,1,2,0.5,1.5,10,1672534799999,15,10,0,0", "Expected 12 columns, got 11"),
        ("1672531200000,1,2,0.5,nan,10,1672534799999,15,10,0,0,0", "not a finite number"),
        ("1672531200000,1,2,0.5,oops,10,1672534799999,15,10,0,0,0", "malformed line"),
        ("1672531200,1,2,0.5,1.5,10,1672534799,15,10,0,0,0", "not epoch ms or us"),
        ("1672531260000,1,2,0.5,1.5,10,1672534799999,15,10,0,0,0", "off the 1h grid"),
        ("1675209600000,1,2,0.5,1.5,10,1675213199999,15,10,0,0,0", "outside 2023-01"),
        ("1672534800000,1,2,0.5,1.5,10,1672538399999,15,10,0,0,0", "appears twice"),
    ],
)  # fmt: skip
def test_a_file_with_a_bad_line_is_rejected_whole(line: str, reason: str) -> None:
    from tests.fakes.binance_archive import zipped

    file = monthly_file("BTCUSDT", "1h", datetime(2023, 1, 1))
    body = zipped(file.name, "1672534800000,1,2,0.5,1.5,10,1672538399999,15,10,0,0,0\n" + line)
    with pytest.raises(ArchiveRejected, match=reason):
        parse_klines(body, file, "binance", "BTC/USDT", 3600)


def test_a_malformed_file_in_the_archive_is_replaced_by_rest(
    rest: FakeBinance, archive: FakeArchive, tmp_path: Path
) -> None:
    archive.publish_text("daily", "BTCUSDT", "1h", "2023-03-02", "not,a,kline\n")
    market = _market(rest, archive, tmp_path / "cache")
    pd.testing.assert_frame_equal(_fetch(market), _fetch(market.inner), check_exact=True)
    [reject] = market.rejects
    assert reject.file == "BTCUSDT-1h-2023-03-02.zip" and "malformed" in reject.reason


def test_other_exchanges_and_timeframes_go_straight_to_the_wrapped_source(
    rest: FakeBinance, archive: FakeArchive, tmp_path: Path
) -> None:
    market = _market(rest, archive, tmp_path / "cache")
    window = (NOW - timedelta(days=2), NOW)
    assert len(_fetch(market, *window)) == len(_fetch(market.inner, *window))
    assert archive.requests == [
        p for p in archive.requests if "2023-03-03" in p or "2023-03-04" in p
    ]


def test_the_archive_is_configured_by_url_and_a_bad_url_names_the_field(
    tmp_path: Path,
) -> None:
    from trading_core.config import ConfigError, load_config
    from trading_core.market.factory import make_market_source

    env = {"TRADING_HOME": str(tmp_path), "TRADING_MARKET_SOURCE": "ccxt",
           "TRADING_EXCHANGES": "binance", "TRADING_EXECUTOR_EXCHANGE": "binance"}  # fmt: skip
    plain = make_market_source(load_config(environ=env).market)
    assert isinstance(plain, CcxtMarket)
    archived = make_market_source(
        load_config(environ={**env, "TRADING_ARCHIVE_URL": "http://127.0.0.1:9"}).market
    )
    assert isinstance(archived, ArchiveMarket) and archived.name == "ccxt+archive"
    with pytest.raises(ConfigError, match=r"archive_url.*not an http"):
        load_config(environ={**env, "TRADING_ARCHIVE_URL": "ftp://x"})

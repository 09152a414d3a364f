"""The ccxt backend against the local fake Binance, through the real ccxt client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.market.base import OHLCV_COLUMNS, MarketDataError, MarketSource
from trading_core.market.ccxt_source import CcxtMarket
from trading_core.market.ingest import Gap, fetch_window, partition_window
from trading_core.market.sim import SimMarket
from trading_core.retry import RetryPolicy

pytestmark = pytest.mark.integration

START = datetime(2025, 1, 1)
N = 3_000  # 1m candles seeded: 2 days and 20 hours
KLINES = "/api/v3/klines"
FAST = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01)


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return SimMarket().fetch_ohlcv(
        "sim", "BTC/USDT", "1m", START, START + timedelta(minutes=N), now=datetime(2030, 1, 1)
    )


@pytest.fixture
def fake(candles: pd.DataFrame) -> Iterator[FakeBinance]:
    """An exchange whose clock is 30 s into the last seeded candle, which is still open."""
    with FakeBinance() as exchange:
        exchange.add_candles("BTCUSDT", "1m", candles)
        exchange.set_time(START + timedelta(minutes=N - 1, seconds=30))
        yield exchange


def _market(fake: FakeBinance, **kwargs: Any) -> CcxtMarket:
    client = make_ccxt_client(fake.url, timeout=300)
    return CcxtMarket(clients={"binance": client}, policy=kwargs.pop("policy", FAST), **kwargs)


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def _before_call(market: CcxtMarket, number: int, action: Callable[[], None]) -> None:
    """Run ``action`` (e.g. inject a fault into the fake) just before the ``number``-th
    ``fetch_ohlcv`` of the real ccxt client: faults then hit a page in the middle."""
    client = market.client("binance")
    real = client.fetch_ohlcv
    calls = 0

    def fetch_ohlcv(*args: Any, **kwargs: Any) -> list[list[Any]]:
        nonlocal calls
        calls += 1
        if calls == number:
            action()
        return real(*args, **kwargs)

    client.fetch_ohlcv = fetch_ohlcv


@pytest.mark.parametrize(("limit", "pages"), [(500, 6), (1000, 3)])
def test_pagination_returns_every_closed_candle_once(
    fake: FakeBinance, candles: pd.DataFrame, limit: int, pages: int
) -> None:
    market = _market(fake, page_limit=limit)
    report = market.fetch_ohlcv_report(
        "binance", "BTC/USDT", "1m", START, START + timedelta(days=5)
    )
    assert isinstance(market, MarketSource)
    assert list(report.frame.columns) == OHLCV_COLUMNS
    # The last seeded candle is still open on the exchange clock: never returned.
    pd.testing.assert_frame_equal(_values(report.frame), _values(candles.iloc[: N - 1]))
    assert report.frame["ts"].is_unique and report.frame["ts"].is_monotonic_increasing
    assert report.now == START + timedelta(minutes=N - 1, seconds=30)
    assert report.gaps == [] and report.requests == pages
    assert fake.count_requests("GET", KLINES) == pages


def test_the_window_end_and_the_local_clock_are_honoured(
    fake: FakeBinance, candles: pd.DataFrame
) -> None:
    market = _market(fake, use_exchange_clock=False)
    end = START + timedelta(hours=3)
    frame = market.fetch_ohlcv(
        "binance", "BTC/USDT", "1m", START + timedelta(hours=1), end, now=end
    )
    assert _values(frame).equals(_values(candles.iloc[60:180]))
    assert fake.count_requests("GET", "/api/v3/time") == 0
    now = START + timedelta(hours=12, minutes=5, seconds=59)
    at_noon = market.fetch_ohlcv(
        "binance", "BTC/USDT", "1m", START, START + timedelta(days=1), now=now
    )
    assert at_noon["ts"].iloc[-1] == pd.Timestamp(START + timedelta(hours=12, minutes=4))


def test_incremental_runs_refetch_the_last_candles_and_take_late_corrections(
    fake: FakeBinance, candles: pd.DataFrame
) -> None:
    market = _market(fake)
    start, end = partition_window(START)
    first = fetch_window(
        market, "binance", "BTC/USDT", "1m", start, end, now=START + timedelta(hours=6, seconds=1)
    )
    assert len(first.frame) == 360
    last_stored = first.frame["ts"].iloc[-1].to_pydatetime()
    corrected_at = last_stored - timedelta(minutes=1)
    fake.correct_candle("BTCUSDT", "1m", corrected_at, close=123_456.0, high=123_456.0)
    second = fetch_window(
        market,
        "binance",
        "BTC/USDT",
        "1m",
        start,
        end,
        now=START + timedelta(hours=7, seconds=1),
        last_stored=last_stored,
        refetch=3,
    )
    assert second.fetch_start == last_stored - timedelta(minutes=2)
    assert len(second.frame) == 3 + 60 and second.gaps == []
    fixed = second.frame.set_index("ts").loc[pd.Timestamp(corrected_at)]
    assert fixed["close"] == 123_456.0 and fixed["high"] == 123_456.0


@pytest.mark.parametrize("fault", ["429", "418", "500", "502", "503", "504", "timeout", "reset"])
def test_faults_on_a_middle_page_change_nothing(
    fake: FakeBinance, candles: pd.DataFrame, fault: str
) -> None:
    sleeps: list[float] = []
    market = _market(fake, page_limit=500, sleep=sleeps.append)
    _before_call(market, 3, lambda: fake.inject(fault, path=KLINES, method="GET", count=2))
    frame = market.fetch_ohlcv("binance", "BTC/USDT", "1m", START, START + timedelta(days=5))
    pd.testing.assert_frame_equal(_values(frame), _values(candles.iloc[: N - 1]))
    assert fake.count_requests("GET", KLINES) == 6 + 2
    assert len(sleeps) == 2 and all(0 <= s <= FAST.max_delay for s in sleeps)


def test_every_kind_of_fault_in_a_row_is_survived(fake: FakeBinance, candles: pd.DataFrame) -> None:
    market = _market(
        fake, page_limit=1000, policy=RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.01)
    )
    for fault in ("429", "418", "503", "timeout", "reset", "500", "504"):
        fake.inject(fault, path=KLINES, method="GET")
    frame = market.fetch_ohlcv("binance", "BTC/USDT", "1m", START, START + timedelta(days=5))
    pd.testing.assert_frame_equal(_values(frame), _values(candles.iloc[: N - 1]))


def test_a_bad_symbol_fails_at_once_naming_exchange_symbol_and_window(fake: FakeBinance) -> None:
    market = _market(fake)
    with pytest.raises(MarketDataError) as failure:
        market.fetch_ohlcv("binance", "NOPE/USDT", "1m", START, START + timedelta(days=1))
    message = str(failure.value)
    assert "binance NOPE/USDT 1m [2025-01-01 00:00:00, 2025-01-02 00:00:00)" in message
    assert "BadSymbol" in message
    assert fake.count_requests("GET", KLINES) == 0


def test_exhausted_retries_give_a_clear_error_and_no_partial_window(fake: FakeBinance) -> None:
    market = _market(
        fake, page_limit=500, policy=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
    )
    _before_call(market, 2, lambda: fake.inject("503", path=KLINES, method="GET", count=3))
    with pytest.raises(
        MarketDataError,
        match=r"binance BTC/USDT 1m \[2025-01-01.*gave up after 3 attempts.*ExchangeNotAvailable",
    ):
        market.fetch_ohlcv("binance", "BTC/USDT", "1m", START, START + timedelta(days=5))
    assert fake.count_requests("GET", KLINES) == 1 + 3


def test_an_unoffered_timeframe_names_the_allowed_ones(fake: FakeBinance) -> None:
    with pytest.raises(
        MarketDataError, match=r"does not offer timeframe '7m'; allowed: \['1s', '1m'"
    ):
        _market(fake).fetch_ohlcv("binance", "BTC/USDT", "7m", START, START + timedelta(days=1))


def test_gaps_are_rerequested_and_real_ones_reported(candles: pd.DataFrame) -> None:
    holed = candles.drop(index=range(100, 110)).drop(index=range(700, 703))
    with FakeBinance() as fake:
        fake.add_candles("BTCUSDT", "1m", holed)
        fake.set_time(START + timedelta(days=1))
        market = _market(fake)
        # Candles 700-702 reach the exchange late: after the first page, before the re-request.
        _before_call(market, 2, lambda: fake.add_candles("BTCUSDT", "1m", candles.iloc[700:703]))
        report = market.fetch_ohlcv_report(
            "binance", "BTC/USDT", "1m", START, START + timedelta(days=1)
        )
    assert report.gaps == [Gap(START + timedelta(minutes=100), START + timedelta(minutes=110), 10)]
    assert report.gap_requests == 2 and report.missing == 10
    assert len(report.frame) == 1440 - 10


def test_a_window_without_candles_is_one_reported_gap(fake: FakeBinance) -> None:
    market = _market(fake, page_limit=1000)
    report = market.fetch_ohlcv_report(
        "binance", "ETH/USDT", "1m", START, START + timedelta(days=1)
    )
    assert report.frame.empty and list(report.frame.columns) == OHLCV_COLUMNS
    assert report.gaps == [Gap(START, START + timedelta(days=1), 1440)]
    assert report.requests == 2 + 1  # two page spans, then one re-request of the gap


def test_order_book_trades_and_time_pass_through(fake: FakeBinance) -> None:
    fake.set_order_book(
        "BTCUSDT", bids=[(99.5, 1), (99.0, 2), (98.0, 3)], asks=[(100.5, 1), (101.0, 4)]
    )
    market = _market(fake)
    book = market.fetch_order_book("binance", "BTC/USDT", 2)
    assert book.bids == [(99.5, 1.0), (99.0, 2.0)] and book.asks == [(100.5, 1.0), (101.0, 4.0)]
    assert book.source == "ccxt"
    with pytest.raises(MarketDataError, match="cannot snapshot the past"):
        market.fetch_order_book("binance", "BTC/USDT", 2, at=datetime(2020, 1, 1))
    assert market.fetch_time("binance") == START + timedelta(minutes=N - 1, seconds=30)

    tape = SimMarket().fetch_trades(
        "sim", "BTC/USDT", START, START + timedelta(hours=3), now=datetime(2030, 1, 1)
    )
    fake.add_trades("BTCUSDT", tape.rename(columns={"ts": "timestamp"}))
    window = (START + timedelta(minutes=30), START + timedelta(hours=2, minutes=30))
    trades = market.fetch_trades("binance", "BTC/USDT", *window)
    expected = tape[(tape["ts"] >= window[0]) & (tape["ts"] < window[1])]
    assert trades["trade_id"].tolist() == expected["trade_id"].tolist()
    assert trades["price"].tolist() == expected["price"].tolist()
    assert trades["ts"].tolist() == expected["ts"].tolist()
    assert fake.count_requests("GET", "/api/v3/aggTrades") == 2  # one per hour of the window

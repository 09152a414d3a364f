"""Series and bar keys: one format, byte-identical to the strings already stored."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading_core.series import BarKey, SeriesKey

BTC_1M = SeriesKey("sim", "BTC/USDT", "1m")


def test_the_format_is_the_one_already_stored() -> None:
    # run keys, run config, sensor cursors and asset metadata hold these exact strings
    assert str(BTC_1M) == "sim|BTC/USDT|1m"
    assert str(BarKey(BTC_1M, datetime(2026, 1, 1, 10, 5))) == "sim|BTC/USDT|1m|2026-01-01T10:05:00"
    with_micros = BarKey(BTC_1M, datetime(2026, 1, 1, 10, 5, 0, 250))
    assert str(with_micros) == "sim|BTC/USDT|1m|2026-01-01T10:05:00.000250"


@pytest.mark.parametrize(
    "text",
    [
        "sim|BTC/USDT|1m|2026-01-01T10:05:00",
        "binance|ETH/USDT|1h|2025-12-31T23:00:00.123456",
        "binance|ETH/USDT|1h|2025-12-31T23:00:00+00:00",
    ],
)
def test_a_bar_key_round_trips(text: str) -> None:
    bar = BarKey.parse(text)
    assert str(bar) == text
    assert BarKey.parse(str(bar)) == bar


def test_a_bar_names_its_series() -> None:
    bar = BarKey.parse("binance|ETH/USDT|4h|2026-01-01T08:00:00")
    assert bar.series == SeriesKey.parse("binance|ETH/USDT|4h")
    assert (bar.exchange, bar.symbol, bar.timeframe) == ("binance", "ETH/USDT", "4h")
    assert bar.ts == datetime(2026, 1, 1, 8)


def test_keys_are_values() -> None:
    assert SeriesKey.parse("sim|BTC/USDT|1m") == BTC_1M
    assert {BTC_1M: 1}[SeriesKey("sim", "BTC/USDT", "1m")] == 1
    with pytest.raises(AttributeError):
        BTC_1M.exchange = "binance"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    ["", "sim", "sim|BTC/USDT", "sim|BTC/USDT|1m|x", "|BTC/USDT|1m", "sim||1m", "sim|BTC/USDT|"],
)
def test_a_malformed_series_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="series"):
        SeriesKey.parse(text)


@pytest.mark.parametrize(
    "parts",
    [("", "BTC/USDT", "1m"), ("sim", "BTC|USDT", "1m"), ("sim", "BTC/USDT", None)],
)
def test_a_series_key_refuses_bad_parts(parts: tuple) -> None:
    with pytest.raises(ValueError, match="series"):
        SeriesKey(*parts)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "exchange|symbol|timeframe|ts"),
        ("sim|BTC/USDT|1m", "exchange|symbol|timeframe|ts"),
        ("sim|BTC/USDT|1m|x|2026-01-01T10:05:00", "exchange|symbol|timeframe|ts"),
        ("sim|BTC/USDT|1m|", "not an ISO open time"),
        ("sim|BTC/USDT|1m|yesterday", "not an ISO open time"),
        ("sim|BTC/USDT|1m|2026-13-01T00:00:00", "not an ISO open time"),
        ("|BTC/USDT|1m|2026-01-01T10:05:00", "series exchange"),
        ("sim||1m|2026-01-01T10:05:00", "series symbol"),
    ],
)
def test_a_malformed_bar_key_is_refused(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match.replace("|", r"\|")):
        BarKey.parse(text)


def test_a_bar_key_refuses_what_is_not_a_series_and_a_time() -> None:
    with pytest.raises(ValueError, match="SeriesKey"):
        BarKey("sim|BTC/USDT|1m", datetime(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="datetime"):
        BarKey(BTC_1M, "2026-01-01T10:05:00")  # type: ignore[arg-type]


PART = st.text(st.characters(blacklist_characters="|", blacklist_categories=["Cs"]), min_size=1)


@given(PART, PART, PART, st.datetimes())
def test_every_valid_key_round_trips(exchange: str, symbol: str, tf: str, ts: datetime) -> None:
    series = SeriesKey(exchange, symbol, tf)
    assert SeriesKey.parse(str(series)) == series
    bar = BarKey(series, ts)
    assert BarKey.parse(str(bar)) == bar

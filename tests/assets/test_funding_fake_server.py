"""The fake Binance futures endpoints answer like Binance: parameters checked and named,
limits bounded, open interest history only for the last 30 days."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.binance_futures import add_funding_rates, add_open_interest, make_futures_client
from tests.fakes.binance_server import FakeBinance

NOW = datetime(2021, 12, 1)


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        exchange.set_time(NOW)
        add_funding_rates(exchange, "BTCUSDT", [
            {"time": _ms(NOW - timedelta(hours=8 * i)), "rate": 0.0001} for i in range(5)
        ])  # fmt: skip
        yield exchange


def get(fake: FakeBinance, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(fake.url + path, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_parameters_are_checked_like_binance(fake) -> None:
    assert get(fake, "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=2")[1] == [
        {
            "symbol": "BTCUSDT",
            "fundingTime": _ms(NOW - timedelta(hours=8 * i)),
            "fundingRate": "0.0001",
            "markPrice": "0",
        }
        for i in (1, 0)
    ]  # fmt: skip  (without startTime: the latest ones)
    status, error = get(fake, "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=1001")
    assert status == 400 and "limit" in error["msg"]
    status, error = get(fake, "/fapi/v1/fundingRate?symbol=BTCUSDT&side=buy")
    assert status == 400 and error["code"] == -1104
    status, error = get(fake, "/fapi/v1/fundingRate?symbol=XRPETH")
    assert status == 400 and error["code"] == -1121
    status, error = get(fake, "/futures/data/openInterestHist?symbol=BTCUSDT")
    assert status == 400 and "period" in error["msg"]
    status, error = get(fake, "/futures/data/openInterestHist?symbol=BTCUSDT&period=1m")
    assert status == 400 and "period" in error["msg"]
    assert get(fake, "/fapi/v1/nothing")[0] == 404


def test_open_interest_history_covers_the_last_30_days_only(fake) -> None:
    add_open_interest(fake, "BTCUSDT", [
        {"time": _ms(NOW - timedelta(days=d)), "amount": d, "value": d} for d in (40, 29, 1)
    ])  # fmt: skip
    client = make_futures_client(fake.url)
    got = client.fetch_open_interest_history(
        "BTC/USDT:USDT", "1h", since=_ms(NOW - timedelta(days=45)), limit=500,
        params={"until": _ms(NOW)},
    )  # fmt: skip
    assert [r["openInterestAmount"] for r in got] == [29.0, 1.0]
    assert client.market("BTC/USDT:USDT")["swap"] and client.market("BTC/USDT")["spot"]

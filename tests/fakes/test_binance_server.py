"""The fake Binance, driven through the real ccxt client (and raw HTTP where ccxt would
hide what the wire says). What the ingestion and executor tests rely on is pinned here:
Binance's formats and error codes, the ccxt exception each fault surfaces as, matching and
balances, and the out-of-process mode with its state file."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import ccxt
import numpy as np
import pandas as pd
import pytest
import requests

from tests.fakes.binance_remote import FakeBinanceProcess
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from tests.fakes.faults import FAULTS

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


def hourly_candles(start: str, count: int, first_close: float = 100.0) -> pd.DataFrame:
    """Candles in the ../shared/data/market layout with closes 100, 101, 102, ..."""
    close = first_close + np.arange(count, dtype="float64")
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=count, freq="1h"),
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": 10.0,
        }
    )


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(balances={"USDT": 100_000, "BTC": 1}) as server:
        yield server
        assert server.internal_errors == []


@pytest.fixture
def client(fake: FakeBinance) -> ccxt.binance:
    return make_ccxt_client(fake.url, timeout=1000)


@pytest.fixture
def book(fake: FakeBinance) -> None:
    fake.set_order_book(
        "BTCUSDT",
        bids=[(30_000, 0.5), (29_990, 1.0)],
        asks=[(30_010, 0.2), (30_020, 0.3), (30_050, 1.0)],
    )


def signed(params: dict[str, object], secret: str = "test") -> str:
    query = urlencode(params)
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


# ------------------------------------------------------------------------- market data


def test_load_markets_reads_symbols_and_filters_in_one_call(fake, client):
    markets = client.load_markets()

    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["spot"], btc["active"]) == ("BTCUSDT", True, True)
    assert btc["precision"] == {"amount": 1e-05, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert btc["limits"]["cost"]["min"] == 5.0
    assert btc["limits"]["amount"]["min"] == 1e-05
    assert "XRP/ETH" in markets
    assert [r["path"] for r in fake.requests] == ["/api/v3/exchangeInfo"]


def test_fetch_ohlcv_paginates_real_candles_exactly(fake, client, shared_data: Path):
    frame = pd.read_csv(shared_data / "market" / "binance_BTCUSDT_1h.csv")
    fake.add_candles("BTCUSDT", "1h", frame)
    window = frame.iloc[100:1_450]
    since, until = ms(window["timestamp"].iloc[0]), ms(window["timestamp"].iloc[-1])

    rows: list[list[float]] = []
    cursor = since
    while cursor <= until:
        page = client.fetch_ohlcv("BTC/USDT", "1h", since=cursor, limit=400)
        page = [row for row in page if row[0] <= until]
        if not page:
            break
        rows.extend(page)
        cursor = page[-1][0] + HOUR_MS

    assert fake.count_requests("GET", "/api/v3/klines") == 4
    got = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
    expected_ts = [ms(t) for t in window["timestamp"]]
    assert got["ts"].tolist() == expected_ts  # the data's own gaps are kept, nothing invented
    np.testing.assert_allclose(got["close"], window["close"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["volume"], window["volume"], rtol=0, atol=1e-9)


def test_klines_wire_format_is_binance_strings(fake):
    fake.add_candles("BTCUSDT", "1h", hourly_candles("2024-01-01", 3))

    response = requests.get(
        f"{fake.url}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1h"}, timeout=5
    )

    first = response.json()[0]
    assert first[0] == ms("2024-01-01")
    assert first[1:6] == [
        "99.50000000",
        "101.00000000",
        "99.00000000",
        "100.00000000",
        "10.00000000",
    ]
    assert first[6] == ms("2024-01-01") + HOUR_MS - 1  # close time: open + interval - 1 ms
    assert first[7] == "1000.00000000" and first[8] == 0 and first[11] == "0"


def test_klines_without_start_return_latest_and_limits_are_enforced(fake):
    fake.add_candles("BTCUSDT", "1h", hourly_candles("2024-01-01", 50))
    url = f"{fake.url}/api/v3/klines"

    latest = requests.get(
        url,
        params={"symbol": "BTCUSDT", "interval": "1h", "endTime": ms("2024-01-02"), "limit": 3},
        timeout=5,
    ).json()
    too_many = requests.get(
        url, params={"symbol": "BTCUSDT", "interval": "1h", "limit": 1001}, timeout=5
    )
    bad_interval = requests.get(url, params={"symbol": "BTCUSDT", "interval": "7h"}, timeout=5)

    assert [row[0] for row in latest] == [
        ms("2024-01-01 22:00"),
        ms("2024-01-01 23:00"),
        ms("2024-01-02"),
    ]
    assert (too_many.status_code, too_many.json()["code"]) == (400, -1130)
    assert bad_interval.json() == {"code": -1120, "msg": "Invalid interval."}


def test_clock_models_the_open_candle_and_late_corrections(fake, client):
    fake.add_candles("BTCUSDT", "1h", hourly_candles("2024-01-01", 10))
    fake.set_time(pd.Timestamp("2024-01-01 05:30"))

    first = client.fetch_ohlcv("BTC/USDT", "1h", since=ms("2024-01-01"), limit=100)
    fake.correct_candle("BTCUSDT", "1h", "2024-01-01T04:00:00", close=222.5, high=230)
    fake.advance_time(HOUR_MS)
    second = client.fetch_ohlcv("BTC/USDT", "1h", since=ms("2024-01-01"), limit=100)

    # 05:00 is still open at 05:30 and is served; 06:00 does not exist yet.
    assert first[-1][0] == ms("2024-01-01 05:00") and len(first) == 6
    assert len(second) == 7
    assert first[4][4] == 104.0 and second[4][4] == 222.5 and second[4][2] == 230.0


def test_unknown_symbol_is_bad_symbol(fake, client):
    raw = requests.get(f"{fake.url}/api/v3/depth", params={"symbol": "NOPEUSDT"}, timeout=5)

    assert (raw.status_code, raw.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetKlines({"symbol": "NOPEUSDT", "interval": "1h"})


def test_unread_parameters_are_refused(fake):
    response = requests.get(
        f"{fake.url}/api/v3/depth", params={"symbol": "BTCUSDT", "depth": 5}, timeout=5
    )

    assert response.json()["code"] == -1104


def test_fetch_order_book_sorted_and_limited(fake, client, book):
    fake.set_order_book(
        "BTCUSDT", bids=[(29_990, 1), (30_000, 0.5)], asks=[(30_020, 0.3), (30_010, 0.2)]
    )

    top = client.fetch_order_book("BTC/USDT", limit=1)
    full = client.fetch_order_book("BTC/USDT")

    assert top["bids"] == [[30_000.0, 0.5]] and top["asks"] == [[30_010.0, 0.2]]
    assert full["bids"] == [[30_000.0, 0.5], [29_990.0, 1.0]]
    assert full["nonce"] > 0


def test_fetch_trades_by_time_window_and_by_id(fake, client, shared_data: Path):
    frame = pd.read_csv(shared_data / "orderbooks" / "binance_XRPETH_trades_20191011.csv")
    fake.add_trades("XRPETH", frame)
    since = ms(frame["timestamp"].iloc[0])

    by_time = client.fetch_trades("XRP/ETH", since=since, limit=50)
    from_id = int(frame["trade_id"].iloc[10])
    by_id = client.fetch_trades("XRP/ETH", limit=5, params={"fromId": from_id})
    too_wide = requests.get(
        f"{fake.url}/api/v3/aggTrades",
        params={"symbol": "XRPETH", "startTime": since, "endTime": since + HOUR_MS + 1},
        timeout=5,
    )

    in_hour = frame[
        pd.to_datetime(frame["timestamp"]).map(lambda t: int(t.value // 1e6)) <= since + HOUR_MS
    ]
    assert [int(t["id"]) for t in by_time] == in_hour["trade_id"].head(50).tolist()
    assert by_time[0]["price"] == frame["price"].iloc[0]
    assert by_time[0]["side"] == frame["side"].iloc[0]
    assert [int(t["id"]) for t in by_id] == frame["trade_id"].iloc[10:15].tolist()
    assert too_wide.json()["code"] == -1127


def test_tickers_follow_book_and_last_price(fake, client, book):
    fake.set_price("BTCUSDT", 30_005)

    ticker = client.fetch_ticker("BTC/USDT")
    bids_asks = client.fetch_bids_asks(["BTC/USDT"])
    prices = requests.get(
        f"{fake.url}/api/v3/ticker/price", params={"symbol": "BTCUSDT"}, timeout=5
    ).json()

    assert ticker["last"] == 30_005.0
    assert (ticker["bid"], ticker["ask"]) == (30_000.0, 30_010.0)
    assert bids_asks["BTC/USDT"]["ask"] == 30_010.0
    assert prices == {"symbol": "BTCUSDT", "price": "30005.00000000"}


# ------------------------------------------------------------------------------ trading


def test_market_buy_walks_the_book_and_charges_quote_commission(fake, client, book):
    order = client.create_order(
        "BTC/USDT", "market", "buy", 0.4, params={"newClientOrderId": "intent-1"}
    )

    assert order["clientOrderId"] == "intent-1" and order["status"] == "closed"
    assert [(t["price"], t["amount"]) for t in order["trades"]] == [
        (30_010.0, 0.2),
        (30_020.0, 0.2),
    ]
    cost = Decimal("30010") * Decimal("0.2") + Decimal("30020") * Decimal("0.2")
    fee = cost * Decimal("0.001")
    balances = fake.balances()
    assert Decimal(balances["USDT"]["free"]) == Decimal(100_000) - cost - fee
    assert Decimal(balances["BTC"]["free"]) == Decimal("1.4")
    assert client.fetch_order_book("BTC/USDT")["asks"][0] == [30_020.0, 0.1]


def test_market_order_on_a_thin_book_fills_partially_and_expires(fake, client, book):
    order = client.create_order("BTC/USDT", "market", "buy", 2.0)

    assert order["status"] == "expired"
    assert order["filled"] == pytest.approx(1.5) and order["remaining"] == pytest.approx(0.5)
    assert client.fetch_order_book("BTC/USDT")["asks"] == []


def test_market_buy_by_quote_amount_rounds_to_lot_step(fake, client, book):
    order = client.create_market_buy_order_with_cost("BTC/USDT", 1_000)

    info = order["info"]
    assert info["origQuoteOrderQty"] == "1000.00000000"
    assert Decimal(info["executedQty"]) == Decimal("0.03332")  # 1000 / 30010, down to 0.00001
    assert order["status"] == "closed"


def test_limit_order_rests_fills_partially_then_fully(fake, client, book):
    client.create_order("BTC/USDT", "limit", "buy", 0.5, 29_000, params={"clientOrderId": "L1"})
    locked = Decimal(fake.balances()["USDT"]["locked"])

    fake.trade_through("BTCUSDT", 28_900, qty=0.2)
    partial = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "L1"})
    fake.set_price("BTCUSDT", 29_000)  # touching the limit is not trading through it
    still = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "L1"})
    fake.set_price("BTCUSDT", 28_500)
    done = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "L1"})
    trades = client.fetch_my_trades("BTC/USDT")

    assert locked == Decimal("0.5") * 29_000 * Decimal("1.001")
    assert (partial["status"], partial["filled"]) == ("open", 0.2)
    assert still["filled"] == 0.2
    assert (done["status"], done["filled"], done["average"]) == ("closed", 0.5, 29_000.0)
    assert [(t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (29_000.0, 0.2, "maker"),
        (29_000.0, 0.3, "maker"),
    ]
    ids = [int(t["id"]) for t in trades]
    assert ids == sorted(ids) and len(set(ids)) == 2
    assert trades[0]["fee"] == {"cost": 5.8, "currency": "USDT"}
    assert Decimal(fake.balances()["USDT"]["locked"]) == 0


def test_partial_fill_helper_and_open_orders(fake, client):
    client.create_order("BTC/USDT", "limit", "sell", 0.6, 31_000, params={"clientOrderId": "S1"})
    client.create_order("ETH/USDT", "limit", "buy", 1, 1_000, params={"clientOrderId": "B1"})

    fake.partial_fill("S1", 0.25)

    open_btc = client.fetch_open_orders("BTC/USDT")
    assert [(o["clientOrderId"], o["filled"], o["remaining"]) for o in open_btc] == [
        ("S1", 0.25, 0.35)
    ]
    assert fake.balances()["BTC"] == {"free": "0.40000000", "locked": "0.35000000"}
    with pytest.raises(ValueError, match="remaining"):
        fake.partial_fill("S1", 1)


def test_cancel_releases_funds_and_unknown_orders_are_not_found(fake, client):
    order = client.create_order(
        "BTC/USDT", "limit", "buy", 0.1, 25_000, params={"clientOrderId": "C1"}
    )

    canceled = client.cancel_order(order["id"], "BTC/USDT")

    assert canceled["status"] == "canceled"
    assert canceled["info"]["origClientOrderId"] == "C1"  # clientOrderId is the cancel's own id
    assert fake.balances()["USDT"] == {"free": "100000.00000000", "locked": "0.00000000"}
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(order["id"], "BTC/USDT")  # -2011: no longer open
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "never-sent"})  # -2013


def test_duplicate_client_id_of_an_open_order_is_rejected(fake, client):
    client.create_order("BTC/USDT", "limit", "buy", 0.1, 25_000, params={"clientOrderId": "D1"})

    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order("BTC/USDT", "limit", "buy", 0.1, 25_000, params={"clientOrderId": "D1"})
    client.cancel_order(None, "BTC/USDT", params={"origClientOrderId": "D1"})
    again = client.create_order(
        "BTC/USDT", "limit", "buy", 0.1, 25_000, params={"clientOrderId": "D1"}
    )  # Binance only refuses ids of *open* orders

    assert again["status"] == "open" and len(fake.orders()) == 2


def test_filters_and_balance_are_enforced(fake, client, book):
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}

    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.privatePostOrder({**base, "quantity": "0.000015", "price": "30000"})
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        client.privatePostOrder({**base, "quantity": "0.001", "price": "30000.005"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        client.privatePostOrder({**base, "quantity": "0.0001", "price": "30000"})
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("BTC/USDT", "limit", "buy", 5, 29_000)
    with pytest.raises(ccxt.BadRequest, match="newClientOrderId"):
        client.create_order(
            "BTC/USDT", "limit", "buy", 0.1, 29_000, params={"clientOrderId": "x" * 37}
        )
    assert fake.orders() == []


def test_limit_maker_that_would_take_is_rejected_and_ioc_expires(fake, client, book):
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order("BTC/USDT", "limit", "buy", 0.1, 30_010, params={"postOnly": True})

    ioc = client.create_order(
        "BTC/USDT", "limit", "buy", 0.3, 30_010, params={"timeInForce": "IOC"}
    )
    fok = client.create_order(
        "BTC/USDT", "limit", "buy", 0.5, 30_020, params={"timeInForce": "FOK"}
    )

    assert (ioc["status"], ioc["filled"]) == ("expired", 0.2)
    assert (fok["status"], fok["filled"]) == ("expired", 0.0)  # 0.3 left up to 30020: not all
    assert Decimal(fake.balances()["USDT"]["locked"]) == 0


def test_stop_loss_limit_triggers_on_price_and_fills_against_book(fake, client, book):
    fake.set_price("BTCUSDT", 30_005)
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order(
            "BTC/USDT", "limit", "sell", 0.3, 29_900, params={"stopLossPrice": 30_100}
        )
    stop = client.create_order(
        "BTC/USDT", "limit", "sell", 0.3, 29_900, params={"stopLossPrice": 29_995}
    )
    waiting = fake.order(stop["clientOrderId"])

    fake.set_price("BTCUSDT", 29_995)

    filled = client.fetch_order(stop["id"], "BTC/USDT")
    assert (waiting["isWorking"], waiting["workingTime"]) == (False, -1)
    assert filled["status"] == "closed" and filled["triggerPrice"] == 29_995.0
    assert [t["price"] for t in fake.trades()] == ["30000.00000000"]


def test_fetch_balance_and_orders_history(fake, client, book):
    client.create_order("BTC/USDT", "market", "sell", 0.1)
    client.create_order("BTC/USDT", "limit", "buy", 0.1, 20_000)

    balance = client.fetch_balance()
    history = client.fetch_orders("BTC/USDT")

    assert balance["BTC"] == {"free": 0.9, "used": 0.0, "total": 0.9}
    assert balance["USDT"]["used"] == pytest.approx(2_002.0)
    assert [o["status"] for o in history] == ["closed", "open"]
    assert history[0]["id"] < history[1]["id"]


def test_concurrent_clients_get_unique_ids_and_consistent_balances(fake):
    fake.set_order_book("BTCUSDT", bids=[(30_000, 10)], asks=[(30_010, 10)])

    def submit(worker: int) -> None:
        client = make_ccxt_client(fake.url)
        for i in range(5):
            client.create_order(
                "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": f"w{worker}-{i}"}
            )

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(submit, range(6)))

    assert sorted(o["orderId"] for o in fake.orders()) == list(range(1, 31))
    trade_ids = [t["id"] for t in fake.trades()]
    assert trade_ids == sorted(set(trade_ids)) and len(trade_ids) == 30
    assert fake.balances()["BTC"]["free"] == "1.30000000"
    cost = Decimal("30010") * Decimal("0.3") * Decimal("1.001")
    assert Decimal(fake.balances()["USDT"]["free"]) == Decimal(100_000) - cost


# ------------------------------------------------------------------------------ security


def test_bad_signature_and_bad_key_are_authentication_errors(fake):
    wrong_secret = make_ccxt_client(fake.url, secret="not-the-secret")
    wrong_key = make_ccxt_client(fake.url, api_key="someone-else")

    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        wrong_secret.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        wrong_key.fetch_balance()
    assert fake.orders() == []


def test_stale_timestamp_is_refused(fake):
    stale = signed({"timestamp": int(time.time() * 1000) - 20_000, "recvWindow": 5_000})

    response = requests.get(
        f"{fake.url}/api/v3/account?{stale}", headers={"X-MBX-APIKEY": "test"}, timeout=5
    )

    assert response.json() == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }


# ------------------------------------------------------------------------------- faults

FAULT_ERRORS = {
    "429": ccxt.DDoSProtection,  # ccxt raises DDoSProtection (not RateLimitExceeded) for 429
    "418": ccxt.DDoSProtection,
    "500": ccxt.ExchangeNotAvailable,
    "502": ccxt.ExchangeNotAvailable,
    "503": ccxt.ExchangeNotAvailable,
    "504": ccxt.RequestTimeout,
    "timeout": ccxt.RequestTimeout,
    "reset": ccxt.NetworkError,
    "duplicate": ccxt.InvalidOrder,
    "accept_then_timeout": ccxt.RequestTimeout,
    "accept_then_reset": ccxt.NetworkError,
}


def test_every_fault_has_an_expected_error():
    assert set(FAULT_ERRORS) == set(FAULTS)


@pytest.mark.parametrize("fault", sorted(FAULT_ERRORS))
def test_fault_maps_to_the_ccxt_error_a_caller_sees(fake, fault):
    client = make_ccxt_client(fake.url, timeout=500)
    client.load_markets()
    fake.inject(fault)

    with pytest.raises(FAULT_ERRORS[fault]) as raised:
        client.create_order("BTC/USDT", "limit", "buy", 0.1, 25_000, params={"clientOrderId": "F1"})
    after = client.create_order(
        "BTC/USDT", "limit", "buy", 0.1, 25_000, params={"clientOrderId": "F2"}
    )

    if fault == "reset":
        assert not isinstance(raised.value, ccxt.RequestTimeout)
    accepted = fault.startswith("accept_then")
    assert [o["clientOrderId"] for o in fake.orders()] == (["F1", "F2"] if accepted else ["F2"])
    assert after["status"] == "open"  # the fault fired once, then stopped
    assert fake.count_requests("POST", "/api/v3/order") == 2


def test_accept_then_timeout_leaves_one_order_that_a_lookup_finds(fake):
    client = make_ccxt_client(fake.url, timeout=500)
    fake.set_order_book("BTCUSDT", bids=[(30_000, 1)], asks=[(30_010, 1)])
    fake.inject("accept_then_timeout")

    with pytest.raises(ccxt.RequestTimeout):
        client.create_order("BTC/USDT", "market", "buy", 0.1, params={"clientOrderId": "intent-7"})
    found = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "intent-7"})

    assert fake.count_requests("POST", "/api/v3/order") == 1
    assert len(fake.orders()) == 1
    assert (found["clientOrderId"], found["status"], found["filled"]) == ("intent-7", "closed", 0.1)
    submit = [r for r in fake.requests if r["path"] == "/api/v3/order" and r["method"] == "POST"]
    assert submit[0]["status"] is None and submit[0]["fault"] == "accept_then_timeout"


def test_rate_limit_fault_carries_retry_after_and_counts_down(fake):
    fake.inject("429", path="/api/v3/klines", method="GET", count=2, retry_after=7)
    url = f"{fake.url}/api/v3/klines?symbol=BTCUSDT&interval=1h"

    statuses = [requests.get(url, timeout=5) for _ in range(3)]

    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7" and statuses[0].json()["code"] == -1003
    assert fake.pending_faults() == []


def test_inject_names_the_allowed_faults(fake):
    with pytest.raises(ValueError, match="allowed"):
        fake.inject("404")


# -------------------------------------------------------------------- separate process


def test_process_mode_keeps_state_across_an_exchange_crash(tmp_path, shared_data: Path):
    state = tmp_path / "exchange.json"
    frame = pd.read_csv(shared_data / "market" / "binance_ETHUSDT_1h.csv").head(30)

    with FakeBinanceProcess(state_path=state) as first:
        remote = first.remote
        remote.set_order_book("ETHUSDT", bids=[(1_999, 5)], asks=[(2_001, 5)])
        remote.add_candles("ETHUSDT", "1h", frame)
        client = make_ccxt_client(first.url)
        candles = client.fetch_ohlcv("ETH/USDT", "1h", since=ms(frame["timestamp"].iloc[0]))
        client.create_order("ETH/USDT", "market", "buy", 1, params={"clientOrderId": "m1"})
        client.create_order("ETH/USDT", "limit", "buy", 1, 1_500, params={"clientOrderId": "l1"})
        remote.inject("503", path="/api/v3/openOrders", method="GET")
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_open_orders("ETH/USDT")
        port = first.port
        first.kill()  # kill -9: only the state file survives

    with FakeBinanceProcess(state_path=state, port=port) as second:
        client = make_ccxt_client(second.url)
        open_orders = client.fetch_open_orders("ETH/USDT")
        client.cancel_order(None, "ETH/USDT", params={"origClientOrderId": "l1"})
        client.create_order("ETH/USDT", "market", "buy", 1, params={"clientOrderId": "m2"})
        trades = client.fetch_my_trades("ETH/USDT")
        orders = second.remote.orders()
        usdt = second.remote.balances()["USDT"]
        submits = second.remote.count_requests("POST", "/api/v3/order")

    assert len(candles) == 30 and candles[0][4] == frame["close"].iloc[0]
    assert [o["clientOrderId"] for o in open_orders] == ["l1"]
    assert [o["orderId"] for o in orders] == [1, 2, 3]
    assert [o["status"] for o in orders] == ["FILLED", "CANCELED", "FILLED"]
    # 10,000 - two buys of 1 ETH at 2,001 with 0.1 % fee; the cancel released its lock.
    assert usdt == {"free": "5993.99800000", "locked": "0.00000000"}
    assert [int(t["id"]) for t in trades] == [1, 2]
    assert json.loads(state.read_text())["next_order_id"] == 4
    assert submits == 1  # the request log belongs to the process, not the state file


def test_admin_api_refuses_unknown_operations_and_bad_arguments(fake):
    unknown = requests.post(f"{fake.url}/_admin/api_new_order", json={}, timeout=5)
    bad = requests.post(
        f"{fake.url}/_admin/set_price", json={"symbol": "NOPE", "price": 1}, timeout=5
    )

    assert unknown.status_code == 404 and "allowed" in unknown.json()["error"]
    assert bad.status_code == 400 and "unknown symbol" in bad.json()["error"]

"""Building ccxt clients: rate limits on, clear errors, any exchange pointable at 127.0.0.1."""

from __future__ import annotations

import ccxt
import pytest

from tests.fakes.binance_server import FakeBinance
from trading_core.exchanges import create_exchange
from trading_core.market.ccxt_source import CcxtMarket


def test_clients_are_rate_limited_with_a_timeout_and_no_keys_by_default() -> None:
    client = create_exchange("kraken", timeout_ms=2500, options={"adjustForTimeDifference": False})
    assert isinstance(client, ccxt.kraken)
    assert client.enableRateLimit is True and client.timeout == 2500
    assert client.options["adjustForTimeDifference"] is False
    assert not client.apiKey and not client.secret


def test_an_unknown_id_says_where_the_ids_are_and_suggests_close_ones() -> None:
    with pytest.raises(ValueError) as failure:
        create_exchange("binanse")
    message = str(failure.value)
    assert "ccxt.exchanges" in message and "print(ccxt.exchanges)" in message
    assert "'binance'" in message and "kraken" not in message  # no dump of 100+ ids


def test_sandbox_uses_the_testnet_and_is_refused_where_there_is_none() -> None:
    assert "testnet" in create_exchange("binance", sandbox=True).urls["api"]["public"]
    with pytest.raises(ValueError, match="no sandbox"):
        create_exchange("upbit", sandbox=True)


def test_url_overrides_replace_one_entry_or_rebase_them_all() -> None:
    one = create_exchange("binance", url_overrides={"public": "http://127.0.0.1:9/api/v3"})
    assert one.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    assert one.urls["api"]["private"].startswith("https://")
    every = create_exchange("kraken", url_overrides={"*": "http://127.0.0.1:9"})
    assert every.urls["api"]["public"] == "http://127.0.0.1:9"
    assert every.urls["api"]["zendesk"] == "http://127.0.0.1:9/api/v2/help_center/en-us/articles"
    with pytest.raises(ValueError, match=r"no API URL named 'nope'; allowed: \[.*'public'"):
        create_exchange("binance", url_overrides={"nope": "http://127.0.0.1:9"})


def test_keys_never_appear_in_errors() -> None:
    with pytest.raises(ValueError) as failure:
        create_exchange("binance", api_key="KEY-123", secret="SECRET-456", url_overrides={"x": "y"})
    assert "KEY-123" not in str(failure.value) and "SECRET-456" not in str(failure.value)


@pytest.mark.integration
def test_a_created_client_talks_to_a_local_fake() -> None:
    with FakeBinance() as fake:
        fake.set_time("2025-01-01T00:00:00Z")
        client = create_exchange(
            "binance",
            sandbox=True,
            url_overrides={"*": fake.url},
            timeout_ms=1000,
            options={"fetchMarkets": {"types": ["spot"]}},
        )
        market = CcxtMarket(client_factory=lambda _: client)
        assert str(market.fetch_time("binance")) == "2025-01-01 00:00:00"
        assert market.fetch_order_book("binance", "BTC/USDT", 5).source == "ccxt"

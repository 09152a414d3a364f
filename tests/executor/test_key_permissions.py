"""Testnet and live starts refuse keys the exchange rejects and keys that can withdraw
(Binance reports them: GET /sapi/v1/account/apiRestrictions); where the exchange does not
say, a warning, and the start goes on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from executor.brokers.base import BrokerUnavailable
from executor.brokers.ccxt_broker import CcxtBroker, ExchangeSetupError
from executor.secrets import ApiKeys
from tests.executor.test_process import start
from tests.fakes.binance_server import FakeBinance, make_ccxt_client
from trading_core.config import FeesConfig
from trading_core.retry import RetryPolicy

pytestmark = pytest.mark.integration

KEY, SECRET = "PERMISSIONSKEY0123456789", "PERMISSIONSSECRET0123456789"
RESTRICTIONS = "/sapi/v1/account/apiRestrictions"
KEYS = ApiKeys(KEY, SECRET)
FAST = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.01, jitter=False)


@pytest.fixture
def fake() -> FakeBinance:
    with FakeBinance(api_key=KEY, secret=SECRET) as server:
        yield server
        assert server.internal_errors == []


def connect(fake: FakeBinance, mode: str, keys: ApiKeys = KEYS) -> CcxtBroker:
    return CcxtBroker.connect(
        "binance", keys, sandbox=mode == "testnet", fees=FeesConfig(), base_url=fake.url
    )


@pytest.mark.parametrize("mode", ["testnet", "live"])
def test_a_key_that_cannot_withdraw_connects(
    fake: FakeBinance, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="executor.ccxt"):
        connect(fake, mode)
    assert fake.count_requests("GET", RESTRICTIONS) == 1
    assert "API key cannot withdraw" in caplog.text


@pytest.mark.parametrize("mode", ["testnet", "live"])
def test_a_key_with_withdrawal_rights_is_refused(fake: FakeBinance, mode: str) -> None:
    fake.set_key_permissions(enableWithdrawals=True)
    with pytest.raises(ExchangeSetupError, match="withdrawal rights"):
        connect(fake, mode)


@pytest.mark.parametrize("mode", ["testnet", "live"])
@pytest.mark.parametrize(
    ("wrong", "code"),
    [
        (ApiKeys("SOMEONEELSESKEY0123", "SOMEONEELSESSECRET0123"), "-2015"),
        (ApiKeys(KEY, "SOMEONEELSESSECRET0123"), "-1022"),  # the signature does not match
    ],
)
def test_keys_the_exchange_rejects_are_refused_without_printing_them(
    fake: FakeBinance, mode: str, wrong: ApiKeys, code: str
) -> None:
    with pytest.raises(ExchangeSetupError, match="refused the API key") as refused:
        connect(fake, mode, wrong)
    assert code in str(refused.value)
    assert all(value not in str(refused.value) for value in (*wrong.values(), KEY, SECRET))


def test_where_the_exchange_does_not_report_permissions_it_warns_and_checks_the_keys(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    """ccxt has no testnet URL for Binance's sapi; a gateway may answer 404."""

    def broker(api_key: str = KEY, sapi: str | None = None) -> CcxtBroker:
        client = make_ccxt_client(fake.url, api_key, SECRET)
        if sapi is not None:
            client.urls["api"]["sapi"] = sapi
        return CcxtBroker(client, fees=FeesConfig(), retry=FAST)

    gateway = f"{fake.url}/no-such-api/v1"
    with caplog.at_level(logging.WARNING, logger="executor.ccxt"):
        broker().check_key_permissions()
        broker(sapi=gateway).check_key_permissions()
    assert caplog.text.count("could not check the API key's permissions") == 2
    assert fake.count_requests("GET", RESTRICTIONS) == 0
    assert fake.count_requests("GET", "/api/v3/account") == 2  # the keys were tried anyway
    with pytest.raises(ExchangeSetupError, match="refused the API key"):
        broker("SOMEONEELSESKEY0123", sapi=gateway).check_key_permissions()


def test_an_unknown_exchange_and_an_unreachable_one_are_setup_errors() -> None:
    with pytest.raises(ExchangeSetupError, match=r"unknown exchange id 'binanse'.*binance"):
        CcxtBroker.connect("binanse", KEYS, sandbox=True, fees=FeesConfig())
    with pytest.raises(BrokerUnavailable, match="key permissions"):
        CcxtBroker.connect(
            "binance", KEYS, sandbox=False, fees=FeesConfig(), base_url="http://127.0.0.1:9"
        )


@pytest.mark.parametrize("mode", ["testnet", "live"])
def test_the_executor_refuses_to_start_with_a_key_that_can_withdraw(
    fake: FakeBinance, tmp_path: Path, mode: str
) -> None:
    fake.set_key_permissions(enableWithdrawals=True)
    home = tmp_path / "home"
    process = start(
        home,
        "--mode",
        mode,
        "--i-understand-live-trading",
        "--exchange",
        "binance",
        "--exchange-url",
        fake.url,
        "--no-dagster-report",
        TRADING_API_KEY=KEY,
        TRADING_API_SECRET=SECRET,
    )
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    (refusal,) = [line for line in lines if line["msg"] == "refusing to start"]
    assert "withdrawal rights" in refusal["reason"]
    assert "Traceback" not in err
    assert fake.count_requests("POST", "/api/v3/order") == 0

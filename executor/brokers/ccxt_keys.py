"""The ccxt broker's key checks: keys the exchange refuses, or that can withdraw, are refused.

Where the exchange reports what a key may do (Binance's account API), a key with withdrawal
rights is a setup error (``ExchangeSetupError``); elsewhere a warning, and a balance read
proves the keys are accepted. ``route_permissions_to`` points that account API at a gateway
standing in for the testnet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import ccxt

from executor.brokers.base import BrokerError
from executor.brokers.ccxt_calls import CcxtCalls, T, error_reason, log
from trading_core.retry import is_retryable

# Where ccxt can ask the exchange what a key may do: Binance's
# GET /sapi/v1/account/apiRestrictions (the "sapi" API table).
PERMISSIONS_API = "sapi"
PERMISSIONS_CALL = "sapiGetAccountApiRestrictions"


class ExchangeSetupError(BrokerError):
    """The exchange cannot be traded as configured (an unknown exchange id, keys it refuses,
    a key with withdrawal rights): raised by ``connect``; the executor refuses to start."""


def _not_served(exc: BaseException) -> bool:
    """The endpoint does not exist there (HTTP 404), e.g. a gateway without the account API."""
    return isinstance(exc, ccxt.ExchangeNotAvailable) and " 404 " in str(exc)


def route_permissions_to(client: ccxt.Exchange, base_url: str) -> None:
    """ccxt knows no testnet URL for the account API that reports key permissions; a gateway
    or test double standing in for every endpoint of the testnet answers it too."""
    api = client.urls.get("api")
    mainnet = (client.urls.get("apiBackup") or {}).get(PERMISSIONS_API)
    if isinstance(api, dict) and PERMISSIONS_API not in api and isinstance(mainnet, str):
        api[PERMISSIONS_API] = base_url.rstrip("/") + urlsplit(mainnet).path


class CcxtKeyChecks(CcxtCalls):
    """Start-up checks of the API keys (``check_key_permissions``)."""

    def _authenticated(
        self, what: str, fn: Callable[[], T], retry_on: Callable[[BaseException], bool]
    ) -> T:
        """A signed read at start-up: keys the exchange refuses, or any other definitive
        error, are a setup error; an unreachable exchange is ``BrokerUnavailable``."""
        try:
            return self._read(what, fn, retry_on)
        except ccxt.AuthenticationError as exc:
            raise ExchangeSetupError(
                f"{self.exchange} refused the API key ({error_reason(exc)}); check TRADING_API_KEY "
                "and TRADING_API_SECRET: the key must belong to this exchange and mode (testnet "
                "and live keys differ) and allow this machine's IP"
            ) from None
        except ccxt.ExchangeError as exc:
            raise ExchangeSetupError(
                f"{self.exchange} {what} failed: {error_reason(exc)}"
            ) from None

    def check_key_permissions(self) -> None:
        """Refuse keys the exchange rejects and keys that can withdraw.

        Where the exchange reports what a key may do (Binance), a key with withdrawal rights
        is refused: the executor never withdraws, so a leaked key must not be able to.
        Elsewhere a warning says the permissions could not be checked, and a balance read
        proves the exchange accepts the keys.
        """
        restrictions = self._key_restrictions()
        withdrawals = (restrictions or {}).get("enableWithdrawals")
        if withdrawals is True:
            raise ExchangeSetupError(
                f"the {self.exchange} API key has withdrawal rights (enableWithdrawals): the "
                "executor never withdraws, so give it a key that can only read and trade"
            )
        if withdrawals is False:
            log.info("API key cannot withdraw", extra={"exchange": self.exchange})
            return
        log.warning(
            "could not check the API key's permissions: the exchange does not report them; "
            "make sure the key cannot withdraw",
            extra={"exchange": self.exchange},
        )
        self._authenticated("fetch_balance", self.client.fetch_balance, is_retryable)

    def _key_restrictions(self) -> dict[str, Any] | None:
        """What the exchange reports the key may do; None where it does not report it."""
        probe = getattr(self.client, PERMISSIONS_CALL, None)
        api = self.client.urls.get("api")
        # ccxt has no URL for it in some modes (Binance's testnet).
        if probe is None or not isinstance(api, dict) or PERMISSIONS_API not in api:
            return None
        try:
            answer = self._authenticated(
                "key permissions", probe, lambda exc: is_retryable(exc) and not _not_served(exc)
            )
        except ccxt.ExchangeNotAvailable:  # a 404, the one network error not retried
            return None
        return answer if isinstance(answer, dict) else None

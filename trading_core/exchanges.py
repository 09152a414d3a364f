"""Building ccxt exchange clients the one way the project does: rate limiting on, bounded
timeouts, optional sandbox, and URL overrides so tests can point any exchange at 127.0.0.1.

Used by the ccxt market source and by the executor's ccxt broker. Keys are passed in by the
caller (read from the environment or secret files); they are never logged or put in errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt

REBASE_ALL = "*"


def _unknown_exchange(exchange_id: str) -> ValueError:
    close = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
    hint = f"; did you mean {close}?" if close else ""
    return ValueError(
        f"unknown exchange id {exchange_id!r}: it must be one of ccxt.exchanges "
        f"({len(ccxt.exchanges)} ids; list them with "
        f"`python -c 'import ccxt; print(ccxt.exchanges)'`){hint}"
    )


def _apply_url_overrides(client: ccxt.Exchange, overrides: Mapping[str, str]) -> None:
    """``{name: url}`` replaces the entry ``name`` of ``client.urls['api']``;
    ``{'*': base}`` rebases every API URL onto ``base``, keeping each URL's path."""
    api = client.urls.get("api")
    if isinstance(api, str):
        api = client.urls["api"] = {"api": api}
    for name, url in overrides.items():
        if name == REBASE_ALL:
            base = url.rstrip("/")
            for key, endpoint in api.items():
                if isinstance(endpoint, str):
                    api[key] = base + urlsplit(endpoint).path
        elif name in api:
            api[name] = url
        else:
            raise ValueError(
                f"url_overrides: {client.id} has no API URL named {name!r}; "
                f"allowed: {sorted(api)} or {REBASE_ALL!r} to rebase them all"
            )


def create_exchange(
    exchange_id: str,
    *,
    sandbox: bool = False,
    api_key: str | None = None,
    secret: str | None = None,
    url_overrides: Mapping[str, str] | None = None,
    timeout_ms: int = 10_000,
    options: Mapping[str, Any] | None = None,
) -> ccxt.Exchange:
    """A ccxt client for ``exchange_id`` with ``enableRateLimit`` on.

    ``sandbox`` switches to the exchange's testnet (an error if it has none); ``url_overrides``
    is applied after it (see :func:`_apply_url_overrides`); ``options`` are merged into
    ccxt's ``options``. No request is made here.
    """
    if exchange_id not in ccxt.exchanges:
        raise _unknown_exchange(exchange_id)
    if timeout_ms <= 0:
        raise ValueError(f"timeout_ms must be > 0, got {timeout_ms}")
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": dict(options or {}),
    }
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    client: ccxt.Exchange = getattr(ccxt, exchange_id)(config)
    if sandbox:
        # Without test URLs ccxt fails with a bare TypeError; say what is wrong instead.
        if not client.urls.get("test"):
            raise ValueError(f"{exchange_id} has no sandbox (testnet) in ccxt")
        client.set_sandbox_mode(True)
    if url_overrides:
        _apply_url_overrides(client, url_overrides)
    return client

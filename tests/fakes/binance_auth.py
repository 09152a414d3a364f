"""Binance request security: API-key header, HMAC-SHA256 signature, timestamp window.

Checked exactly as Binance documents it ("SIGNED endpoint security"): the signature covers
the query string concatenated with the request body, as sent, minus the ``signature``
parameter itself; the request must arrive within ``recvWindow`` ms of its ``timestamp`` and
not more than 1 s ahead of the server. A client that signs the wrong bytes fails here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from tests.fakes.binance_errors import BinanceError, mandatory

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
MAX_AHEAD_MS = 1_000


def _without_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` with its ``signature=...`` item removed, and that signature."""
    kept: list[str] = []
    signature = None
    for item in raw.split("&") if raw else []:
        if item.startswith("signature="):
            signature = item[len("signature=") :]
        else:
            kept.append(item)
    return "&".join(kept), signature


def check_api_key(headers: Mapping[str, str], api_key: str) -> None:
    sent = headers.get("X-MBX-APIKEY")
    if not sent:
        raise BinanceError(-2014, "API-key format invalid.", status=401)
    if sent != api_key:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def check_signed(
    query: str,
    body: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    api_key: str,
    secret: str,
    now_ms: int,
) -> None:
    """Raise the Binance error a real server answers to a badly signed or stale request."""
    check_api_key(headers, api_key)
    query_payload, query_signature = _without_signature(query)
    body_payload, body_signature = _without_signature(body)
    signature = query_signature or body_signature
    if not signature:
        raise mandatory("signature")
    expected = hmac.new(
        secret.encode(), (query_payload + body_payload).encode(), hashlib.sha256
    ).hexdigest()
    # HMAC signatures are not case-sensitive on Binance.
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")

    raw_timestamp = params.get("timestamp")
    if not raw_timestamp or not raw_timestamp.isdigit():
        raise mandatory("timestamp")
    raw_window = params.get("recvWindow")
    try:
        recv_window = float(raw_window) if raw_window else DEFAULT_RECV_WINDOW_MS
    except ValueError:
        raise mandatory("recvWindow") from None
    if recv_window > MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    timestamp = int(raw_timestamp)
    if timestamp > now_ms + MAX_AHEAD_MS:
        raise BinanceError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now_ms - timestamp > recv_window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")

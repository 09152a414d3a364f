"""Fault injection for the fake exchange: what goes wrong, on which requests, how often.

A rule fires for the next ``count`` requests matching its method and path, then disappears.
HTTP faults answer like Binance's edge does (429/418 carry ``Retry-After`` and the -1003
body; 5xx come from the gateway as text, so ccxt maps them by status). Connection faults
never answer: the server either holds the request until the client gives up (``timeout``)
or drops the connection (``reset``). The ``accept_then_*`` variants first process the
request, so an order exists although the client saw only a failure: the case a client
order id and ``GET /api/v3/order?origClientOrderId=`` exist for.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Literal, get_args

Fault = Literal[
    "429",
    "418",
    "500",
    "502",
    "503",
    "504",
    "timeout",
    "reset",
    "accept_then_timeout",
    "accept_then_reset",
    "duplicate",
]
FAULTS: tuple[str, ...] = get_args(Fault)
ANY = "*"

# Connection faults: no HTTP response at all.
HANGS = ("timeout", "accept_then_timeout")
RESETS = ("reset", "accept_then_reset")
ACCEPTS = ("accept_then_timeout", "accept_then_reset")
CONNECTION_FAULTS = HANGS + RESETS


@dataclass
class FaultRule:
    fault: str
    path: str
    method: str
    remaining: int
    retry_after: int

    def matches(self, method: str, path: str) -> bool:
        return self.method in (ANY, method) and self.path in (ANY, path)


class FaultPlan:
    """Pending fault rules, consumed in the order they were added (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(
        self,
        fault: str,
        path: str = "/api/v3/order",
        method: str = "POST",
        count: int = 1,
        retry_after: int = 1,
    ) -> None:
        if str(fault) not in FAULTS:
            raise ValueError(f"fault {fault!r}; allowed: {list(FAULTS)}")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if retry_after < 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {retry_after}")
        if path != ANY and not path.startswith("/"):
            raise ValueError(f"path {path!r} must start with '/' (or be {ANY!r})")
        rule = FaultRule(str(fault), path, method.upper(), count, retry_after)
        with self._lock:
            self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule this request triggers, if any (its count goes down by one)."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, object]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]


_GATEWAY_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


def http_fault(rule: FaultRule, now_ms: int) -> tuple[int, object, dict[str, str]]:
    """Status, payload and headers of an HTTP-level fault (not for connection faults)."""
    if rule.fault == "429":
        return (
            429,
            {
                "code": -1003,
                "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests "
                "per minute. Please use the websocket for live updates to avoid polling the API.",
            },
            {"Retry-After": str(rule.retry_after)},
        )
    if rule.fault == "418":
        banned_until = now_ms + rule.retry_after * 1000
        return (
            418,
            {
                "code": -1003,
                "msg": f"Way too much request weight used; IP banned until {banned_until}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
            },
            {"Retry-After": str(rule.retry_after)},
        )
    if rule.fault == "duplicate":
        return 400, {"code": -2010, "msg": "Duplicate order sent."}, {}
    status = int(rule.fault)
    text = _GATEWAY_TEXT[status]
    return status, f"<html><head><title>{status} {text}</title></head></html>", {}

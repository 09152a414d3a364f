"""Binance error responses: HTTP status plus ``{"code": ..., "msg": ...}``.

Codes and messages are Binance's own (spot REST API "Error codes" page) because ccxt maps
them to its exception classes by code and by exact message: a fake that invents its own
codes would let a broken client pass.
"""

from __future__ import annotations


class BinanceError(Exception):
    """An error the fake answers with, exactly as Binance would send it."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def payload(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


def illegal_chars(name: str, legal: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def invalid_value(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def filter_failure(filter_type: str) -> BinanceError:
    return BinanceError(-1013, f"Filter failure: {filter_type}")


def order_rejected(msg: str) -> BinanceError:
    """-2010 NEW_ORDER_REJECTED (duplicate id, balance, would-match, would-trigger...)."""
    return BinanceError(-2010, msg)


DUPLICATE_ORDER = "Duplicate order sent."
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Stop price would trigger immediately."


def order_does_not_exist() -> BinanceError:
    return BinanceError(-2013, "Order does not exist.")


def unknown_order() -> BinanceError:
    return BinanceError(-2011, "Unknown order sent.")


def window_too_long(hours: int) -> BinanceError:
    return BinanceError(-1127, f"More than {hours} hours between startTime and endTime.")

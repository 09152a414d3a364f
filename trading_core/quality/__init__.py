"""Data quality for raw market data: Great Expectations suites as code and quarantine splits.

Great Expectations is imported only when a validation runs (it is slow to import). The names
below are imported from their modules on first use (PEP 562), so a module of the package
(the spike hold, the release ledger) imports without the suites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trading_core.lazy_exports import lazy_exports

if TYPE_CHECKING:  # the same names, for type checkers and readers
    from trading_core.quality.ohlcv import (
        OHLCV_CHECK_SPECS,
        OHLCV_CHECKS,
        OHLCV_QUARANTINE_REASONS,
        quarantine_ohlcv,
        validate_ohlcv,
    )
    from trading_core.quality.order_book import (
        ORDER_BOOK_CHECK_SPECS,
        ORDER_BOOK_CHECKS,
        ORDER_BOOK_QUARANTINE_REASONS,
        quarantine_order_book,
        validate_order_book,
    )
    from trading_core.quality.outcome import CheckOutcome, CheckSpec, blocks

# public name -> the module (under trading_core.quality) that defines it
_MODULE_OF: dict[str, str] = {
    "OHLCV_CHECKS": "ohlcv",
    "OHLCV_CHECK_SPECS": "ohlcv",
    "OHLCV_QUARANTINE_REASONS": "ohlcv",
    "quarantine_ohlcv": "ohlcv",
    "validate_ohlcv": "ohlcv",
    "ORDER_BOOK_CHECKS": "order_book",
    "ORDER_BOOK_CHECK_SPECS": "order_book",
    "ORDER_BOOK_QUARANTINE_REASONS": "order_book",
    "quarantine_order_book": "order_book",
    "validate_order_book": "order_book",
    "CheckOutcome": "outcome",
    "CheckSpec": "outcome",
    "blocks": "outcome",
}

__all__ = [
    "OHLCV_CHECKS",
    "OHLCV_CHECK_SPECS",
    "OHLCV_QUARANTINE_REASONS",
    "ORDER_BOOK_CHECKS",
    "ORDER_BOOK_CHECK_SPECS",
    "ORDER_BOOK_QUARANTINE_REASONS",
    "CheckOutcome",
    "CheckSpec",
    "blocks",
    "quarantine_ohlcv",
    "quarantine_order_book",
    "validate_ohlcv",
    "validate_order_book",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _MODULE_OF)

"""Data quality for raw market data: Great Expectations suites as code and quarantine splits.

Great Expectations is imported only when a validation runs (it is slow to import).
"""

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

"""Value conventions of the Binance REST API and the fake's controllable clock.

Binance sends prices and quantities as decimal strings with 8 decimals ("0.10000000") and
times as integer milliseconds since the epoch. The fake keeps amounts as ``Decimal`` so that
step-size checks and balances are exact, as they are on the exchange.
"""

from __future__ import annotations

import numbers
import re
import threading
import time
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from tests.fakes.binance_errors import illegal_chars

ZERO = Decimal(0)
EIGHT = Decimal("0.00000001")  # Binance amounts carry 8 decimals
_DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_DECIMAL_RE = re.compile(_DECIMAL_PATTERN)

Number = Decimal | float | int | str


def fmt(value: Decimal) -> str:
    """Binance's 8-decimal string form of an amount."""
    return f"{value:.8f}"


def dec(value: Number) -> Decimal:
    """An amount given by a test (float, int, str or Decimal) as an exact Decimal."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        # repr() is the shortest string that round-trips: 0.1 -> "0.1", not 0.1000000000000000055
        return Decimal(repr(value))
    return Decimal(str(value))


def parse_decimal_param(name: str, raw: str) -> Decimal:
    """A decimal request parameter, rejected like Binance rejects malformed numbers."""
    if not _DECIMAL_RE.match(raw):
        raise illegal_chars(name, _DECIMAL_PATTERN)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise illegal_chars(name, _DECIMAL_PATTERN) from None


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``value``."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def is_multiple(value: Decimal, step: Decimal, origin: Decimal = ZERO) -> bool:
    return step <= 0 or (value - origin) % step == 0


Moment = datetime | int | str  # pandas Timestamps are datetimes


def to_ms(moment: Moment) -> int:
    """Milliseconds since the epoch of a datetime, ISO text or ms; naive times are UTC
    (the project's convention)."""
    if isinstance(moment, bool):
        raise TypeError(f"a time must be a datetime, ISO text or int ms, got {moment!r}")
    if isinstance(moment, numbers.Integral):
        return int(moment)
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        raise TypeError(f"a time must be a datetime, ISO text or int ms, got {moment!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


class FakeClock:
    """The exchange's notion of "now": wall-clock time unless a test freezes it.

    Tests freeze it to model a still-open candle (klines only shows candles whose open time
    has passed) and to get predictable order and trade times. Request signatures are still
    checked against the wall clock: ccxt stamps requests with its own clock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frozen_ms: int | None = None

    def now_ms(self) -> int:
        with self._lock:
            return self._frozen_ms if self._frozen_ms is not None else wall_ms()

    def set(self, moment: Moment) -> None:
        with self._lock:
            self._frozen_ms = to_ms(moment)

    def advance(self, ms: int) -> None:
        """Move a frozen clock forward (freezing it at wall time first if it was running)."""
        with self._lock:
            base = self._frozen_ms if self._frozen_ms is not None else wall_ms()
            self._frozen_ms = base + ms

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen_ms = None


def wall_ms() -> int:
    return int(time.time() * 1000)

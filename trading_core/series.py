"""Series and bar keys: ``exchange|symbol|timeframe`` and ``exchange|symbol|timeframe|ts``.

These strings are stored outside the code (raw/ohlcv's ``latest_bars`` metadata, the new-bar
sensor's cursor, evaluation run keys and run config), so their format never changes: the
parts joined by ``|``, the bar's open time as ``datetime.isoformat()``. They are built and
read only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SEPARATOR = "|"


def _check_part(kind: str, name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} {name} must be a non-empty string, got {value!r}")
    if SEPARATOR in value:
        raise ValueError(f"{kind} {name} {value!r} must not contain {SEPARATOR!r}")


@dataclass(frozen=True)
class SeriesKey:
    """One candle series: ``binance|BTC/USDT|1h``."""

    exchange: str
    symbol: str
    timeframe: str

    def __post_init__(self) -> None:
        for name in ("exchange", "symbol", "timeframe"):
            _check_part("series", name, getattr(self, name))

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        parts = text.split(SEPARATOR) if isinstance(text, str) else []
        if len(parts) != 3:
            raise ValueError(f"series key {text!r} must be exchange|symbol|timeframe")
        return cls(*parts)

    def __str__(self) -> str:
        return SEPARATOR.join((self.exchange, self.symbol, self.timeframe))


@dataclass(frozen=True)
class BarKey:
    """One bar of a series, by its open time: ``binance|BTC/USDT|1h|2026-01-01T10:00:00``."""

    series: SeriesKey
    ts: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.series, SeriesKey):
            raise ValueError(f"bar series must be a SeriesKey, got {self.series!r}")
        if not isinstance(self.ts, datetime):
            raise ValueError(f"bar ts must be a datetime, got {self.ts!r}")

    @property
    def exchange(self) -> str:
        return self.series.exchange

    @property
    def symbol(self) -> str:
        return self.series.symbol

    @property
    def timeframe(self) -> str:
        return self.series.timeframe

    @classmethod
    def parse(cls, text: str) -> BarKey:
        series, _, ts = text.rpartition(SEPARATOR) if isinstance(text, str) else ("", "", "")
        if series.count(SEPARATOR) != 2:
            raise ValueError(f"bar key {text!r} must be exchange|symbol|timeframe|ts")
        try:
            moment = datetime.fromisoformat(ts)
        except ValueError:
            raise ValueError(f"bar key {text!r}: {ts!r} is not an ISO open time") from None
        return cls(SeriesKey.parse(series), moment)

    def __str__(self) -> str:
        return f"{self.series}{SEPARATOR}{self.ts.isoformat()}"

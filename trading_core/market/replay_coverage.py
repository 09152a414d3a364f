"""What a replay directory covers: which series it has files for, and the time span they play.

``coverage_problems`` is what the configuration checks at load time (a series asked for with
no file names the setting to change and lists what the directory has); ``replay_span`` is
where a replayed market begins and ends, for the market clock and the launcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from trading_core.market.replay import ReplayMarket, ReplaySeries, scan_candle_files
from trading_core.timeframes import TIMEFRAME_SECONDS


def describe(files: Iterable[ReplaySeries]) -> str:
    """``binance BTC/USDT [1d, 1h], binance ETH/USDT [1h]``: the series of a directory."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for series in sorted(files):
        grouped.setdefault((series.exchange, series.symbol), []).append(series.timeframe)
    return ", ".join(
        f"{exchange} {symbol} [{', '.join(sorted(tfs, key=TIMEFRAME_SECONDS.__getitem__))}]"
        for (exchange, symbol), tfs in grouped.items()
    )


def coverage_problems(
    directory: Path, exchanges: list[str], symbols: list[str], timeframes: list[str]
) -> list[tuple[str, str]]:
    """``(field, problem)`` for every configured series without a candle file in
    ``directory``, charged to the setting that is wrong: an exchange with no file at all, a
    symbol its exchange has no file of, else the timeframe. Empty when everything is there."""
    files = set(scan_candle_files(directory))
    has = f"{directory} has: {describe(files) or 'no candle files'}"
    problems: list[tuple[str, str]] = []
    for exchange in exchanges:
        if not any(s.exchange == exchange for s in files):
            problems.append(("market.exchanges", f"no replay file of exchange {exchange!r}; {has}"))
            continue
        for symbol in symbols:
            if not any(s[:2] == (exchange, symbol) for s in files):
                problems.append(("market.symbols", f"no replay file of {exchange} {symbol}; {has}"))
                continue
            missing = [tf for tf in timeframes if ReplaySeries(exchange, symbol, tf) not in files]
            if missing:
                problems.append(
                    (
                        "market.timeframes",
                        f"no replay file of {exchange} {symbol} {', '.join(missing)}; {has}",
                    )
                )
    return problems


def replay_span(
    directory: Path, series: Iterable[ReplaySeries]
) -> tuple[datetime, datetime] | None:
    """From when to when the replay plays ``series``: the latest first candle (every series
    has begun) and the latest last close (the market has nothing newer). Series without a
    file are left out; None when no series has a candle. Parsed once per file version."""
    files = scan_candle_files(directory)
    wanted = tuple(s for s in sorted(set(series)) if s in files)
    stamps = tuple((files[s].stat().st_mtime_ns, files[s].stat().st_size) for s in wanted)
    return _span(directory.resolve(), wanted, stamps)


@lru_cache(maxsize=16)
def _span(
    directory: Path, series: tuple[ReplaySeries, ...], stamps: tuple[tuple[int, int], ...]
) -> tuple[datetime, datetime] | None:
    del stamps  # part of the cache key only: a rewritten file is read again
    market = ReplayMarket(directory)
    spans = [span for s in series if (span := market.span(*s)) is not None]
    if not spans:
        return None
    return max(first for first, _ in spans), max(end for _, end in spans)

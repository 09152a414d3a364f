"""Loading bars for research: CSVs in the layout of ``../shared/data/market`` and windows.

Research frames have ``ts`` (bar OPEN time, naive UTC ``datetime64``) and ``open``, ``high``,
``low``, ``close``, ``volume``, oldest first - the ``raw/ohlcv`` contract minus the key
columns. A CSV's own time column (``timestamp`` in the shared data) is parsed into ``ts``.
A CSV's bars go through the spike hold of ingest and live (``hold_spikes``), so a backtest
never trades on a bar the live path holds out of the signals, and decides after a release
on the history live has (``trading_core.backtest.decisions``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trading_core.backtest.decisions import VISIBLE_FROM
from trading_core.indicators import PRICE_COLUMNS
from trading_core.quality.spike_policy import SpikePolicy
from trading_core.quality.spike_visibility import NEVER, spike_visibility
from trading_core.timeframes import TIMEFRAME_SECONDS

if TYPE_CHECKING:  # the release ledger (the quality package) only when a file has releases
    from trading_core.quality.releases import Release

log = logging.getLogger(__name__)

CSV_HEADER = "timestamp,open,high,low,close,volume"
SECONDS_PER_YEAR = 365 * 86_400


class DataError(ValueError):
    """Bars cannot be read or used; the message names the file or column and what is expected."""


def to_naive_utc(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC ``datetime64``: aware values are converted, naive taken as UTC."""
    parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    return parsed.dt.tz_localize(None)


TIME_COLUMNS: tuple[str, ...] = ("timestamp", "ts")


def read_csv_table(path: Path | str) -> pd.DataFrame:
    """A CSV as read, cells untouched (time stays text); errors name the file and the header.

    Read once with pandas' own inference, which keeps a column of ISO times as its text and
    costs a third of a read that names the time column's type; read again as text only when
    inference turned a time column into something else (epoch numbers, mixed chunks)."""
    file = Path(path)
    try:
        with warnings.catch_warnings():  # mixed chunks: the second read below settles them
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            table = pd.read_csv(file)
        if all(_kept_as_text(table[c]) for c in TIME_COLUMNS if c in table.columns):
            return table
        return pd.read_csv(file, dtype=dict.fromkeys(TIME_COLUMNS, str))
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(
            f"cannot read {file}: {err}; expected a CSV with header {CSV_HEADER}"
        ) from err


def _kept_as_text(column: pd.Series) -> bool:
    """Whether inference kept ``column`` as the file's text, the type a read with
    ``dtype=str`` gives (an empty or mixed column is ``object``: read again)."""
    return isinstance(column.dtype, pd.StringDtype)


def time_column(table: pd.DataFrame) -> str:
    """The table's time column: ``timestamp`` (shared data layout) or ``ts``."""
    return "ts" if "ts" in table.columns and "timestamp" not in table.columns else "timestamp"


def parse_ohlcv(
    table: pd.DataFrame,
    origin: str = "bars",
    spike_policy: SpikePolicy | None = None,
    released: Mapping[datetime, datetime] | None = None,
) -> pd.DataFrame:
    """Research bars (``ts`` + prices) from a table with a time column and OHLCV columns,
    through the spike hold (``hold_spikes``; ``spike_policy`` default: ``SpikePolicy()``, the
    defaults of ``market.*``; ``released``: operator releases, bar open time ->
    ``released_at``)."""
    source = time_column(table)
    missing = [c for c in (source, *PRICE_COLUMNS) if c not in table.columns]
    if missing:
        raise DataError(
            f"{origin} lacks columns {missing}; expected header {CSV_HEADER} "
            f"(got {','.join(map(str, table.columns))})"
        )
    try:
        bars = table[list(PRICE_COLUMNS)].astype(float)
        ts = to_naive_utc(table[source])
    except (ValueError, TypeError) as err:
        raise DataError(
            f"{origin}: unparseable values ({err}); expected header {CSV_HEADER}"
        ) from err
    bars.insert(0, "ts", ts)
    if bars[list(PRICE_COLUMNS)].isna().any().any():
        raise DataError(f"{origin}: empty price cells; every row needs {list(PRICE_COLUMNS)}")
    return hold_spikes(check_bars(bars, origin), spike_policy, origin=origin, released=released)


def read_ohlcv_csv(
    path: Path | str,
    spike_policy: SpikePolicy | None = None,
    releases: Sequence[Release] = (),
) -> pd.DataFrame:
    """Bars from a CSV with header ``timestamp,open,high,low,close,volume`` (or ``ts,...``).

    ``spike_policy``: the configured hold (``spike_policy_of(config.market)``); ``releases``:
    the operator's release ledger (``read_releases(ledger_path(home))``), matched to the file
    by its replay-layout name (``binance_BTCUSDT_1h.csv``)."""
    released = file_releases(path, releases)
    return parse_ohlcv(read_csv_table(path), str(path), spike_policy, released)


def file_releases(
    path: Path | str, releases: Sequence[Release]
) -> Mapping[datetime, datetime] | None:
    """The operator releases of the series a replay-layout file holds (bar open time ->
    ``released_at``); None without releases or for a file named outside the layout."""
    if not releases:
        return None
    from trading_core.quality.releases import release_times

    series = file_series(Path(path))
    if series is None:
        log.warning("%s: not a replay-layout name; operator releases not applied", path)
        return None
    return release_times(list(releases), *series)


def file_series(path: Path) -> tuple[str, str, str] | None:
    """``(exchange, symbol, timeframe)`` of a replay-layout file name, else None."""
    from trading_core.market.replay import scan_candle_files

    found = [s for s, file in scan_candle_files(path.parent).items() if file.name == path.name]
    return (found[0].exchange, found[0].symbol, found[0].timeframe) if found else None


def bar_timeframe(ts: pd.Series) -> str | None:
    """The timeframe whose length is the bars' median spacing (None when none is)."""
    if len(ts) < 2:
        return None
    spacing = int(np.median(np.diff(ts.to_numpy().astype("datetime64[s]").astype(np.int64))))
    return next((name for name, seconds in TIMEFRAME_SECONDS.items() if seconds == spacing), None)


def hold_spikes(
    bars: pd.DataFrame,
    policy: SpikePolicy | None = None,
    *,
    timeframe: str | None = None,
    origin: str = "bars",
    released: Mapping[datetime, datetime] | None = None,
) -> pd.DataFrame:
    """The bars as live has them over time, through the spike hold of ingest and live
    (``trading_core.quality.spike_visibility``): a bar never released is left out; a bar
    held at its close and released later (by later bars, or an operator at ``released``'s
    time) stays, with the open time of the bar from whose close live has it in column
    ``visible_from`` (the column only when such a bar exists), so the backtest does not
    decide on it and decides without it while it is held (``decision_signals``). Bars held
    are logged with their time. ``timeframe``: default from the bars' spacing."""
    if bars.empty:
        return bars
    frame = timeframe or bar_timeframe(bars["ts"])
    visible = spike_visibility(
        bars["ts"], bars["open"], bars["close"], policy or SpikePolicy(),
        timeframe=frame, released=released or {},
    )  # fmt: skip
    rows = np.arange(len(bars))
    never, late = visible == NEVER, (visible != rows) & (visible != NEVER)
    if not never.any() and not late.any():
        return bars
    ts = bars["ts"].to_numpy()
    for row in np.flatnonzero(never | late):
        fate = "never released"
        if late[row]:
            fate = f"released at the close of {pd.Timestamp(ts[visible[row]]).isoformat()}"
        log.warning("%s: bar %s held at its close (%s)", origin, pd.Timestamp(ts[row]), fate)
    out = bars.drop(columns=VISIBLE_FROM, errors="ignore")
    if late.any():
        out = out.assign(**{VISIBLE_FROM: ts[np.where(never, rows, visible)]})
    return out[~never].reset_index(drop=True)


def check_bars(bars: pd.DataFrame, origin: str = "bars") -> pd.DataFrame:
    """Refuse bars without ``ts``/prices, or not in strictly increasing time order."""
    missing = [c for c in ("ts", "open", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise DataError(f"{origin} lacks columns {missing}")
    ts = bars["ts"]
    # sorted, so a repeat is a neighbour: no hash table of every time (``duplicated``)
    stamps = ts.to_numpy()
    if not ts.is_monotonic_increasing or bool((stamps[1:] == stamps[:-1]).any()):
        raise DataError(f"{origin}: 'ts' must be strictly increasing (one row per bar)")
    return bars.reset_index(drop=True)


def window(
    bars: pd.DataFrame, start: datetime | str | None = None, end: datetime | str | None = None
) -> pd.DataFrame:
    """Bars whose open time is in ``[start, end]`` (both inclusive, naive UTC dates/times)."""
    keep = pd.Series(True, index=bars.index)
    if start is not None:
        keep &= bars["ts"] >= pd.Timestamp(start)
    if end is not None:
        keep &= bars["ts"] <= pd.Timestamp(end)
    out = bars[keep].reset_index(drop=True)
    if out.empty:
        raise DataError(f"no bars between {start} and {end}")
    return out


def infer_bars_per_year(ts: pd.Series) -> float:
    """Bars per 365 days from the median spacing (gaps in the data do not skew it)."""
    if len(ts) < 2:
        raise DataError("need at least two bars to infer the bar spacing")
    spacing = np.median(np.diff(ts.to_numpy().astype("datetime64[ns]").astype(np.int64))) / 1e9
    if spacing <= 0:
        raise DataError("bars must be strictly increasing in time")
    return SECONDS_PER_YEAR / spacing

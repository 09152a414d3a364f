"""The candle checks and quarantine reasons: names, severities and what each demands.

The names become Dagster asset check names (keep them stable). ``trading_core.quality.ohlcv``
evaluates them, ``trading_core.quality.ohlcv_outcomes`` words their results.
"""

from __future__ import annotations

from trading_core.quality.gap_policy import MAX_LISTED_GAPS
from trading_core.quality.outcome import CheckSpec, Severity

SERIES_KEYS = ["exchange", "symbol", "timeframe"]
PRICE_COLUMNS = ["open", "high", "low", "close"]
TEXT_COLUMNS = ["exchange", "symbol", "timeframe"]

OHLCV_CHECK_SPECS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "ohlcv_schema",
        "error",
        "columns exchange, symbol, timeframe (text), ts (naive UTC datetime64), "
        "open, high, low, close, volume (float64), no missing values",
    ),
    CheckSpec("ohlcv_unique_ts", "error", "one candle per (exchange, symbol, timeframe, ts)"),
    CheckSpec(
        "ohlcv_increasing_ts",
        "error",
        "ts strictly increasing in the order received, per exchange/symbol/timeframe series",
    ),
    CheckSpec("ohlcv_aligned_ts", "error", "ts is an open time aligned to the timeframe"),
    CheckSpec("ohlcv_high_ge_open_close", "error", "high >= max(open, close)"),
    CheckSpec("ohlcv_low_le_open_close", "error", "low <= min(open, close)"),
    CheckSpec("ohlcv_positive_prices", "error", "open, high, low and close > 0"),
    CheckSpec("ohlcv_nonnegative_volume", "error", "volume >= 0"),
    CheckSpec(
        "ohlcv_gap_limit",
        "error",
        "no series misses more than market.max_gap_candles consecutive candles or more than "
        "market.max_gap_ratio of one UTC day's candles",
    ),
    CheckSpec(
        "ohlcv_missing_candles",
        "warn",
        "every closed candle of the window present; each gap is listed with its series, first "
        "missing open time and number of candles (flags only, within the gap limits)",
        max_listed=MAX_LISTED_GAPS,
    ),
    CheckSpec(
        "ohlcv_outlier_returns",
        "warn",
        "|log return| between consecutive closes within the configured bound (flags only)",
    ),
    CheckSpec(
        "ohlcv_readable_lines",
        "warn",
        "every line of the source file reads as one candle; a line that does not (field "
        "count, timestamp, unit, number, cut last line) is quarantined alone with its line "
        "number and reason (its candle is then missing: the gap policy judges it)",
    ),
    CheckSpec(
        "ohlcv_spike_hold",
        "warn",
        "no bar moves more than the spike limit against its neighbours (or a second venue) "
        "unconfirmed; such a bar is held out of the signals (raw.ohlcv_quarantine, reason "
        "spike_held) until later bars or an operator confirm it (trading_core.quality."
        "spike_policy)",
    ),
)

GAP_CHECKS = ("ohlcv_gap_limit", "ohlcv_missing_candles")  # judged by the gap policy
# judged before the suite: by the file reader and by the spike policy
SOURCE_CHECKS = ("ohlcv_readable_lines", "ohlcv_spike_hold")

# Check name -> severity, e.g. to declare Dagster asset checks (``blocking`` for "error").
OHLCV_CHECKS: dict[str, Severity] = {spec.name: spec.severity for spec in OHLCV_CHECK_SPECS}

# Quarantine reasons, in the order they are tested (a row may have several, joined by ';').
OHLCV_QUARANTINE_REASONS: tuple[str, ...] = (
    "missing_value",
    "non_positive_price",
    "negative_volume",
    "high_low_inconsistent",
    "misaligned_ts",
    "duplicate_ts",  # an identical copy of a candle kept once
    "conflicting_duplicate",  # versions of one candle that differ: every version is kept aside
    "malformed_line",  # a source line that is not one candle (with its line number)
    "spike_held",  # held by the spike policy until confirmed
)

"""Which bars are spikes held out of signals, and when a held bar is released: the one place.

Ingest (``raw/ohlcv``: a held bar goes to ``raw.ohlcv_quarantine`` with reason
``spike_held``, so it never reaches ``stg_ohlcv``), the live signals (built from
``stg_ohlcv``) and the CSV backtester (``trading_core.backtest.data.hold_spikes``) all call
``assess_spikes``, so the same bad bar is treated the same way everywhere. A bar held when it
closed is no decision point in either path, even once released; once released it is history
for the later decisions of both (``trading_core.quality.spike_visibility``: when each bar
enters the live history; ``trading_core.backtest.decisions``). ``spike_policy_of`` is the
configured policy, the one every path uses.

The rule, per series (bars in time order, one per open time):

- A bar is a **spike candidate** when ``|log(close / reference)| > limit``; the reference is
  the close of the previous bar not held (the bar's own open for the first bar of the data
  given). ``limit`` is ``max_abs_log_move`` (``market.max_abs_log_return``, default 0.25: a
  move of about 28 % in one bar; a 10x bar is 2.30) for bars of 1h or shorter, scaled by
  sqrt(bar length / 1h) for longer bars, as volatility grows with the square root of time
  (4h: 0.50, 1d: 1.22). With these defaults no bar of the real Binance files in
  ../shared/data/market is held for good (ADAUSDT 1h 2025-03-02 15:00 and 16:00, +29 % and
  +47 % from 14:00, are held at their close and released at 17:00's); a 10x bar in any of
  them is.
- With a **second venue** (another configured exchange's close of the same symbol, timeframe
  and open time), a candidate the other venue confirms (``|log(close / other close)| <=
  max_venue_log_diff``) is released at once (``released_venue``); one the other venue
  contradicts is held (``held_venue``) whatever the later bars do.
- Otherwise the next ``confirm_bars`` bars decide (auto release): a later close nearer the
  old level than the new one (in log distance) means the move **reverted**: the bar stays
  held (``held_reverted``). When ``confirm_bars`` later bars exist and none reverted, the new
  level is confirmed and the bar is released (``released_confirmed``). Until then it is held
  (``held_pending``) and re-assessed on the next ingest.
- An operator release (``trading data release EXCHANGE SYMBOL TIMEFRAME TS``, read from the
  release ledger, ``trading_core.quality.releases``) releases a bar in any state
  (``released_operator``).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from trading_core.quality.frames import key_codes
from trading_core.timeframes import timeframe_seconds

if TYPE_CHECKING:  # config imports this module's defaults
    from trading_core.config import MarketConfig

from trading_core.quality.limits import (
    DEFAULT_CONFIRM_BARS as DEFAULT_CONFIRM_BARS,
)
from trading_core.quality.limits import (
    DEFAULT_MAX_ABS_LOG_MOVE as DEFAULT_MAX_ABS_LOG_MOVE,
)
from trading_core.quality.limits import (
    DEFAULT_MAX_VENUE_LOG_DIFF as DEFAULT_MAX_VENUE_LOG_DIFF,
)
from trading_core.quality.limits import MAX_CONFIRM_BARS as MAX_CONFIRM_BARS

SpikeStatus = Literal[
    "held_pending",
    "held_reverted",
    "held_venue",
    "released_confirmed",
    "released_venue",
    "released_operator",
]


@dataclass(frozen=True)
class SpikePolicy:
    """The limits of the spike hold (see the module doc)."""

    max_abs_log_move: float = DEFAULT_MAX_ABS_LOG_MOVE
    confirm_bars: int = DEFAULT_CONFIRM_BARS
    max_venue_log_diff: float = DEFAULT_MAX_VENUE_LOG_DIFF

    def __post_init__(self) -> None:
        for name in ("max_abs_log_move", "max_venue_log_diff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if isinstance(self.confirm_bars, bool) or not isinstance(self.confirm_bars, int):
            raise ValueError(f"confirm_bars must be an integer, got {self.confirm_bars!r}")
        if not 1 <= self.confirm_bars <= MAX_CONFIRM_BARS:
            raise ValueError(
                f"confirm_bars must be from 1 to {MAX_CONFIRM_BARS}, got {self.confirm_bars}"
            )

    def limit(self, timeframe: str | None = None) -> float:
        """The largest |log move| of one bar of ``timeframe`` that is not a candidate."""
        if timeframe is None:
            return self.max_abs_log_move
        hours = timeframe_seconds(timeframe) / 3600
        return self.max_abs_log_move * max(1.0, math.sqrt(hours))


def spike_policy_of(market: MarketConfig) -> SpikePolicy:
    """The spike hold a configuration sets (``market.max_abs_log_return``,
    ``market.spike_confirm_bars``): the one way ingest, live signals and every backtest,
    sweep and replay get their policy."""
    return SpikePolicy(market.max_abs_log_return, market.spike_confirm_bars)


@dataclass(frozen=True)
class SpikeDecision:
    """One spike candidate and what the policy decided for it."""

    position: int  # row position in the frame given
    ts: datetime
    close: float
    reference: float  # the close it moved from
    move: float  # log(close / reference)
    status: SpikeStatus
    series: str = ""  # exchange|symbol|timeframe when known

    @property
    def held(self) -> bool:
        return self.status.startswith("held")

    @property
    def reason(self) -> str:
        return (
            f"spike_held ({self.status}: log move {self.move:+.3f} from {self.reference:g} to "
            f"{self.close:g})"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "series": self.series,
            "ts": self.ts.isoformat(),
            "close": self.close,
            "reference": self.reference,
            "move": round(self.move, 6),
            "status": self.status,
        }


def _status(
    i: int,
    closes: np.ndarray,
    reference: float,
    policy: SpikePolicy,
    other: float | None,
) -> SpikeStatus:
    """The status of candidate ``i`` moved from ``reference`` (see the module doc)."""
    if other is not None and math.isfinite(other) and other > 0:
        agree = abs(math.log(closes[i] / other)) <= policy.max_venue_log_diff
        return "released_venue" if agree else "held_venue"
    later = closes[i + 1 : i + 1 + policy.confirm_bars]
    for close in later:
        if abs(math.log(close / reference)) < abs(math.log(close / closes[i])):
            return "held_reverted"
    return "released_confirmed" if len(later) == policy.confirm_bars else "held_pending"


def assess_spikes(
    ts: pd.Series | np.ndarray,
    opens: pd.Series | np.ndarray,
    closes: pd.Series | np.ndarray,
    policy: SpikePolicy,
    *,
    timeframe: str | None = None,
    released: Collection[datetime] = (),
    other_venue: pd.Series | None = None,
) -> list[SpikeDecision]:
    """Every spike candidate of ONE series with its status, oldest first.

    ``ts``/``opens``/``closes``: the series in time order, one bar per open time, positive
    finite prices (structural faults are quarantined before). ``released``: open times an
    operator released. ``other_venue``: closes of the same series on a second venue, indexed
    by open time. ``timeframe`` scales the limit (``SpikePolicy.limit``)."""
    bound = policy.limit(timeframe)
    stamps = pd.to_datetime(pd.Series(np.asarray(ts))).reset_index(drop=True)
    close = np.asarray(closes, dtype="float64")
    open_ = np.asarray(opens, dtype="float64")
    if not (len(stamps) == len(close) == len(open_)):
        raise ValueError("ts, opens and closes must have the same length")
    if not len(close):
        return []
    if not stamps.is_monotonic_increasing or stamps.duplicated().any():
        raise ValueError("ts must be strictly increasing (one bar per open time)")
    if not (np.isfinite(close).all() and (close > 0).all()):
        raise ValueError("closes must be finite and > 0")
    references = np.concatenate([open_[:1], close[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        moves = np.abs(np.log(close / references))
    candidates = np.flatnonzero(~(moves <= bound))
    released_at = {pd.Timestamp(t) for t in released}
    first_reference = float(open_[0]) if math.isfinite(open_[0]) and open_[0] > 0 else close[0]
    decisions: list[SpikeDecision] = []
    held_before = False  # the bar before ``j`` was held: measure ``j`` from the last kept
    last_kept = float(first_reference)
    position = 0
    while position < len(close):
        if not held_before:
            # the next candidate; every bar up to it is kept
            following = candidates[np.searchsorted(candidates, position) :]
            if not len(following):
                break
            position = int(following[0])
            last_kept = float(close[position - 1]) if position else float(first_reference)
        j = position
        position += 1
        move = math.log(close[j] / last_kept)
        if abs(move) <= bound:
            held_before, last_kept = False, float(close[j])
            continue
        at = stamps.iloc[j]
        other = None
        if other_venue is not None and at in other_venue.index:
            other = float(other_venue.loc[at])
        status: SpikeStatus = (
            "released_operator"
            if at in released_at
            else _status(j, close, last_kept, policy, other)
        )
        decision = SpikeDecision(j, at.to_pydatetime(), float(close[j]), last_kept, move, status)
        decisions.append(decision)
        held_before = decision.held
        if not decision.held:
            last_kept = float(close[j])
    return decisions


def held_positions(decisions: Collection[SpikeDecision]) -> list[int]:
    """Row positions of the held bars."""
    return [d.position for d in decisions if d.held]


SERIES_KEYS = ("exchange", "symbol", "timeframe")
SeriesBar = tuple[str, str, str, datetime]  # exchange, symbol, timeframe, open time


def hold_frame(
    clean: pd.DataFrame,
    policy: SpikePolicy,
    *,
    released: Collection[SeriesBar] = (),
    beyond: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[SpikeDecision]]:
    """Split candles of any series (``exchange, symbol, timeframe, ts, open, close``, one row
    per bar, structurally clean) into ``(kept, held)``; ``held`` has a ``reason``. Both keep
    the order given. ``beyond``: later candles of the same series that are not part of the
    frame (they only confirm or revert). Another exchange's candles of the same symbol and
    timeframe in ``clean`` are the second venue."""
    if clean.empty:
        return clean, clean.assign(reason=pd.Series(dtype=object)), []
    data = clean.reset_index(drop=True)
    extra = beyond if beyond is not None and len(beyond) else None
    releases = {(e, s, t, pd.Timestamp(ts)) for e, s, t, ts in released}
    reasons: dict[int, str] = {}  # row -> why it is held
    decisions: list[SpikeDecision] = []
    # integer codes: the second venue of each series is found without comparing text per row
    venue = pd.factorize(data["exchange"])[0]
    market = key_codes(data, ["symbol", "timeframe"])
    several_venues = venue.max(initial=0) > 0
    series_codes = market * (int(venue.max(initial=0)) + 1) + venue  # one per series
    prices = data[["ts", "open", "close"]]  # taken per series: no text column copied
    for code in pd.unique(series_codes):  # in order of first appearance
        members = np.flatnonzero(series_codes == code)
        first = int(members[0])
        exchange, symbol, timeframe = (data[k].iloc[first] for k in SERIES_KEYS)
        series = prices.iloc[members]
        if not series["ts"].is_monotonic_increasing:
            series = series.sort_values("ts", kind="stable")
        index = series.index.to_numpy()
        if extra is not None:
            later = extra[
                (extra["exchange"] == exchange)
                & (extra["symbol"] == symbol)
                & (extra["timeframe"] == timeframe)
                & (extra["ts"] > series["ts"].max())
            ]
            series = pd.concat([series, later[["ts", "open", "close"]].sort_values("ts")])
        other_venue = None
        if several_venues:
            others = data[(market == market[first]) & (venue != venue[first])]
            if len(others):
                other_venue = others.drop_duplicates("ts").set_index("ts")["close"]
                other_venue = other_venue.astype("float64")
        found = assess_spikes(
            series["ts"], series["open"], series["close"], policy, timeframe=str(timeframe),
            released={ts for e, s, t, ts in releases if (e, s, t) == (exchange, symbol, timeframe)},
            other_venue=other_venue,
        )  # fmt: skip
        for decision in found:
            if decision.position >= len(index):
                continue  # a later candle beyond the frame: not this frame's to hold
            decisions.append(replace(decision, series=f"{exchange}|{symbol}|{timeframe}"))
            if decision.held:
                reasons[int(index[decision.position])] = decision.reason
    if not reasons:
        return data, data.iloc[:0].assign(reason=pd.Series(dtype=object)), decisions
    held = np.zeros(len(data), dtype=bool)
    held[list(reasons)] = True
    why = pd.Series([reasons[int(row)] for row in np.flatnonzero(held)], dtype=object)
    return (
        data[~held].reset_index(drop=True),
        data[held].reset_index(drop=True).assign(reason=why),
        decisions,
    )

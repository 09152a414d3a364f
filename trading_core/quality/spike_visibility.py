"""When each bar of a series enters the history the live signals see: the spike hold over time.

Live decides at each bar's close on ``stg_ohlcv``, which holds the bars not held by then
(``trading_core.quality.spike_policy``). A bar held at its close is no decision point; once
later bars confirm it (``released_confirmed``) or an operator releases it
(``released_operator``, from the ledger's ``released_at`` on), it is history for every later
decision; a bar never released is never seen. ``spike_visibility`` gives, per bar, the
position of the first bar at whose close it is in that history, so a backtest can decide at
every bar on exactly what live had (``trading_core.backtest.decisions``).

Each bar's status at the close of bar ``i`` is judged on the bars up to ``i`` only, with the
operator releases made by that close. Only bars within ``confirm_bars`` after a candidate
(or after an operator release takes effect) can be judged differently from the whole series,
so only those closes are judged again, from an anchor bar more than ``confirm_bars`` back
that no judgement holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from trading_core.quality.spike_policy import SpikePolicy, assess_spikes
from trading_core.timeframes import timeframe_seconds

NEVER = -1  # a bar never released within the data given


def _effective(
    stamps: pd.Series, released: Mapping[datetime, datetime], timeframe: str | None
) -> dict[int, int]:
    """Per operator-released bar (row position), the first bar at whose close live has the
    release: a decision at a close at or after ``released_at`` reads it. ``len(stamps)`` when
    that is after the data."""
    if not released:
        return {}
    if timeframe is None:
        raise ValueError("timeframe is needed to place operator releases in time")
    closes_at = (stamps + pd.Timedelta(seconds=timeframe_seconds(timeframe))).to_numpy()
    values = stamps.to_numpy()
    out: dict[int, int] = {}
    for bar, at in released.items():
        row = int(np.searchsorted(values, np.datetime64(pd.Timestamp(bar))))
        if row >= len(values) or values[row] != np.datetime64(pd.Timestamp(bar)):
            continue  # a release of a bar this data does not have
        first = int(np.searchsorted(closes_at, np.datetime64(pd.Timestamp(at)), side="left"))
        out[row] = min(max(row, first), out.get(row, len(values)))
    return out


def spike_visibility(
    ts: pd.Series | np.ndarray,
    opens: pd.Series | np.ndarray,
    closes: pd.Series | np.ndarray,
    policy: SpikePolicy,
    *,
    timeframe: str | None = None,
    released: Mapping[datetime, datetime] | None = None,
    other_venue: pd.Series | None = None,
) -> np.ndarray:
    """Per bar of ONE series (time order, as ``assess_spikes`` takes it), the row position of
    the first bar at whose close it is in the live history: its own for a bar not held at
    its close, a later one for a bar held then released, ``NEVER`` for one never released.

    ``released``: operator releases of this series, bar open time -> ``released_at`` (naive
    UTC; ``trading_core.quality.releases.release_times``); they need ``timeframe``."""
    found = assess_spikes(
        ts, opens, closes, policy, timeframe=timeframe, other_venue=other_venue
    )  # also validates the inputs
    stamps = pd.to_datetime(pd.Series(np.asarray(ts))).reset_index(drop=True)
    open_, close = np.asarray(opens, dtype="float64"), np.asarray(closes, dtype="float64")
    n, back = len(close), policy.confirm_bars
    visible = np.arange(n)
    effective = _effective(stamps, released or {}, timeframe)
    in_data = [row for row, first in effective.items() if first < n]
    with_releases = found
    if in_data:
        with_releases = assess_spikes(
            ts, opens, closes, policy, timeframe=timeframe, other_venue=other_venue,
            released=[stamps.iloc[row] for row in in_data],
        )  # fmt: skip
    decided = {d.position for d in found} | {d.position for d in with_releases}
    if not decided:
        return visible
    starts = decided | {effective[row] for row in in_data}
    judged = sorted({i for p in starts for i in range(p, min(n, p + back + 1))} - {0})
    # the first bar keeps the whole-series verdict (it has no previous close)
    edge = [stamps.iloc[0]] if any(d.position == 0 and not d.held for d in found) else []
    held_at: dict[int, tuple[int, set[int]]] = {}  # close -> (anchor, bars held then)
    for i in judged:
        k = i - back - 1
        while k > 0 and k in decided:
            k -= 1
        k = max(k, 0)
        keep = edge if k == 0 else [stamps.iloc[k]]
        keep += [stamps.iloc[row] for row in in_data if k <= row <= i and effective[row] <= i]
        then = assess_spikes(
            stamps.iloc[k : i + 1], open_[k : i + 1], close[k : i + 1], policy,
            timeframe=timeframe, released=keep, other_venue=other_venue,
        )  # fmt: skip
        held_at[i] = (k, {k + d.position for d in then if d.held})
    finals: dict[frozenset[int], set[int]] = {frozenset(): {d.position for d in found if d.held}}

    def final(i: int) -> set[int]:
        """Bars held by the whole series with the releases made by the close of ``i``: the
        verdict of every bar with ``confirm_bars`` later bars up to ``i``."""
        made = frozenset(row for row in in_data if effective[row] <= i)
        if made not in finals:
            again = assess_spikes(
                ts, opens, closes, policy, timeframe=timeframe, other_venue=other_venue,
                released=[stamps.iloc[row] for row in made],
            )  # fmt: skip
            finals[made] = {d.position for d in again if d.held}
        return finals[made]

    ever = set().union(*finals.values(), *(final(row) for row in effective.values()))
    changes = set(effective.values())  # where final() can change
    for x in sorted(ever.union(*(rows for _, rows in held_at.values()))):
        points = sorted(
            {i for i in judged if i >= x} | {x, max(judged, default=x) + 1}
            | {first for first in changes if first > x}
        )  # fmt: skip
        visible[x] = NEVER
        for i in (p for p in points if p < n):
            # bars before a close's anchor have their whole-series verdict by then
            judged_here = i in held_at and held_at[i][0] <= x
            if x not in (held_at[i][1] if judged_here else final(i)):
                visible[x] = i
                break
    return visible

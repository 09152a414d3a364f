"""Lookahead analysis: does cutting the data after a signal change anything before the cut?

A strategy without lookahead computes bar ``t`` from bars ``0..t`` only, so running it on the
data truncated right after bar ``t`` must reproduce every earlier row - every indicator, every
signal column, bar ``t`` itself included - and every trade closed before ``t``. A column that
peeks ahead (``shift(-1)``, a centred window, a normalisation over the whole series) changes.

Cut points: the bars with an entry or exit signal on the full data (that is where a peek
pays), sampled evenly to at most ``max_cuts`` (always the first and last signal), or, for a
strategy that never signals, ``max_cuts`` bars spread evenly after its warm-up. Each cut costs
one strategy run on the prefix and one backtest, so the default of 20 cuts keeps a 67,000-bar
1h file under a minute for every built-in; ``max_cuts`` trades time for coverage.

Values are compared exactly, except floats, which may differ by ``rtol`` (1e-12) relative to
their size: a correct strategy reproduces them bit for bit, a peek changes them by far more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from trading_core.analysis.indicators import analysis_frame, checked_bars, column_kind
from trading_core.backtest import BacktestConfig, run_backtest
from trading_core.strategies import Strategy

DEFAULT_MAX_CUTS = 20
FLOAT_RTOL = 1e-12

Kind = Literal["indicator", "signal", "trade"]


@dataclass(frozen=True)
class Finding:
    """The earliest change one column (or the trade list) showed over all cuts."""

    column: str
    kind: Kind
    first_changed_index: int
    first_changed_bar: str
    truncated_at_index: int
    truncated_at_bar: str
    full_value: Any
    truncated_value: Any
    cuts_changed: int


@dataclass
class LookaheadReport:
    strategy: str
    params: dict[str, Any]
    bars: int
    first_bar: str
    last_bar: str
    signal_bars: int
    cuts: list[int]
    columns_checked: list[str]
    findings: list[Finding] = field(default_factory=list)

    @property
    def lookahead(self) -> bool:
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookahead": self.lookahead,
            "findings": [asdict(f) for f in self.findings],
            "strategy": self.strategy,
            "params": self.params,
            "bars": self.bars,
            "first_bar": self.first_bar,
            "last_bar": self.last_bar,
            "signal_bars": self.signal_bars,
            "cuts_checked": len(self.cuts),
            "cuts": self.cuts,
            "columns_checked": self.columns_checked,
        }


def cut_points(signal_positions: np.ndarray, n_bars: int, start: int, max_cuts: int) -> list[int]:
    """Up to ``max_cuts`` bar positions to truncate after (module docstring)."""
    if max_cuts < 1:
        raise ValueError(f"max_cuts must be >= 1, got {max_cuts}")
    if len(signal_positions):
        picks = np.linspace(0, len(signal_positions) - 1, min(max_cuts, len(signal_positions)))
        return sorted({int(signal_positions[round(i)]) for i in picks})
    first = min(max(start, 1), n_bars - 1)
    return sorted({int(i) for i in np.linspace(first, n_bars - 1, max_cuts).round()})


def first_difference(full: pd.Series, truncated: pd.Series) -> int | None:
    """Position of the first row where two aligned columns differ, or None."""
    a, b = full.to_numpy(), truncated.to_numpy()
    if pd.api.types.is_float_dtype(full.dtype) and pd.api.types.is_float_dtype(truncated.dtype):
        same = np.isclose(a, b, rtol=FLOAT_RTOL, atol=0.0, equal_nan=True)
    else:
        same = (a == b) | (pd.isna(a) & pd.isna(b))
    changed = np.flatnonzero(~np.asarray(same, dtype=bool))
    return int(changed[0]) if len(changed) else None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


_TRADE_KEYS = ("entry_ts", "exit_ts", "entry_price", "exit_price", "quantity")


def _closed_before(trades: pd.DataFrame, ts: pd.Timestamp) -> pd.DataFrame:
    keys = [k for k in _TRADE_KEYS if k in trades.columns]
    done = trades[pd.to_datetime(trades["exit_ts"]) < ts]
    return done[keys].reset_index(drop=True)


def _trade_change(full: pd.DataFrame, cut: pd.DataFrame) -> int | None:
    """Index of the first differing trade among those closed before the cut, or None."""
    common = min(len(full), len(cut))
    differs = np.zeros(common, dtype=bool)
    for key in full.columns:
        a, b = full[key].to_numpy()[:common], cut[key].to_numpy()[:common]
        floats = pd.api.types.is_float_dtype(full[key]) and pd.api.types.is_float_dtype(cut[key])
        if floats:
            differs |= ~np.isclose(a, b, rtol=FLOAT_RTOL, atol=0.0, equal_nan=True)
        else:
            differs |= a != b
    changed = np.flatnonzero(differs)
    if len(changed):
        return int(changed[0])
    return None if len(full) == len(cut) else common


def lookahead_analysis(
    bars: pd.DataFrame,
    strategy: Strategy,
    *,
    max_cuts: int = DEFAULT_MAX_CUTS,
    config: BacktestConfig | None = None,
) -> LookaheadReport:
    """Truncate ``bars`` after sampled signal bars and report every earlier change.

    ``config`` sets the backtest whose closed trades are compared (default conventions
    when None, with the warm-up off so both runs start at the first bar)."""
    bars = checked_bars(bars)
    cfg = config or BacktestConfig(warmup="cold")
    full = analysis_frame(strategy, bars)
    signalled = np.flatnonzero((full["entry"] | full["exit"]).to_numpy())
    cuts = cut_points(signalled, len(bars), strategy.warmup, max_cuts)
    full_trades = run_backtest(bars, strategy, cfg, journal=False).trades
    ts = pd.to_datetime(bars["ts"])
    earliest: dict[str, Finding] = {}
    counts: dict[str, int] = {}

    def note(column: str, kind: Kind, at: int, cut: int, old: Any, new: Any) -> None:
        counts[column] = counts.get(column, 0) + 1
        known = earliest.get(column)
        if known is None or at < known.first_changed_index:
            earliest[column] = Finding(
                column=column,
                kind=kind,
                first_changed_index=at,
                first_changed_bar=ts.iloc[at].isoformat(),
                truncated_at_index=cut,
                truncated_at_bar=ts.iloc[cut].isoformat(),
                full_value=_plain(old),
                truncated_value=_plain(new),
                cuts_changed=0,
            )

    for cut in cuts:
        prefix = bars.iloc[: cut + 1]
        part = analysis_frame(strategy, prefix)
        for column in full.columns:
            if column not in part.columns:
                note(column, column_kind(column), cut, cut, full[column].iloc[cut], None)
                continue
            at = first_difference(full[column].iloc[: cut + 1], part[column])
            if at is not None:
                old, new = full[column].iloc[at], part[column].iloc[at]
                note(column, column_kind(column), at, cut, old, new)
        if cut < 1:
            continue
        before = _closed_before(full_trades, ts.iloc[cut])
        after = _closed_before(
            run_backtest(prefix, strategy, cfg, journal=False).trades, ts.iloc[cut]
        )
        changed = _trade_change(before, after)
        if changed is not None:
            source = before if changed < len(before) else after
            entry = pd.Timestamp(source["entry_ts"].iloc[changed])
            at = int(np.searchsorted(ts, entry))
            note("trades", "trade", at, cut, len(before), len(after))

    findings = sorted(
        (Finding(**{**asdict(f), "cuts_changed": counts[f.column]}) for f in earliest.values()),
        key=lambda f: (f.first_changed_index, f.column),
    )
    return LookaheadReport(
        strategy=strategy.name,
        params=strategy.params.model_dump(mode="json"),
        bars=len(bars),
        first_bar=ts.iloc[0].isoformat(),
        last_bar=ts.iloc[-1].isoformat(),
        signal_bars=len(signalled),
        cuts=cuts,
        columns_checked=[*full.columns, "trades"],
        findings=findings,
    )

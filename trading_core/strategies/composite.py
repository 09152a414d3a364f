"""Composite-signal strategy: trade the BUY/SELL actions of ``signals.composite``.

Indicator columns are computed with ``compute_all`` unless the bars already carry all of them
(e.g. rows of ``fct_signals``). Optional ``sentiment_score``/``sentiment_count`` and
``book_imbalance`` columns, and the alternative-data columns of
:mod:`trading_core.alt_inputs` (``news_score``, ``onchain_z``, ``sentiment_z``, ...; fed as
extra bar columns by ``fct_signals`` live and by ``trading backtest --alt-data``), are used
when present and weighted.

``exit_on_hack`` (default true): a bar whose last 24 hours hold a hack/exploit event about
the asset (``news_hack``) is an exit, whatever the score. The regime and multi-timeframe
conditions of :mod:`trading_core.strategies.filters` (``regime_trend``, ``regime_vol``,
``mtf_timeframes``, ``mtf_span``) restrict entries.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field, field_validator

from trading_core import signals
from trading_core.indicators import INDICATOR_COLUMNS, WARMUP, compute_all
from trading_core.indicators.catalog import settle_bars
from trading_core.strategies.base import WARMUP_TOLERANCE, Strategy
from trading_core.strategies.filters import RegimeParams, condition_warmup_bars, entry_filter


class CompositeParams(RegimeParams):
    weights: dict[str, float] = Field(default_factory=lambda: dict(signals.DEFAULT_WEIGHTS))
    buy_threshold: float = Field(0.5, gt=0, le=1)
    sell_threshold: float = Field(-0.5, ge=-1, lt=0)
    min_confidence: float = Field(0.6, ge=0, lt=1)
    exit_on_hack: bool = True

    @field_validator("weights")
    @classmethod
    def _known_inputs(cls, value: dict[str, float]) -> dict[str, float]:
        return signals.validate_weights(value)


class CompositeStrategy(Strategy):
    name = "composite"
    params_model = CompositeParams
    required_columns = ("open", "high", "low", "close", "volume")
    params: CompositeParams

    @property
    def warmup(self) -> int:
        used = [
            column
            for name, weight in self.params.weights.items()
            if weight > 0
            for column in signals.SIGNAL_INPUTS[name].columns
            if column in WARMUP
        ]
        return max((WARMUP[c] for c in used), default=0)

    @property
    def warmup_bars(self) -> int:
        # Each weighted indicator column's first value plus its seed's settling bars.
        settle = settle_bars(WARMUP_TOLERANCE)
        used = [
            column
            for name, weight in self.params.weights.items()
            if weight > 0
            for column in signals.SIGNAL_INPUTS[name].columns
            if column in WARMUP
        ]
        own = max((WARMUP[c] + settle.get(c, 0) for c in used), default=0)
        return max(own, condition_warmup_bars(self.params))

    def _scored(self, bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The bars with their indicators, and the composite's action/score per bar."""
        p = self.params
        if all(c in bars.columns for c in INDICATOR_COLUMNS):
            frame = bars
        else:
            computed = compute_all(bars)
            own = [c for c in computed.columns if c in bars.columns]  # the bars' own win
            frame = pd.concat([bars, computed.drop(columns=own)], axis=1)
        result = signals.composite(
            frame, p.weights, p.buy_threshold, p.sell_threshold, p.min_confidence, explain=False
        )
        return frame, result

    def scores(self, bars: pd.DataFrame) -> pd.Series:
        """The composite score per bar (-1 .. 1): what the risk protocol's losing-streak
        phases compare with their threshold (the portfolio backtester reads it for every
        bar, the live evaluation puts the decided bar's in ``reasons.score``)."""
        return self._scored(bars)[1]["score"].astype(float)

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        p = self.params
        frame, result = self._scored(bars)
        allowed, conditions = entry_filter(frame, p)
        entry = (result["action"] == "BUY") & allowed
        exit_ = result["action"] == "SELL"
        hack = pd.Series(False, index=frame.index)
        if p.exit_on_hack and "news_hack" in frame.columns:
            hack = frame["news_hack"].fillna(False).astype(bool) & ~entry
            exit_ = exit_ | hack
        summary = (
            "composite "
            + result["action"]
            + ": score "
            + result["score"].map("{:+.3f}".format)
            + ", confidence "
            + result["confidence"].map("{:.3f}".format)
        )
        if conditions:
            summary = summary.where(~entry, summary + " (" + conditions + ")")
        summary = summary.where(~hack, "hack/exploit news about the asset")
        return pd.DataFrame(
            {"entry": entry, "exit": exit_, "reason": summary.where(entry | exit_, "")}
        )

"""How many bars before a backtest window feed the strategy's indicators (the warm-up).

``BacktestConfig.warmup`` chooses:

- ``"auto"`` (the CLI's default): ``strategy.warmup_bars`` bars before the window's first
  bar, as many as the strategy's indicators need to equal their full-history values (see
  ``trading_core.strategies.base``); fewer when the data does not reach back that far
  (``warmup_complete`` is then false);
- ``"cold"``: none; the indicators start on the window's first bar;
- an integer N: exactly N bars (or as many as exist);
- ``"all"`` (the library default, for callers that slice history themselves such as
  walk-forward folds): every bar given before the window.

Reports state the choice: ``warmup`` (the mode), ``warmup_bars`` (bars used),
``warmup_bars_needed`` (the strategy's ``warmup_bars``), ``warmup_complete`` and
``first_bar_used`` (the first bar handed to the strategy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # the strategies only for the annotation: parsing --warmup needs none
    from trading_core.strategies import Strategy

WARMUP_MODES: tuple[str, ...] = ("auto", "cold", "all")


def parse_warmup(text: str | int) -> str | int:
    """``auto``, ``cold``, ``all`` or a non-negative integer; ValueError naming ``warmup``."""
    if isinstance(text, bool):
        raise ValueError(f"warmup must be auto, cold, all or an integer >= 0, got {text!r}")
    if isinstance(text, int):
        value = text
    elif text.strip().lower() in WARMUP_MODES:
        return text.strip().lower()
    else:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(
                f"warmup must be auto, cold, all or an integer >= 0, got {text!r}"
            ) from None
    if value < 0:
        raise ValueError(f"warmup must be >= 0 bars, got {value}")
    return value


@dataclass(frozen=True)
class Warmup:
    mode: str
    bars: int
    needed: int
    first_bar: pd.Timestamp

    @property
    def complete(self) -> bool:
        return self.bars >= self.needed

    def to_dict(self) -> dict[str, Any]:
        return {
            "warmup": self.mode,
            "warmup_bars": self.bars,
            "warmup_bars_needed": self.needed,
            "warmup_complete": self.complete,
            "first_bar_used": self.first_bar.isoformat(),
        }


def apply_warmup(
    bars: pd.DataFrame, start: int, strategy: Strategy, mode: str | int
) -> tuple[pd.DataFrame, int, Warmup]:
    """``bars`` cut to the warm-up ``mode`` keeps before index ``start`` (the window's first
    bar), the window's index in the cut frame, and what was done."""
    mode = parse_warmup(mode)
    needed = strategy.warmup_bars
    if mode == "all":
        wanted, needed = start, start
    elif mode == "cold":
        wanted, needed = 0, 0
    elif mode == "auto":
        wanted = needed
    else:
        assert isinstance(mode, int)
        wanted = needed = mode
    first = start - min(start, wanted)
    cut = bars.iloc[first:].reset_index(drop=True) if first else bars
    info = Warmup(str(mode), start - first, needed, pd.Timestamp(cut["ts"].iloc[0]))
    return cut, start - first, info

"""Shared pieces for composing synthetic texts: which asset, which price level, what time."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from trading_core.samples.text import ASSETS

# The sim symbols dominate; a few other assets keep symbol detection honest.
ASSET_WEIGHTS: dict[str, float] = {
    "BTC": 0.40,
    "ETH": 0.27,
    "SOL": 0.23,
    "XRP": 0.04,
    "DOGE": 0.03,
    "ADA": 0.03,
}
PRICE_LEVELS: dict[str, tuple[float, ...]] = {
    "BTC": (60_000, 70_000, 80_000, 90_000, 100_000, 110_000),
    "ETH": (2_000, 2_500, 3_000, 3_500, 4_000),
    "SOL": (100, 125, 150, 175, 200, 250),
    "XRP": (0.5, 1, 2, 3),
    "DOGE": (0.1, 0.2, 0.3),
    "ADA": (0.3, 0.5, 1),
}


def pick_asset(rng: np.random.Generator) -> str:
    """An asset to write about, drawn by :data:`ASSET_WEIGHTS`."""
    names = list(ASSET_WEIGHTS)
    return names[rng.choice(len(names), p=list(ASSET_WEIGHTS.values()))]


def fill(template: str, rng: np.random.Generator, asset: str, day: date) -> str:
    """``template`` with its slots filled for ``asset`` (price levels plausible for it)."""
    level = PRICE_LEVELS[asset][rng.integers(len(PRICE_LEVELS[asset]))]
    return template.format(
        name=ASSETS[asset],
        ticker=asset,
        pct=f"{rng.uniform(1.5, 12):.1f}",
        level=f"${level:,.0f}" if level >= 1 else f"${level}",
        day=day.isoformat(),
    )


def day_times(rng: np.random.Generator, day: date, count: int) -> list[datetime]:
    """``count`` whole-second times spread over ``day``, oldest first (files are in time order)."""
    seconds = np.sort(rng.integers(0, 86_400, size=count))
    start = datetime(day.year, day.month, day.day)
    return [start + timedelta(seconds=int(s)) for s in seconds]

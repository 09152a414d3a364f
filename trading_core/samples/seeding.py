"""Deterministic randomness for the samples: one stream per (seed, purpose, day).

A day's sample depends only on the seed and that day, never on when it is generated, so
regenerating tomorrow keeps every earlier post identical (what was "known" stays known) and
only adds the new day's posts.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date

import numpy as np

from trading_core.samples.text import Tone


def stream_id(purpose: str) -> int:
    """A stable 32-bit number for a purpose name (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "big")


def day_rng(seed: int, purpose: str, day: date) -> np.random.Generator:
    return np.random.default_rng([seed, stream_id(purpose), day.toordinal()])


def mood(seed: int, asset: str, day: date) -> float:
    """The crowd's mood about ``asset`` on ``day`` in [-1, 1]: slow swings plus daily noise."""
    phase = stream_id(f"phase:{asset}") % 1000 / 1000 * 2 * math.pi
    swing = math.sin(2 * math.pi * day.toordinal() / 19 + phase)
    noise = day_rng(seed, f"mood:{asset}", day).normal()
    return max(-1.0, min(1.0, 0.65 * swing + 0.35 * noise))


def tone(rng: np.random.Generator, mood_value: float) -> Tone:
    """Bullish more often on good days, bearish on bad ones; neutral 30 % of the time."""
    bull = 0.1 + 0.5 * (1 + mood_value) / 2
    bear = 0.1 + 0.5 * (1 - mood_value) / 2
    return rng.choice(np.array(["bull", "bear", "neutral"]), p=[bull, bear, 1 - bull - bear])

"""VADER sentiment for posts, tweets and headlines.

One analyzer per process (it reads its lexicon files when created). Texts are scored once per
distinct text, so reposted tweets and repeated headlines cost nothing extra. Missing or blank
text scores NaN (not neutral), so aggregates skip it instead of diluting toward zero.
VADER's cost grows with text length; :data:`MAX_SCORED_CHARS` bounds it for long self-posts,
whose opening carries the tone.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SENTIMENT_COLUMNS: list[str] = ["compound", "pos", "neu", "neg"]
MAX_SCORED_CHARS = 2000


@cache
def analyzer() -> SentimentIntensityAnalyzer:
    """The process-wide VADER analyzer."""
    return SentimentIntensityAnalyzer()


def score_texts(texts: Iterable[str | None]) -> pd.DataFrame:
    """VADER scores, one row per text in order: ``compound`` in [-1, 1], ``pos/neu/neg`` in [0, 1].

    The returned frame has a fresh ``RangeIndex``; blank or missing texts score NaN.
    """
    items = [t[:MAX_SCORED_CHARS] if isinstance(t, str) and t.strip() else None for t in texts]
    scores: dict[str, tuple[float, float, float, float]] = {}
    polarity = analyzer().polarity_scores
    for text in items:
        if text is not None and text not in scores:
            s = polarity(text)
            scores[text] = (s["compound"], s["pos"], s["neu"], s["neg"])
    nan = (np.nan,) * len(SENTIMENT_COLUMNS)
    rows = [scores[t] if t is not None else nan for t in items]
    return pd.DataFrame(rows, columns=SENTIMENT_COLUMNS, dtype="float64").reset_index(drop=True)


def with_sentiment(frame: pd.DataFrame, texts: Iterable[str | None]) -> pd.DataFrame:
    """``frame`` with ``sentiment_compound/pos/neu/neg`` scored from ``texts`` (row-aligned)."""
    scored = score_texts(texts)
    out = frame.copy()
    for column in SENTIMENT_COLUMNS:
        out[f"sentiment_{column}"] = scored[column].to_numpy()
    return out

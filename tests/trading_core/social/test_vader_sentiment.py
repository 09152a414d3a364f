"""VADER scoring: order, ranges, missing text, and one shared analyzer."""

from __future__ import annotations

import math

import pandas as pd

from trading_core.social.sentiment import (
    SENTIMENT_COLUMNS,
    analyzer,
    score_texts,
    with_sentiment,
)


def test_scores_follow_the_tone_of_each_text_in_order() -> None:
    scores = score_texts(
        [
            "Bitcoin is doing great, I love this rally!",
            "Terrible crash, I lost everything. Awful.",
            "The report was published on Tuesday.",
        ]
    )
    assert list(scores.columns) == SENTIMENT_COLUMNS
    bullish, bearish, neutral = scores.to_dict("records")
    assert bullish["compound"] > 0.5
    assert bearish["compound"] < -0.5
    assert neutral["compound"] == 0 and neutral["neu"] == 1
    for row in (bullish, bearish, neutral):
        assert math.isclose(row["pos"] + row["neu"] + row["neg"], 1, abs_tol=0.01)


def test_missing_or_blank_text_scores_nan_not_neutral() -> None:
    scores = score_texts([None, "", "   ", "good"])
    assert scores.iloc[:3].isna().all().all()
    assert scores.loc[3, "compound"] > 0


def test_repeated_texts_score_identically_and_the_analyzer_is_shared() -> None:
    scores = score_texts(["to the moon"] * 3 + ["rug pull scam"])
    assert scores.iloc[0].equals(scores.iloc[1]) and scores.iloc[1].equals(scores.iloc[2])
    assert analyzer() is analyzer()


def test_with_sentiment_aligns_scores_to_rows_whatever_the_index() -> None:
    frame = pd.DataFrame({"text": ["awful loss", "great gain"]}, index=[10, 3])
    scored = with_sentiment(frame, frame["text"])
    assert scored.loc[10, "sentiment_compound"] < 0 < scored.loc[3, "sentiment_compound"]
    assert "sentiment_neg" in scored.columns and "compound" not in scored.columns

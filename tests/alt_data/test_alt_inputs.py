"""trading_core.alt_inputs: point in time, the counts, and hostile inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.alt_data.helpers import events, hash_rate, hourly_bars, items, onchain, posts
from trading_core import alt_inputs, signals
from trading_core.alt_inputs import ALT_COLUMNS, AltItems, assemble, counts
from trading_core.backtest import BacktestConfig, run_backtest
from trading_core.strategies import get_strategy

HOUR = pd.Timedelta(hours=1)


def _first(flags: pd.Series) -> int:
    hits = np.flatnonzero(flags.to_numpy())
    assert len(hits), "the item never took effect"
    return int(hits[0])


def _news_backtest_entry(bars: pd.DataFrame, published: pd.Timestamp) -> int:
    """Bar index of the entry a listing published at ``published`` causes (news-only)."""
    built = assemble(bars, items(events=events([published], "listing")), "BTC").columns
    strategy = get_strategy("composite", {"weights": {"news": 1.0}, "exit_on_hack": False})
    result = run_backtest(
        pd.concat([bars, built], axis=1), strategy, BacktestConfig(fill="close", warmup=0)
    )
    entry_ts = pd.Timestamp(result.trades["entry_ts"].iloc[0]) if len(result.trades) else None
    if entry_ts is None:
        entry_ts = pd.Timestamp(result.to_dict()["open_trade"]["entry_ts"])
    return int(np.flatnonzero(bars["ts"] == entry_ts)[0])


@pytest.mark.parametrize("minute", [0, 17, 59])
def test_moving_published_at_one_bar_later_moves_the_effect_one_bar_later(minute: int) -> None:
    bars = hourly_bars(200)
    at = bars["ts"].iloc[100] + pd.Timedelta(minutes=minute)
    for make, column in (
        (lambda t: items(sentiment=posts([t], 0.8)), "sentiment_score"),
        (lambda t: items(events=events([t], "hack")), "news_hack"),
    ):
        now = assemble(bars, make(at), "BTC").columns[column]
        later = assemble(bars, make(at + HOUR), "BTC").columns[column]
        flags_now = now.notna() & (now != 0) if column != "news_hack" else now
        flags_later = later.notna() & (later != 0) if column != "news_hack" else later
        assert _first(flags_later) == _first(flags_now) + 1
        # known at the end of its publication hour: the bar that closes then (opens at 100)
        assert _first(flags_now) == 100
        assert flags_now.iloc[:100].sum() == 0
    # and through the composite signal into the backtest's trade
    assert _news_backtest_entry(bars, at + HOUR) == _news_backtest_entry(bars, at) + 1


def test_a_news_event_lasts_24_hours_and_sums_its_classes() -> None:
    bars = hourly_bars(100)
    t = bars["ts"].iloc[10]
    both = pd.concat(
        [events([t], "listing"), events([t], "regulation").assign(item_id="n9")] * 2
    )  # each twice: a duplicate counts once
    out = assemble(bars, items(events=both), "BTC").columns
    active = out["news_score"].notna()
    assert active.sum() == 24 and _first(active) == 10
    assert out["news_score"][active].round(6).eq(0.2).all()
    assert set(out["news_classes"][active]) == {"listing,regulation"}
    assert out["news_count"][active].eq(2).all() and not out["news_hack"].any()


def test_onchain_z_uses_only_days_known_by_the_close() -> None:
    bars = hourly_bars(24 * 20)
    chain = onchain(hash_rate(20, jump_day=10))
    out = assemble(bars, items(onchain=chain), "BTC").columns
    z = out["onchain_hash_rate_z"]
    day_10_known = alt_inputs.bar_closes(bars) >= pd.Timestamp("2024-01-12")
    assert (z[day_10_known].iloc[:1] > 2).all()  # the jump, on the first bar that knows it
    assert (z[~day_10_known].abs() < 3).all()
    assert (out["onchain_z"] == z).all()
    # later data never changes earlier values
    cut = assemble(bars, items(onchain=chain[chain["known_at"] <= "2024-01-08"]), "BTC").columns
    early = alt_inputs.bar_closes(bars) < pd.Timestamp("2024-01-08 12:00")
    pd.testing.assert_series_equal(cut["onchain_hash_rate_z"][early], z[early])


def test_stale_onchain_values_are_not_used() -> None:
    bars = hourly_bars(24 * 30)
    chain = onchain(hash_rate(5))
    z = assemble(bars, items(onchain=chain), "BTC").columns["onchain_hash_rate_z"]
    last_known = chain["known_at"].max()
    closes = alt_inputs.bar_closes(bars)
    assert z[closes > last_known + pd.Timedelta(days=10)].isna().all()
    assert z[closes <= last_known + pd.Timedelta(days=10)].notna().any()


def test_counts_are_the_items_a_decision_read() -> None:
    bars = hourly_bars(24 * 20)
    decisions = bars["ts"] >= bars["ts"].iloc[24 * 12]
    ts = bars["ts"]
    sentiment = pd.concat(
        [
            posts([ts.iloc[5]], 0.5),  # 8 days + before the first decision: too old
            posts([ts.iloc[24 * 12 - 3]], 0.5).assign(item_id="r1"),  # 3h before: read
            posts([ts.iloc[24 * 12 + 1]], -0.5, source="x"),
            posts([ts.iloc[-1] + pd.Timedelta(days=2)], 0.1).assign(item_id="r2"),  # future
        ]
    )
    news = events([ts.iloc[2], ts.iloc[24 * 13]], "upgrade")
    chain = onchain(hash_rate(20))
    built = assemble(bars, items(sentiment=sentiment, events=news, onchain=chain), "BTC", decisions)
    got = counts(built.used)
    assert got["reddit"] == 1 and got["x"] == 1 and got["news"] == 1
    # the 30 observations behind the first decision's z-score, and every later day
    assert 30 <= got["onchain"] <= 30 + 9
    assert set(got) == {"reddit", "x", "news", "onchain"}


def test_hostile_inputs() -> None:
    bars = hourly_bars(50)
    ts = bars["ts"]
    bad_posts = pd.concat(
        [
            posts([ts.iloc[3]], float("nan")),
            posts([ts.iloc[4]], 0.5).assign(item_id="dup"),
            posts([ts.iloc[4]], 0.5).assign(item_id="dup"),
        ]
    )
    raw_posts = pd.DataFrame(
        {
            "post_id": ["a", "b", "c", "c"],
            "published_at": [ts.iloc[3], None, ts.iloc[4], ts.iloc[4]],
            "symbols": ["BTC,eth", "BTC", None, "BTC"],
            "sentiment_compound": [0.2, 0.3, float("inf"), "nope"],
        }
    )
    cleaned = alt_inputs.sentiment_items(raw_posts, "reddit")
    assert sorted(cleaned["asset"]) == ["BTC", "ETH"] and set(cleaned["item_id"]) == {"a"}
    with pytest.raises(ValueError, match=r"source must be one of \['reddit', 'x', 'news'\]"):
        alt_inputs.sentiment_items(raw_posts, "telegram")
    chain = onchain(hash_rate(10)).astype({"value": object})
    chain.loc[3, "value"] = np.inf
    chain.loc[4, "value"] = "x"
    out = assemble(bars, items(sentiment=bad_posts.dropna(), onchain=chain), "BTC").columns
    assert list(out.columns) == ALT_COLUMNS
    assert np.isfinite(out["onchain_hash_rate_z"].dropna()).all()
    with pytest.raises(ValueError, match=r"unknown event classes \['rumour'\]; allowed"):
        assemble(bars, items(events=events([ts.iloc[1]], "rumour")), "BTC")
    with pytest.raises(ValueError, match="strictly increasing"):
        assemble(bars.iloc[::-1], AltItems(), "BTC")
    with pytest.raises(ValueError, match=r"AltItems.events lacks columns \['event_class'\]"):
        AltItems(events=pd.DataFrame(columns=["item_id", "published_at", "asset"]))
    # no items at all: every column present, nothing known
    empty = assemble(bars, AltItems(), "BTC").columns
    assert empty.drop(columns=["news_count", "news_hack"]).isna().all().all()


def test_sparse_inputs_do_not_dilute_confidence() -> None:
    frame = pd.DataFrame({"rsi_14": [30.0, 30.0], "news_score": [np.nan, -1.0]})
    out = signals.composite(frame, {"rsi": 1.0, "news": 1.0}, explain=True)
    assert out["confidence"].tolist() == [1.0, 1.0]
    assert out["score"].tolist() == pytest.approx([1.0, 0.0])
    assert out["action"].tolist() == ["BUY", "HOLD"]

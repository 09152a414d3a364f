"""Point-in-time alternative-data inputs per bar: the one assembly live signals and backtests use.

``fct_signals`` (live) and ``trading backtest --alt-data`` both call :func:`assemble` on a
series' bars and the alternative items of its base asset, so a backtest sees at each bar
exactly what the live signal saw. Pure pandas/numpy; no I/O.

When an item is known (``known_at``) - a bar closing at ``c`` may use it iff ``known_at <= c``:
- a post or news item: the end of the hour it was published in (the hourly buckets of
  ``int_sentiment_hourly``), so moving ``published_at`` one 1h bar later moves its effect
  one bar later;
- an on-chain value: the end of the day it describes (``int_onchain_daily.available_at``).

Columns (:data:`ALT_COLUMNS`), NaN where nothing is known:
- ``sentiment_score`` / ``sentiment_count``: mean VADER compound and number of mentions of
  the asset (Reddit, X, news) in hourly buckets known in ``(c - 24h, c]``;
- ``sentiment_velocity``: ``sentiment_score`` now minus 24 hours earlier;
- ``sentiment_z``: z-score of ``sentiment_score`` against its hourly values over the
  previous :data:`SENTIMENT_Z_HOURS` hours (at least 24 of them defined);
- ``news_score`` in [-1, 1]: the sum of :data:`~trading_core.news_events.EVENT_VALUES` of the
  news events concerning the asset known in ``(c - 24h, c]``, clipped; ``news_count`` the
  items behind it; ``news_hack`` (bool) a hack/exploit among them; ``news_classes`` the
  classes, comma-separated (None without events);
- ``onchain_<feature>_z`` for each of :data:`ONCHAIN_FEATURES` the source has: z-score of the
  latest known value against the :data:`ONCHAIN_Z_OBS` observations up to it, unused once
  older than :data:`ONCHAIN_STALE`; ``onchain_z``: their mean, exchange net inflow with its
  sign turned (coins moving to exchanges are sold).

:func:`assemble` also returns, per source (``reddit``, ``x``, ``news``, ``onchain``), the ids
of the items that entered the inputs of at least one decision bar: a post or news item whose
bucket lies in a decision's sentiment look-back (24h + the z-score's hours) or news window, an
on-chain value among the observations behind a decision's z-score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trading_core.news_events import EVENT_VALUES

SOURCES: tuple[str, ...] = ("reddit", "x", "news", "onchain")
HOUR = pd.Timedelta(hours=1)
SENTIMENT_WINDOW_HOURS = 24
SENTIMENT_Z_HOURS = 168
NEWS_WINDOW = pd.Timedelta(hours=24)
ONCHAIN_Z_OBS = 30
ONCHAIN_MIN_OBS = 10
ONCHAIN_STALE = pd.Timedelta(days=10)
# feature -> (candidate metric names in order of preference, sign in onchain_z)
ONCHAIN_FEATURES: dict[str, tuple[tuple[str, ...], float]] = {
    "active_addresses": (("n_unique_addresses", "AdrActCnt"), 1.0),
    "transactions": (("n_transactions",), 1.0),
    "hash_rate": (("hash_rate",), 1.0),
    "exchange_flow": (("exchange_net_inflow", "FlowNetInExNtv", "FlowInExNtv"), -1.0),
}
ALT_COLUMNS: list[str] = [
    "sentiment_score",
    "sentiment_count",
    "sentiment_velocity",
    "sentiment_z",
    "news_score",
    "news_count",
    "news_hack",
    "news_classes",
    *[f"onchain_{name}_z" for name in ONCHAIN_FEATURES],
    "onchain_z",
]
SENTIMENT_ITEM_COLUMNS = ["source", "item_id", "published_at", "asset", "sentiment"]
EVENT_ITEM_COLUMNS = ["item_id", "published_at", "asset", "event_class"]
ONCHAIN_ITEM_COLUMNS = ["asset", "metric", "known_at", "value"]


@dataclass(frozen=True)
class AltItems:
    """Alternative items, long: ``sentiment`` (:data:`SENTIMENT_ITEM_COLUMNS`, one row per
    item and asset it mentions), ``events`` (:data:`EVENT_ITEM_COLUMNS`), ``onchain``
    (:data:`ONCHAIN_ITEM_COLUMNS`). Times naive UTC."""

    sentiment: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=SENTIMENT_ITEM_COLUMNS)
    )
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVENT_ITEM_COLUMNS))
    onchain: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=ONCHAIN_ITEM_COLUMNS)
    )

    def __post_init__(self) -> None:
        for name, columns in (
            ("sentiment", SENTIMENT_ITEM_COLUMNS),
            ("events", EVENT_ITEM_COLUMNS),
            ("onchain", ONCHAIN_ITEM_COLUMNS),
        ):
            missing = [c for c in columns if c not in getattr(self, name).columns]
            if missing:
                raise ValueError(f"AltItems.{name} lacks columns {missing}; needed: {columns}")

    def for_asset(self, asset: str) -> AltItems:
        return AltItems(
            self.sentiment[self.sentiment["asset"] == asset].reset_index(drop=True),
            self.events[self.events["asset"] == asset].reset_index(drop=True),
            self.onchain[self.onchain["asset"] == asset].reset_index(drop=True),
        )


def item_known_at(published_at: pd.Series) -> pd.Series:
    """A post's or news item's ``known_at``: the end of its publication hour."""
    return pd.to_datetime(published_at).dt.floor("h") + HOUR


def sentiment_items(posts: pd.DataFrame, source: str) -> pd.DataFrame:
    """Long sentiment items from posts/news rows (``item_id`` or ``post_id``, ``published_at``,
    ``symbols`` comma-separated, ``sentiment_compound``); rows without symbols, time or a
    finite sentiment are left out."""
    if source not in SOURCES[:3]:
        raise ValueError(f"source must be one of {list(SOURCES[:3])}, got {source!r}")
    ident = "item_id" if "item_id" in posts.columns else "post_id"
    frame = pd.DataFrame(
        {
            "source": source,
            "item_id": posts[ident].astype(str),
            "published_at": pd.to_datetime(posts["published_at"], errors="coerce"),
            "asset": posts["symbols"].where(posts["symbols"].map(lambda s: isinstance(s, str))),
            "sentiment": pd.to_numeric(posts["sentiment_compound"], errors="coerce"),
        }
    )
    frame = frame.dropna(subset=["published_at", "asset"])
    frame = frame[np.isfinite(frame["sentiment"].to_numpy(dtype=float))]
    frame = frame.assign(asset=frame["asset"].str.split(",")).explode("asset")
    frame["asset"] = frame["asset"].str.strip().str.upper()
    frame = frame[frame["asset"] != ""]
    return frame.drop_duplicates(["source", "item_id", "asset"])[SENTIMENT_ITEM_COLUMNS]


def bar_closes(bars: pd.DataFrame) -> pd.Series:
    """Each bar's close (``available_at``, else ``ts`` + the median bar spacing)."""
    if "available_at" in bars.columns:
        return pd.to_datetime(bars["available_at"])
    ts = pd.to_datetime(bars["ts"])
    if len(ts) < 2:
        raise ValueError("bars need 'available_at' or at least two 'ts' to infer the timeframe")
    return ts + ts.diff().median()


@dataclass(frozen=True)
class Assembled:
    columns: pd.DataFrame
    used: dict[str, set[str]]


def _window_used(known: np.ndarray, closes: np.ndarray, span: pd.Timedelta) -> np.ndarray:
    """Items known at ``known`` that fall in ``(c - span, c]`` for some decision close ``c``."""
    if not len(closes):
        return np.zeros(len(known), dtype=bool)
    nxt = np.searchsorted(closes, known, side="left")
    ok = nxt < len(closes)
    first = closes[np.minimum(nxt, len(closes) - 1)]
    return ok & (first < known + span.to_timedelta64())


def _sentiment(
    items: pd.DataFrame, closes: np.ndarray, decided: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    n = len(closes)
    nan = np.full(n, np.nan)
    out = {k: nan.copy() for k in ALT_COLUMNS[:4]}
    if not len(items) or not n:
        return out, np.zeros(len(items), dtype=bool)
    known = item_known_at(items["published_at"]).to_numpy(dtype="datetime64[ns]")
    buckets = pd.DataFrame({"known": known, "s": items["sentiment"].to_numpy(dtype=float)})
    agg = buckets.groupby("known")["s"].agg(["sum", "count"])
    last = max(agg.index.max(), pd.Timestamp(closes.max()).floor("h"))
    grid = pd.date_range(agg.index.min(), last, freq="h")
    hourly = agg.reindex(grid, fill_value=0.0)
    total = hourly["sum"].rolling(SENTIMENT_WINDOW_HOURS, min_periods=1).sum()
    count = hourly["count"].rolling(SENTIMENT_WINDOW_HOURS, min_periods=1).sum()
    score = (total / count.where(count > 0)).astype(float)
    velocity = score - score.shift(SENTIMENT_WINDOW_HOURS)
    history = score.shift(1).rolling(SENTIMENT_Z_HOURS, min_periods=24)
    std = history.std()
    z = (score - history.mean()) / std.where(std > 1e-12)
    at = np.searchsorted(grid.to_numpy(), closes, side="right") - 1
    valid = at >= 0
    idx = np.where(valid, at, 0)
    for name, series in (
        ("sentiment_score", score),
        ("sentiment_count", count.where(count > 0)),
        ("sentiment_velocity", velocity),
        ("sentiment_z", z),
    ):
        out[name] = np.where(valid, series.to_numpy(dtype=float)[idx], np.nan)
    lookback = HOUR * (SENTIMENT_WINDOW_HOURS + SENTIMENT_Z_HOURS)
    return out, _window_used(known, decided, lookback)


def _news(
    events: pd.DataFrame, closes: np.ndarray, decided: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    n = len(closes)
    out: dict[str, np.ndarray] = {
        "news_score": np.full(n, np.nan),
        "news_count": np.zeros(n),
        "news_hack": np.zeros(n, dtype=bool),
        "news_classes": np.full(n, None, dtype=object),
    }
    if not len(events) or not n:
        return out, np.zeros(len(events), dtype=bool)
    unknown = sorted(set(events["event_class"]) - set(EVENT_VALUES))
    if unknown:
        raise ValueError(f"unknown event classes {unknown}; allowed: {list(EVENT_VALUES)}")
    ordered = (
        events.drop_duplicates(["item_id", "event_class"])  # a re-read item counts once
        .assign(known=item_known_at(events["published_at"]))
        .sort_values("known", kind="stable")
    )
    known = ordered["known"].to_numpy(dtype="datetime64[ns]")
    values = ordered["event_class"].map(EVENT_VALUES).to_numpy(dtype=float)
    hacks = (ordered["event_class"] == "hack").to_numpy(dtype=float)
    hi = np.searchsorted(known, closes, side="right")
    lo = np.searchsorted(known, closes - NEWS_WINDOW.to_timedelta64(), side="right")
    cum = np.concatenate([[0.0], np.cumsum(values)])
    cum_hack = np.concatenate([[0.0], np.cumsum(hacks)])
    has = hi > lo
    out["news_score"] = np.where(has, np.clip(cum[hi] - cum[lo], -1.0, 1.0), np.nan)
    out["news_hack"] = (cum_hack[hi] - cum_hack[lo]) > 0
    ids, classes = ordered["item_id"].to_numpy(), ordered["event_class"].to_numpy()
    for i in np.flatnonzero(has):
        out["news_count"][i] = len(set(ids[lo[i] : hi[i]]))
        out["news_classes"][i] = ",".join(sorted(set(classes[lo[i] : hi[i]])))
    used_rows = _window_used(known, decided, NEWS_WINDOW)
    used = np.zeros(len(events), dtype=bool)
    used[events.index.get_indexer(ordered.index[used_rows])] = True
    return out, used


def _latest(known: np.ndarray, closes: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per close: the index of the latest observation known by then, and its z (NaN when
    there is none or it is stale)."""
    at = np.searchsorted(known, closes, side="right") - 1
    idx = np.where(at >= 0, at, 0)
    fresh = (at >= 0) & (closes - known[idx] <= ONCHAIN_STALE.to_timedelta64())
    return idx, np.where(fresh, z[idx] if len(z) else np.nan, np.nan)


def _onchain_metric(
    obs: pd.DataFrame, closes: np.ndarray, decided: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """z per close of one metric's observations (sorted by ``known_at``, one per instant),
    and which observations the decisions' z-scores read."""
    known = obs["known_at"].to_numpy(dtype="datetime64[ns]")
    values = pd.Series(obs["value"].to_numpy(dtype=float))
    roll = values.rolling(ONCHAIN_Z_OBS, min_periods=ONCHAIN_MIN_OBS)
    std = roll.std()
    z = ((values - roll.mean()) / std.where(std > 0)).to_numpy()
    _, z_at = _latest(known, closes, z)
    idx, z_decided = _latest(known, decided, z)
    mark = np.zeros(len(known) + 1)
    for i in np.unique(idx[np.isfinite(z_decided)]):
        mark[max(0, i - ONCHAIN_Z_OBS + 1)] += 1
        mark[i + 1] -= 1
    return z_at, np.cumsum(mark)[:-1] > 0


def _onchain(
    rows: pd.DataFrame, closes: np.ndarray, decided: np.ndarray
) -> tuple[dict[str, np.ndarray], set[str]]:
    n = len(closes)
    out = {f"onchain_{name}_z": np.full(n, np.nan) for name in ONCHAIN_FEATURES}
    used: set[str] = set()
    signed = []
    clean = rows[np.isfinite(pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float))]
    for name, (candidates, sign) in ONCHAIN_FEATURES.items():
        metric = next((m for m in candidates if (clean["metric"] == m).any()), None)
        if metric is None or not n:
            continue
        obs = clean[clean["metric"] == metric].sort_values("known_at", kind="stable")
        obs = obs.drop_duplicates("known_at", keep="last")
        z, took = _onchain_metric(obs, closes, decided)
        out[f"onchain_{name}_z"] = z
        signed.append(sign * z)
        used.update(
            f"{asset}|{metric}|{pd.Timestamp(k).isoformat()}"
            for asset, k in zip(obs["asset"][took], obs["known_at"][took], strict=True)
        )
    if signed:
        stacked = np.vstack(signed)
        defined = np.isfinite(stacked).sum(axis=0)
        total = np.nansum(stacked, axis=0)
        out["onchain_z"] = np.where(defined > 0, total / np.maximum(defined, 1), np.nan)
    else:
        out["onchain_z"] = np.full(n, np.nan)
    return out, used


def assemble(
    bars: pd.DataFrame, items: AltItems, asset: str, decisions: pd.Series | None = None
) -> Assembled:
    """:data:`ALT_COLUMNS` for one series' ``bars`` (oldest first) from ``asset``'s items,
    and the ids per source that entered a decision's inputs (``decisions``: a boolean mask
    of the bars that decide; default all)."""
    closes_series = bar_closes(bars)
    closes = closes_series.to_numpy(dtype="datetime64[ns]")
    if len(closes) > 1 and not (np.diff(closes) > np.timedelta64(0)).all():
        raise ValueError("bars must be in strictly increasing time order")
    mine = items.for_asset(asset.upper())
    mask = np.ones(len(bars), dtype=bool) if decisions is None else np.asarray(decisions, bool)
    decided = closes[mask]
    values, sentiment_used = _sentiment(mine.sentiment, closes, decided)
    news_values, news_used = _news(mine.events, closes, decided)
    onchain_values, onchain_used = _onchain(mine.onchain, closes, decided)
    frame = pd.DataFrame({**values, **news_values, **onchain_values}, index=bars.index)
    used: dict[str, set[str]] = {s: set() for s in SOURCES}
    for source in ("reddit", "x", "news"):
        pick = (mine.sentiment["source"] == source).to_numpy() & sentiment_used
        used[source].update(mine.sentiment["item_id"].to_numpy()[pick])
    used["news"].update(mine.events["item_id"].to_numpy()[news_used])
    used["onchain"] = onchain_used
    return Assembled(frame[ALT_COLUMNS], used)


def counts(used: dict[str, set[str]]) -> dict[str, int]:
    """``{"reddit": n, "x": n, "news": n, "onchain": n}`` from :attr:`Assembled.used`."""
    return {source: len(used.get(source, set())) for source in SOURCES}

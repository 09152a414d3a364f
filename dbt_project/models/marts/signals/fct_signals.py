"""The composite signal per exchange/symbol/timeframe/bar, with its reasons.

trading_core.signals.composite turns every input (MACD, RSI, Bollinger, trend, sentiment,
order-book imbalance) into a value in [-1, 1] with a confidence; the score is their
confidence-weighted mean with the configured weights; BUY / SELL / HOLD by the configured
thresholds; `reasons` keeps each input's value, normalised value, confidence, weight and
contribution. `confluence` aligns the score of this timeframe with every higher configured
timeframe of the same market, point in time (a higher bar counts only once it closed).

Incremental (trading_core.incremental): the bars int_signal_inputs changed (its marks) are
scored again, and so is every bar of a lower timeframe of the same market from the close of
the first changed higher bar on (all of them when the higher series is new or rebuilt from
its start: its presence changes `aligned` everywhere). Confluence reads the stored scores of
the higher timeframes from the last bar that closed before the first bar it recomputes.

Alternative data (trading_core.alt_inputs.assemble, the assembly `trading backtest
--alt-data` uses too): sentiment score, count, velocity and z-score, news event classes and
on-chain z-scores of the bar's base asset, point in time, from stg_reddit_posts, stg_x_posts,
stg_news_items and int_onchain_daily (each optional: a table not built is no data). Changed
posts and news reach the bars through int_signal_inputs' sentiment marks; changed on-chain
days mark the series of their asset here (fingerprints in fct_signals__onchain_seen), from
the day's close minus one day on.
"""

import json

import pandas as pd

KEYS = ["exchange", "symbol", "timeframe"]
MARKET = ["exchange", "symbol"]


def _with_confluence(market: pd.DataFrame) -> pd.DataFrame:
    from trading_core.signals import confluence
    from trading_core.timeframes import timeframe_seconds

    by_tf = {tf: frame for tf, frame in market.groupby("timeframe")}
    ordered = sorted(by_tf, key=timeframe_seconds)
    out = []
    for i, tf in enumerate(ordered):
        aligned = confluence({t: by_tf[t] for t in ordered[i:]})
        out.append(by_tf[tf].merge(aligned[["ts", "confluence", "aligned"]], on="ts", how="left"))
    return pd.concat(out, ignore_index=True)


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="series_tail",
        series_keys=["exchange", "symbol", "timeframe"],
        post_hook="delete from intermediate.recompute_marks where consumer = 'fct_signals'",
    )
    import trading_core.signals as signals
    from trading_core import incremental as inc

    weights = json.loads(dbt.config.get("signal_weights_json") or "{}") or None
    thresholds = {
        "buy_threshold": float(dbt.config.get("buy_threshold")),
        "sell_threshold": float(dbt.config.get("sell_threshold")),
        "min_confidence": float(dbt.config.get("min_confidence")),
    }
    import trading_core.alt_inputs as alt_inputs
    import trading_core.news_events as news_events

    recipe = inc.code_version(
        signals, alt_inputs, news_events, json.dumps([weights, thresholds], sort_keys=True)
    )
    inputs = dbt.ref("int_signal_inputs")
    registry = f"{dbt.this.schema}.fct_signals__series"
    # each optional: a model not built here is no data (dbt finds refs only in plain calls)
    tables = {}
    try:
        tables["reddit"] = dbt.ref("stg_reddit_posts")
    except Exception:  # duckdb.CatalogException
        tables["reddit"] = None
    try:
        tables["x"] = dbt.ref("stg_x_posts")
    except Exception:
        tables["x"] = None
    try:
        tables["news"] = dbt.ref("stg_news_items")
    except Exception:
        tables["news"] = None
    try:
        tables["onchain"] = dbt.ref("int_onchain_daily")
    except Exception:
        tables["onchain"] = None
    seen = f"{dbt.this.schema}.fct_signals__onchain_seen"
    if not dbt.is_incremental:
        items = _alt_items(session, tables, None)
        scored = _score(inputs.df(), weights, thresholds, signals.composite, items)
        _onchain_changes(session, seen, tables["onchain"])
        if not len(scored):
            return scored.assign(confluence=0.0, aligned=False)
        markets = [_with_confluence(m) for _, m in scored.groupby(MARKET, sort=True)]
        built = pd.concat(markets, ignore_index=True)
        _register(session, registry, built)
        inc.rebuilt(session, "fct_signals", recipe, built, [])
        return built

    this, upstream = str(dbt.this), f"({inputs.sql_query()})"
    inc.follow_recipe(session, "fct_signals", recipe, this)
    marks = inc.read_marks(session, "fct_signals")
    series = _register(session, registry, marks)
    changed = _onchain_changes(session, seen, tables["onchain"])
    marks = inc.merge_plans(marks, _onchain_plan(changed, series))
    plan = _confluence_plan(session, this, marks, series)
    fresh = inc.read_rows(session, upstream, ["*"], plan, since="recompute_from")
    since = plan["recompute_from"].min() if len(plan) else None
    items = _alt_items(session, tables, since)
    scored = _score(fresh, weights, thresholds, signals.composite, items)
    return inc.tail(_with_stored_confluence(session, this, scored, plan, series), plan)


ALT_READ = {
    "reddit": "post_id, published_at, symbols, sentiment_compound",
    "x": "post_id, published_at, symbols, sentiment_compound",
    "news": "item_id, published_at, title, summary, symbols, sentiment_compound",
    "onchain": "asset, metric, available_at, value",
}


def _alt_items(session, tables, since):
    """The alternative items the bars from ``since`` on may read (None: all): posts and
    news from the sentiment look-back before it (24 h + the z-score's hours, with a day to
    spare), the on-chain metrics the features use from a year before it."""
    from trading_core.alt_data_dir import items_from_tables
    from trading_core.alt_inputs import (
        ONCHAIN_FEATURES,
        SENTIMENT_WINDOW_HOURS,
        SENTIMENT_Z_HOURS,
    )

    metrics = sorted({m for names, _ in ONCHAIN_FEATURES.values() for m in names})
    back = pd.Timedelta(hours=SENTIMENT_WINDOW_HOURS + SENTIMENT_Z_HOURS + 24)
    frames = {}
    for name, rel in tables.items():
        if rel is None:
            frames[name] = None
            continue
        where, params = "true", []
        if name == "onchain":
            where = "metric in (select unnest(?))"
            params = [metrics]
            if since is not None:
                where += " and available_at >= ?"
                params.append(pd.Timestamp(since) - pd.Timedelta(days=400))
        elif since is not None:
            where, params = "published_at >= ?", [pd.Timestamp(since) - back]
        query = f"select {ALT_READ[name]} from ({rel.sql_query()}) where {where}"
        frames[name] = session.execute(query, params).df()
    return items_from_tables(frames["reddit"], frames["x"], frames["news"], frames["onchain"])


def _with_alt(series, items):
    """The series' rows with the alternative columns of its base asset (point in time)."""
    from trading_core.alt_inputs import assemble

    asset = str(series["symbol"].iloc[0]).split("/")[0]
    built = assemble(series, items, asset).columns
    built["news_classes"] = built["news_classes"].astype("string")
    return pd.concat([series.drop(columns=[c for c in built if c in series]), built], axis=1)


def _onchain_changes(session, seen, onchain):
    """Per asset, the earliest ``available_at`` of an on-chain day that changed (appeared,
    vanished or got another value) since the last run; the fingerprints are then stored."""
    session.execute(
        f"create table if not exists {seen} "
        "(asset varchar, metric varchar, available_at timestamp, fingerprint ubigint)"
    )
    if onchain is None:
        now = "select * from " + seen + " where false"
    else:
        now = (
            "select asset, metric, available_at, hash(value) as fingerprint "
            f"from ({onchain.sql_query()})"
        )
    changed = session.execute(
        f"with now_ as ({now}), seen_ as (select * from {seen}) "
        "select upper(asset) as asset, min(available_at) as changed_from from ("
        "(select * from now_ except select * from seen_) union all "
        "(select * from seen_ except select * from now_)) group by all"
    ).df()
    session.execute(f"create or replace table {seen} as {now}")
    return changed


def _onchain_plan(changed, series):
    from trading_core import incremental as inc

    if not len(changed) or not len(series):
        return inc.empty_plan()
    assets = series.assign(asset=series["symbol"].str.split("/").str[0].str.upper())
    joined = assets.merge(changed, on="asset")
    joined["recompute_from"] = pd.to_datetime(joined["changed_from"]) - pd.Timedelta(days=1)
    return joined[[*KEYS, "recompute_from"]]


def _score(inputs, weights, thresholds, composite, items):
    scored = []
    for _, series in inputs.groupby(KEYS, sort=True):
        series = series.sort_values("ts").reset_index(drop=True)
        series = _with_alt(series, items)
        signal = composite(series, weights=weights, **thresholds)
        scored.append(pd.concat([series, signal], axis=1))
    if not scored:
        from trading_core.alt_inputs import ALT_COLUMNS

        empty = inputs.iloc[0:0].drop(columns=[c for c in ALT_COLUMNS if c in inputs])
        alt = {c: pd.Series(dtype=float) for c in ALT_COLUMNS}
        alt.update(news_hack=pd.Series(dtype=bool), news_classes=pd.Series(dtype="string"))
        return empty.assign(**alt, score=0.0, confidence=0.0, action="", reasons="")
    return pd.concat(scored, ignore_index=True)


def _register(session, registry, frame):
    """Every series fct_signals holds (entries are only ever added: an extra one is
    harmless, a missing one would leave its timeframe out of the confluence)."""
    session.execute(
        f"create table if not exists {registry} "
        "(exchange varchar, symbol varchar, timeframe varchar)"
    )
    session.register("_seen_series", frame[KEYS].drop_duplicates())
    try:
        session.execute(
            f"insert into {registry} select * from _seen_series "
            f"except select exchange, symbol, timeframe from {registry}"
        )
    finally:
        session.unregister("_seen_series")
    return session.execute(f"select * from {registry} order by all").df()


def _confluence_plan(session, this, marks, series):
    """The marks, extended to every lower timeframe of a market whose higher bars changed:
    from the close of the first changed higher bar on, or entirely when nothing of the
    higher series is stored before that bar."""
    from trading_core import incremental as inc
    from trading_core.timeframes import timeframe_seconds

    stored = inc.history_start(session, this, marks, 1)
    extra = []
    for mark in stored.itertuples(index=False):
        higher = timeframe_seconds(mark.timeframe)
        market = series[(series["exchange"] == mark.exchange) & (series["symbol"] == mark.symbol)]
        for lower in market["timeframe"]:
            step = timeframe_seconds(lower)
            if step >= higher:
                continue
            if mark.read_from >= mark.recompute_from:
                start = inc.BEGINNING
            else:
                start = mark.recompute_from + pd.Timedelta(seconds=higher - step)
            extra.append((mark.exchange, mark.symbol, lower, start))
    extended = pd.DataFrame(extra, columns=[*KEYS, "recompute_from"])
    return inc.merge_plans(marks, extended)


def _with_stored_confluence(session, this, scored, plan, series):
    """``scored`` (the recomputed bars) with confluence and aligned, the higher timeframes'
    scores taken from the recomputed bars and, before them, from the stored ones."""
    from trading_core import incremental as inc
    from trading_core.signals import confluence
    from trading_core.timeframes import timeframe_seconds

    if not len(scored):
        return scored.assign(confluence=pd.Series(dtype=float), aligned=pd.Series(dtype=bool))
    starts = inc.history_start(session, this, _higher_needs(plan, series), 1)
    stored = inc.read_rows(session, this, [*KEYS, "ts", "score"], starts, until="until")
    out = []
    for (exchange, symbol), market in scored.groupby(MARKET, sort=True):
        mine = stored[(stored["exchange"] == exchange) & (stored["symbol"] == symbol)]
        scores = pd.concat([mine, market[[*KEYS, "ts", "score"]]])
        by_tf = {tf: frame[["ts", "score"]] for tf, frame in scores.groupby("timeframe")}
        for tf, frame in market.groupby("timeframe"):
            higher = {
                t: f for t, f in by_tf.items() if timeframe_seconds(t) > timeframe_seconds(tf)
            }
            aligned = confluence({tf: frame, **higher})
            out.append(frame.merge(aligned[["ts", "confluence", "aligned"]], on="ts", how="left"))
    return pd.concat(out, ignore_index=True)


def _higher_needs(plan, series):
    """Per higher series of a recomputed one, the stored scores its confluence reads: from
    the last bar that closed by the first recomputed bar's close (the bar before
    ``recompute_from``), until the higher series' own recomputed bars (``until``)."""
    from trading_core.timeframes import timeframe_seconds

    points = plan.set_index(KEYS)["recompute_from"]
    needs = {}
    for row in plan.itertuples(index=False):
        step = timeframe_seconds(row.timeframe)
        market = series[(series["exchange"] == row.exchange) & (series["symbol"] == row.symbol)]
        for higher in market["timeframe"]:
            span = timeframe_seconds(higher)
            if span <= step:
                continue
            key = (row.exchange, row.symbol, higher)
            closed_by = row.recompute_from + pd.Timedelta(seconds=step - span, microseconds=1)
            own = points.get(key, closed_by)
            needs[key] = min(needs.get(key, closed_by), closed_by, own)
    rows = [(*key, anchor, points.get(key, pd.NaT)) for key, anchor in needs.items()]
    frame = pd.DataFrame(rows, columns=[*KEYS, "recompute_from", "until"])
    return frame.astype({"recompute_from": "datetime64[us]", "until": "datetime64[us]"})

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
    recipe = inc.code_version(signals, json.dumps([weights, thresholds], sort_keys=True))
    inputs = dbt.ref("int_signal_inputs")
    registry = f"{dbt.this.schema}.fct_signals__series"
    if not dbt.is_incremental:
        scored = _score(inputs.df(), weights, thresholds, signals.composite)
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
    plan = _confluence_plan(session, this, marks, series)
    fresh = inc.read_rows(session, upstream, ["*"], plan, since="recompute_from")
    scored = _score(fresh, weights, thresholds, signals.composite)
    return inc.tail(_with_stored_confluence(session, this, scored, plan, series), plan)


def _score(inputs, weights, thresholds, composite):
    scored = []
    for _, series in inputs.groupby(KEYS, sort=True):
        series = series.sort_values("ts").reset_index(drop=True)
        signal = composite(series, weights=weights, **thresholds)
        scored.append(pd.concat([series, signal], axis=1))
    if not scored:
        return inputs.iloc[0:0].assign(score=0.0, confidence=0.0, action="", reasons="")
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
